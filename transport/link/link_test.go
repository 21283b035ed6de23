package link

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// sink accepts one connection on loopback, reads n bytes and answers with
// one byte; it returns the listener's address.
func sink(t *testing.T, ln net.Listener, n int) {
	t.Helper()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
			return
		}
		c.Write([]byte{1})
	}()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// send writes n bytes through c and waits for the one-byte answer.
func send(t *testing.T, c net.Conn, n int) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func between(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s took %v, want between %v and %v", what, d, lo, hi)
	} else {
		t.Logf("%s took %v", what, d)
	}
}

// 1 MB at 8 Mbit/s is one second.
func TestBandwidth(t *testing.T) {
	ln := listen(t)
	const n = 1_000_000
	sink(t, ln, n)
	l := New(Profile{Up: 8 * Mbps})
	c, err := l.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	between(t, "1 MB at 8 Mbit/s", send(t, c, n), 700*time.Millisecond, 2*time.Second)
	if s := l.Stats(); s.BytesUp != n || s.BytesDown != 1 {
		t.Errorf("stats %+v", s)
	}
}

// The listener side paces what the server reads: 250 kB at 8 Mbit/s is a
// quarter second.
func TestListenerDownlink(t *testing.T) {
	l := New(Profile{Down: 8 * Mbps})
	ln := l.Listener(listen(t))
	const n = 250_000
	sink(t, ln, n)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	between(t, "250 kB read at 8 Mbit/s", send(t, c, n), 175*time.Millisecond, 700*time.Millisecond)
}

// echo serves ping-pongs on one connection.
func echo(ln net.Listener) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
}

func pingPong(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte{7}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// A small exchange costs one RTT; dialing costs one more.
func TestRTT(t *testing.T) {
	ln := listen(t)
	echo(ln)
	l := New(Symmetric(0, 60*time.Millisecond))
	start := time.Now()
	c, err := l.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	between(t, "dial", time.Since(start), 55*time.Millisecond, 400*time.Millisecond)
	for range 2 {
		between(t, "ping", pingPong(t, c), 55*time.Millisecond, 400*time.Millisecond)
	}
}

// With every packet lost, each direction costs the retransmission delay.
func TestLossIsDelay(t *testing.T) {
	ln := listen(t)
	echo(ln)
	l := New(Profile{Loss: 1, RetransmitDelay: 40 * time.Millisecond})
	c, err := l.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	between(t, "lossy ping", pingPong(t, c), 75*time.Millisecond, 400*time.Millisecond)
	if l.Stats().Losses < 2 {
		t.Errorf("losses %d", l.Stats().Losses)
	}
}

// Jitter never reorders or corrupts the stream.
func TestJitterKeepsOrder(t *testing.T) {
	ln := listen(t)
	echo(ln)
	l := New(Profile{RTT: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Up: 50 * Mbps})
	l.Seed(3)
	c, err := l.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 200_000)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	errc := make(chan error, 1)
	go func() {
		// Many small writes: many chunks, each with its own jitter.
		for p := msg; len(p) > 0; p = p[min(len(p), 1000):] {
			if _, err := c.Write(p[:min(len(p), 1000)]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("stream corrupted or reordered")
	}
}

// Another goroutine lifts the limit mid-transfer; the transfer speeds up.
func TestSetAtRunTime(t *testing.T) {
	ln := listen(t)
	const n = 200_000 // 1.6 s at 1 Mbit/s
	sink(t, ln, n)
	l := New(Profile{Up: 1 * Mbps})
	c, err := l.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(100 * time.Millisecond)
		if err := l.Set(Profile{Up: 1 * Gbps}); err != nil {
			t.Error(err)
		}
	})
	between(t, "200 kB, 1 Mbit/s then 1 Gbit/s", send(t, c, n), 90*time.Millisecond, 800*time.Millisecond)
	wg.Wait()
}

