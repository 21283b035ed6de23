// Package netns builds a two-host test network inside Linux network
// namespaces: namespaces A and B joined by a veth pair whose both ends are
// shaped with tc netem (rate and delay), so that real kernel TCP crosses an
// emulated link. It is for tests that want the kernel's congestion control
// rather than the user-space emulation of package link.
//
// Setup needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), the ip and tc commands
// and the netem qdisc; Available reports why it cannot run, so tests skip
// with a clear message:
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
	"strconv"
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
