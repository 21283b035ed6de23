package netns

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestPair shapes the veth link with netem: 10 Mbit/s, 20 ms each way.
func TestPair(t *testing.T) {
	testPair(t, Config{Rate: "10mbit", Delay: 20 * time.Millisecond}, true)
}

// TestPairUnshaped checks the namespaces, veth pair and InA/InB without
// netem (which some kernels lack).
func TestPairUnshaped(t *testing.T) {
	testPair(t, Config{}, false)
}

func testPair(t *testing.T, cfg Config, shaped bool) {
	if testing.Short() {
		t.Skip("netns: skipped in -short mode")
	}
	pair, err := Setup(t.Context(), cfg)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := pair.Close(); err != nil {
			t.Error(err)
		}
		if err := pair.Close(); err != nil { // idempotent
			t.Error(err)
		}
	}()
	t.Logf("namespaces %s (%s) and %s (%s)", pair.NameA, pair.AddrA, pair.NameB, pair.AddrB)

	var ln net.Listener
	if err := pair.InA(func() (err error) {
		ln, err = net.Listen("tcp", pair.AddrA+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 250_000
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var b [1]byte
		io.ReadFull(c, b[:])
		c.Write(b[:]) // ping
		io.CopyN(io.Discard, c, n)
		c.Write(b[:]) // done
	}()
	var c net.Conn
	if err := pair.InB(func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	start := time.Now()
	c.Write(b[:])
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	rtt := time.Since(start)
	start = time.Now()
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	bulk := time.Since(start)
	t.Logf("ping %v, 250 kB in %v", rtt, bulk)
	if !shaped {
		return
	}
	if rtt < 35*time.Millisecond || rtt > time.Second {
		t.Errorf("ping took %v across 2 x 20 ms", rtt)
	}
	if bulk < 180*time.Millisecond || bulk > 5*time.Second {
		t.Errorf("250 kB at 10 Mbit/s took %v", bulk)
	}
}

func TestCloseRemoves(t *testing.T) {
	if testing.Short() {
		t.Skip("netns: skipped in -short mode")
	}
	pair, err := Setup(t.Context(), Config{})
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := pair.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pair.InA(func() error { return nil }); err == nil {
		t.Error("namespace A still exists after Close")
	}
}

func TestConfigNetem(t *testing.T) {
	got := Config{Rate: "10mbit", Delay: 20 * time.Millisecond, Loss: 0.5}.netem()
	want := []string{"rate", "10mbit", "delay", "20000us", "loss", "0.5%"}
	if len(got) != len(want) {
		t.Fatalf("netem args %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("netem args %v, want %v", got, want)
		}
	}
}
