package netns

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestPair shapes the veth link at 10 Mbit/s, 20 ms each way: with netem,
// or with tbf for the rate alone where the kernel lacks netem (the ping
// then crosses undelayed and is not checked).
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
	t.Logf("namespaces %s (%s) and %s (%s), shaper %q, delay applied: %v", pair.NameA, pair.AddrA, pair.NameB,
		pair.AddrB, pair.Shaper, pair.Delayed)
	if shaped && pair.Shaper == "" {
		t.Fatal("asked for 10mbit, got no shaper")
	}

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
	if !pair.Delayed {
		t.Logf("no netem here: the link is rate-limited by %s only; the ping (%v) is not checked", pair.Shaper, rtt)
	} else if rtt < 35*time.Millisecond || rtt > time.Second {
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

func TestConfigTBF(t *testing.T) {
	got, err := Config{Rate: "10mbit"}.tbf()
	if err != nil {
		t.Fatal(err)
	}
	// 10 Mbit/s for 5 ms is 6250 bytes.
	want := []string{"rate", "10mbit", "burst", "6250", "latency", "100ms"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("tbf args %v, want %v", got, want)
	}
	if got, _ := (Config{Rate: "1mbit"}).tbf(); got[3] != "4096" {
		t.Errorf("1mbit burst %s, want the 4096-byte floor", got[3])
	}
	for s, want := range map[string]float64{"10mbit": 10e6, "500kbit": 500e3, "1gbit": 1e9, "2mbps": 16e6, "1.5Mbit": 1.5e6, "9600": 9600} {
		if v, err := parseRate(s); err != nil || v != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", s, v, err, want)
		}
	}
	for _, s := range []string{"", "fast", "10furlongs", "-1mbit", "0kbit"} {
		if _, err := parseRate(s); err == nil {
			t.Errorf("parseRate(%q) succeeded", s)
		}
	}
	if _, err := Setup(t.Context(), Config{Rate: "10 parsecs"}); err == nil || errors.Is(err, ErrUnavailable) && Available() == nil {
		t.Errorf("Setup with a bad rate: %v", err)
	}
}
