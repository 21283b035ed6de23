package link

import (
	"context"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Link is an emulated network path shared by the connections wrapped with
// it: their bytes share its bandwidth, as flows share a real bottleneck. Its
// profile can be replaced, or driven by a schedule, at any time from any
// goroutine; the change applies to the next chunk written or read.
type Link struct {
	mu       sync.Mutex
	base     Profile
	sched    *Schedule
	start    time.Time
	rng      *rand.Rand
	up, down pacer

	bytesUp, bytesDown, losses atomic.Int64
}

// New returns a link with profile p. It panics if p is invalid (see
// Profile.Validate); use Set to check a profile that comes from outside.
func New(p Profile) *Link {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return &Link{base: p, rng: rand.New(rand.NewPCG(1, 2))}
}

// Seed makes jitter and loss reproducible.
func (l *Link) Seed(seed uint64) {
	l.mu.Lock()
	l.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	l.mu.Unlock()
}

// Set replaces the profile now and cancels any schedule.
func (l *Link) Set(p Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	l.base, l.sched = p, nil
	l.mu.Unlock()
	return nil
}

// Play starts a schedule now; it replaces the profile and any schedule.
func (l *Link) Play(s Schedule) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.Steps = append([]Step(nil), s.Steps...)
	l.mu.Lock()
	l.sched, l.start = &s, time.Now()
	l.mu.Unlock()
	return nil
}

// Profile returns the profile in force now.
func (l *Link) Profile() Profile {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.profileLocked(time.Now())
}

func (l *Link) profileLocked(now time.Time) Profile {
	if l.sched != nil && len(l.sched.Steps) > 0 {
		return l.sched.At(now.Sub(l.start))
	}
	return l.base
}

// Stats are the totals a link has carried.
type Stats struct {
	BytesUp, BytesDown int64
	// Losses counts chunks delayed by an emulated retransmission.
	Losses int64
}

// Stats returns the totals so far.
func (l *Link) Stats() Stats {
	return Stats{BytesUp: l.bytesUp.Load(), BytesDown: l.bytesDown.Load(), Losses: l.losses.Load()}
}

// packetPayload is the TCP payload of one packet on a 1500-byte MTU path.
const packetPayload = 1448

// schedule books n bytes in one direction: it returns when they have been
// serialised at the link's rate (done) and when they reach the other end
// (arrive, before in-order correction).
func (l *Link) schedule(dir int, n int) (done, arrive time.Time) {
	now := time.Now()
	l.mu.Lock()
	p := l.profileLocked(now)
	rate, pc := p.Up, &l.up
	if dir == down {
		rate, pc = p.Down, &l.down
	}
	done = pc.reserve(now, n, rate)
	delay := p.RTT / 2
	if p.Jitter > 0 {
		delay += time.Duration((2*l.rng.Float64() - 1) * float64(p.Jitter))
		delay = max(delay, 0)
	}
	if p.Loss > 0 {
		packets := (n + packetPayload - 1) / packetPayload
		if l.rng.Float64() < 1-math.Pow(1-p.Loss, float64(packets)) {
			delay += p.retransmitDelay()
			l.losses.Add(1)
		}
	}
	l.mu.Unlock()
	if dir == up {
		l.bytesUp.Add(int64(n))
	} else {
		l.bytesDown.Add(int64(n))
	}
	return done, done.Add(delay)
}

// chunkSize is how many bytes are booked at once: about 4 ms of the current
// rate, between one packet and 64 KiB, so that pacing is smooth at low rates
// and cheap at high ones.
func (l *Link) chunkSize(dir int) int {
	p := l.Profile()
	rate := p.Up
	if dir == down {
		rate = p.Down
	}
	if rate == 0 {
		return 64 << 10
	}
	n := int(rate.bytesPerSecond() * 0.004)
	return min(max(n, packetPayload), 64<<10)
}

const (
	up = iota
	down
)

// pacer serialises bytes at the link's rate on a virtual clock: free is
// when the link will have sent everything booked so far. An idle link sends
// the next chunk at once but still takes its serialisation time, as a real
// link does (there is no token bucket credit to bank).
type pacer struct {
	free time.Time
}

func (pc *pacer) reserve(now time.Time, n int, rate Bitrate) time.Time {
	if rate <= 0 {
		return now
	}
	start := pc.free
	if start.Before(now) {
		start = now
	}
	pc.free = start.Add(time.Duration(float64(n) / rate.bytesPerSecond() * float64(time.Second)))
	return pc.free
}

// lead is how far ahead of the virtual clock a writer (or the receiver
// goroutine) may run. Arrival times come from the virtual clock, so running
// ahead changes no timing; it only keeps late timer wake-ups on a loaded
// machine from stretching the link.
const lead = 25 * time.Millisecond

// Conn wraps c so that its traffic crosses the link: writes are paced at
// Up and delayed, reads paced at Down and delayed.
func (l *Link) Conn(c net.Conn) net.Conn { return newConn(l, c) }

// Listener wraps ln so that every accepted connection crosses the link.
// Profiles are seen from the wrapped endpoint, so a server wraps its
// listener with the client's profile Reversed.
func (l *Link) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

// Dial connects over TCP and wraps the connection; it waits one RTT, the
// time of TCP's handshake over the link. Its signature fits
// grpc.WithContextDialer.
func (l *Link) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if rtt := l.Profile().RTT; rtt > 0 {
		t := time.NewTimer(rtt)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			c.Close()
			return nil, ctx.Err()
		}
	}
	return l.Conn(c), nil
}

type listener struct {
	net.Listener
	l *Link
}

func (ln *listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return ln.l.Conn(c), nil
}
