// Package netns builds a two-host test network inside Linux network
// namespaces: namespaces A and B joined by a veth pair whose both ends are
// shaped with tc netem (rate and delay), so that real kernel TCP crosses an
// emulated link. It is for tests that want the kernel's congestion control
// rather than the user-space emulation of package link.
//
// Setup needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the ip and tc
// commands; Available reports why it cannot run, so tests skip with a clear
// message. Shaping uses the netem qdisc (rate, delay, loss) when the kernel
// has it, and otherwise falls back to a token bucket (tbf) for the rate
// alone: Pair.Shaper says which ran, and Pair.Delayed whether Delay and
// Loss were applied (a kernel without netem has no qdisc that delays).
// Tests that need the delay check Delayed:
//
//	pair, err := netns.Setup(ctx, netns.Config{Rate: "10mbit", Delay: 20 * time.Millisecond})
//	if errors.Is(err, netns.ErrUnavailable) {
//		t.Skip(err)
//	}
//	defer pair.Close()
//	var ln net.Listener
//	pair.InA(func() error { ln, err = net.Listen("tcp", pair.AddrA+":0"); return err })
//	var c net.Conn
//	pair.InB(func() error { c, err = net.Dial("tcp", ln.Addr().String()); return err })
//
// Addresses come from 198.18.0.0/15 (RFC 2544's benchmarking range) and
// exist only inside the two namespaces; nothing is routed outside them.
// Close deletes both namespaces, which removes the veth pair and its qdiscs.
package netns

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrUnavailable is wrapped by Setup when this machine cannot build the
// network (not Linux, not root, ip/tc missing, or the kernel refuses).
var ErrUnavailable = errors.New("netns: network namespaces unavailable")

// Config shapes the veth link; each direction gets the same shaping.
type Config struct {
	// Rate is a tc rate, e.g. "10mbit"; empty means unshaped.
	Rate string
	// Delay is the one-way delay added on each end (RTT = 2 × Delay).
	Delay time.Duration
	// Loss is a netem loss percentage, e.g. 0.5 for 0.5 %.
	Loss float64
}

// Pair is two namespaces joined by a veth pair.
type Pair struct {
	// NameA and NameB are the namespaces' names (as ip netns lists them).
	NameA, NameB string
	// AddrA and AddrB are the veth ends' IPv4 addresses.
	AddrA, AddrB string
	// DevA and DevB are the veth ends' interface names.
	DevA, DevB string
	// Shaper is the qdisc that shapes both ends: "netem", "tbf" (netem
	// is missing: rate only), or "" (unshaped).
	Shaper string
	// Delayed reports that Config.Delay and Config.Loss were applied
	// (netem ran, or none was asked for).
	Delayed bool
}

// netem returns the tc netem arguments for c.
func (c Config) netem() []string {
	var args []string
	if c.Rate != "" {
		args = append(args, "rate", c.Rate)
	}
	if c.Delay > 0 {
		args = append(args, "delay", strconv.FormatInt(c.Delay.Microseconds(), 10)+"us")
	}
	if c.Loss > 0 {
		args = append(args, "loss", strconv.FormatFloat(c.Loss, 'f', -1, 64)+"%")
	}
	return args
}

// tbf returns the tc tbf arguments that shape c.Rate without netem: a
// bucket of 5 ms of traffic (at least 4 KiB, two full frames and then
// some) and a queue of up to 100 ms before drops.
func (c Config) tbf() ([]string, error) {
	bps, err := parseRate(c.Rate)
	if err != nil {
		return nil, err
	}
	burst := max(int64(bps/8*0.005), 4096)
	return []string{"rate", c.Rate, "burst", strconv.FormatInt(burst, 10), "latency", "100ms"}, nil
}

// parseRate reads a tc rate ("10mbit", "500kbit", "1gbit", "2mbps" for
// bytes, a bare number for bits) as bits per second.
func parseRate(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	v, err := strconv.ParseFloat(t[:i], 64)
	if err != nil || !(v > 0) {
		return 0, fmt.Errorf("netns: rate %q: want a positive number and a unit such as 10mbit", s)
	}
	units := map[string]float64{"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
		"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12}
	f, ok := units[t[i:]]
	if !ok {
		return 0, fmt.Errorf("netns: rate %q: unknown unit %q (bit, kbit, mbit, gbit, bps, kbps, mbps, gbps)", s, t[i:])
	}
	return v * f, nil
}