// A schedule drops the rate after its first step.
func TestSchedule(t *testing.T) {
	s := Schedule{Steps: []Step{
		{For: 10 * time.Second, Profile: Symmetric(100*Mbps, 0)},
		{Profile: Symmetric(2*Mbps, 0)},
	}}
	for _, tc := range []struct {
		at   time.Duration
		want Bitrate
	}{{0, 100 * Mbps}, {9 * time.Second, 100 * Mbps}, {10 * time.Second, 2 * Mbps}, {time.Hour, 2 * Mbps}} {
		if got := s.At(tc.at).Up; got != tc.want {
			t.Errorf("At(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	s.Loop = true
	s.Steps[1].For = 5 * time.Second
	if got := s.At(16 * time.Second).Up; got != 100*Mbps {
		t.Errorf("looped At(16s) = %v", got)
	}
	if got := (Schedule{}).At(time.Second); got != (Profile{}) {
		t.Errorf("empty schedule gives %v", got)
	}

	// Live: unlimited for 150 ms, then 1 Mbit/s.
	ln := listen(t)
	const n = 25_000 // 0.2 s at 1 Mbit/s
	sink(t, ln, n)
	l := New(Profile{})
	if err := l.Play(Schedule{Steps: []Step{{For: 150 * time.Millisecond}, {Profile: Symmetric(1*Mbps, 0)}}}); err != nil {
		t.Fatal(err)
	}
	if l.Profile().Up != 0 {
		t.Fatalf("profile at start %v", l.Profile())
	}
	time.Sleep(160 * time.Millisecond)
	if l.Profile().Up != 1*Mbps {
		t.Fatalf("profile after first step %v", l.Profile())
	}
	c, err := l.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	between(t, "25 kB after the drop to 1 Mbit/s", send(t, c, n), 140*time.Millisecond, 800*time.Millisecond)
}

func TestValidate(t *testing.T) {
	bad := []Profile{{Up: -1}, {Down: 10}, {RTT: -1}, {Loss: 1.5}, {Jitter: -time.Second}}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
		if New(Profile{}).Set(p) == nil {
			t.Errorf("Set(%+v) accepted", p)
		}
	}
	if err := (Schedule{Steps: []Step{{For: -1}}}).Validate(); err == nil {
		t.Error("negative step accepted")
	}
	if (Profile{Up: 3 * Mbps}).Reversed().Down != 3*Mbps {
		t.Error("Reversed")
	}
	if s := Symmetric(2*Mbps, 10*time.Millisecond).String(); s != "up 2Mbit/s down 2Mbit/s rtt 10ms" {
		t.Errorf("String() = %q", s)
	}
}

func TestDeadlinesAndClose(t *testing.T) {
	ln := listen(t)
	echo(ln)
	l := New(Profile{RTT: 20 * time.Millisecond, Up: 1 * Mbps})
	c, err := l.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Read deadline in the past: immediate timeout.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	var b [1]byte
	if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	var ne net.Error
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Read(b[:]); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read with deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	// Write deadline cuts a long paced write short.
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	n, err := c.Write(make([]byte, 1_000_000)) // 8 s at 1 Mbit/s
	if !errors.Is(err, os.ErrDeadlineExceeded) || n >= 1_000_000 || time.Since(start) > time.Second {
		t.Fatalf("write with deadline: n=%d err=%v after %v", n, err, time.Since(start))
	}
	c.SetWriteDeadline(time.Time{})
	// A blocked Read returns on Close (drain the echo of the partial
	// write first).
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	io.Copy(io.Discard, c)
	c.SetReadDeadline(time.Time{})
	done := make(chan error)
	go func() {
		_, err := c.Read(make([]byte, 100))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after close: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Read did not return after Close")
	}
	if _, err := c.Write([]byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// The peer's EOF reaches Read after the data sent before it.
func TestEOFAfterData(t *testing.T) {
	ln := listen(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("hello"))
		c.Close()
	}()
	l := New(Profile{RTT: 20 * time.Millisecond})
	c, err := l.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
}
