//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

var seq atomic.Int32

// Available reports nil when Setup can be tried here, or an error wrapping
// ErrUnavailable that says why not.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root", ErrUnavailable)
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found", ErrUnavailable, tool)
		}
	}
	return nil
}

func run(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Setup creates the namespaces, the veth pair, addresses and the shaping
// qdiscs: netem where the kernel has it, else tbf for the rate alone
// (Pair.Shaper, Pair.Delayed). On any failure it removes what it made;
// failures of the kernel or tools wrap ErrUnavailable, a bad Config.Rate
// does not.
func Setup(ctx context.Context, cfg Config) (*Pair, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, seq.Add(1)%100)
	n := int(seq.Load()) % 64 // /30 subnets within 198.18.0.0/24
	p := &Pair{
		NameA: "edgedl-" + id + "-a", NameB: "edgedl-" + id + "-b",
		DevA: "edl" + id + "a", DevB: "edl" + id + "b",
		AddrA: "198.18.0." + strconv.Itoa(4*n+1), AddrB: "198.18.0." + strconv.Itoa(4*n+2),
	}
	steps := [][]string{
		{"ip", "netns", "add", p.NameA},
		{"ip", "netns", "add", p.NameB},
		{"ip", "link", "add", p.DevA, "netns", p.NameA, "type", "veth", "peer", "name", p.DevB, "netns", p.NameB},
		{"ip", "-n", p.NameA, "addr", "add", p.AddrA + "/30", "dev", p.DevA},
		{"ip", "-n", p.NameB, "addr", "add", p.AddrB + "/30", "dev", p.DevB},
		{"ip", "-n", p.NameA, "link", "set", "lo", "up"},
		{"ip", "-n", p.NameB, "link", "set", "lo", "up"},
		{"ip", "-n", p.NameA, "link", "set", p.DevA, "up"},
		{"ip", "-n", p.NameB, "link", "set", p.DevB, "up"},
	}
	var tbf []string
	if cfg.Rate != "" {
		var err error
		if tbf, err = cfg.tbf(); err != nil {
			return nil, err // a caller's mistake, not the machine's
		}
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			p.Close()
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	p.Delayed = cfg.Delay <= 0 && cfg.Loss <= 0
	qdisc := func(kind string, args []string) error {
		for _, end := range [][2]string{{p.NameA, p.DevA}, {p.NameB, p.DevB}} {
			cmd := append([]string{"ip", "netns", "exec", end[0], "tc", "qdisc", "replace", "dev", end[1], "root", kind}, args...)
			if err := run(ctx, cmd...); err != nil {
				return err
			}
		}
		return nil
	}
	netem := cfg.netem()
	if len(netem) == 0 {
		return p, nil
	}
	err := qdisc("netem", netem)
	if err == nil {
		p.Shaper, p.Delayed = "netem", true
		return p, nil
	}
	if tbf == nil {
		// Only delay or loss was asked for, and only netem does that.
		p.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if terr := qdisc("tbf", tbf); terr != nil {
		p.Close()
		return nil, fmt.Errorf("%w: netem failed (%v), and so did tbf: %v", ErrUnavailable, err, terr)
	}
	p.Shaper = "tbf"
	return p, nil
}

// Close deletes both namespaces (and so the veth pair and qdiscs). It is
// safe to call more than once.
func (p *Pair) Close() error {
	var errs []error
	for _, name := range []string{p.NameA, p.NameB} {
		if _, err := os.Stat("/var/run/netns/" + name); err != nil {
			continue
		}
		if err := run(context.Background(), "ip", "netns", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// InA runs fn with the calling goroutine's thread inside namespace A.
// Sockets fn creates (listeners, connections) stay in A after it returns;
// goroutines fn starts do not run in A.
func (p *Pair) InA(fn func() error) error { return in(p.NameA, fn) }

// InB is InA for namespace B.
func (p *Pair) InB(fn func() error) error { return in(p.NameB, fn) }

// Command returns a command that runs inside the named namespace.
func (p *Pair) Command(ctx context.Context, ns string, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func in(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: entering %s: %w", name, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the wrong namespace: let it die with the
		// goroutine instead of returning it to the scheduler.
		runtime.Goexit()
	}
	return ferr
}
