package link

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Bitrate is a rate in bits per second. Zero means unlimited.
type Bitrate float64

// Units of Bitrate.
const (
	Kbps Bitrate = 1e3
	Mbps Bitrate = 1e6
	Gbps Bitrate = 1e9
)

func (r Bitrate) String() string {
	switch {
	case r == 0:
		return "unlimited"
	case r >= Gbps:
		return fmt.Sprintf("%gGbit/s", float64(r/Gbps))
	case r >= Mbps:
		return fmt.Sprintf("%gMbit/s", float64(r/Mbps))
	case r >= Kbps:
		return fmt.Sprintf("%gkbit/s", float64(r/Kbps))
	}
	return fmt.Sprintf("%gbit/s", float64(r))
}

// bytesPerSecond converts to bytes per second (0 for unlimited).
func (r Bitrate) bytesPerSecond() float64 { return float64(r) / 8 }

// Profile describes a link as seen from the wrapped endpoint.
type Profile struct {
	// Up limits what the wrapped endpoint writes, Down what it reads.
	// Zero means unlimited.
	Up, Down Bitrate
	// RTT is the round-trip time the link adds: each direction is delayed
	// by RTT/2. Connection setup through Link.Dial also takes one RTT.
	RTT time.Duration
	// Jitter varies each chunk's one-way delay uniformly within ±Jitter
	// (never below zero). Data stays in order, as on TCP: a chunk never
	// arrives before the one written before it.
	Jitter time.Duration
	// Loss is the probability that a packet (1448 bytes of payload) is
	// lost. TCP underneath is reliable, so a loss shows up as delay: a
	// chunk that lost any of its packets arrives RetransmitDelay late, and
	// in-order delivery holds everything behind it (head-of-line blocking).
	Loss float64
	// RetransmitDelay is what one loss costs; zero means one RTT (a fast
	// retransmit), at least 1 ms. Use ~200 ms to model retransmission
	// timeouts.
	RetransmitDelay time.Duration
}

// Symmetric returns a profile with the same rate both ways.
func Symmetric(rate Bitrate, rtt time.Duration) Profile {
	return Profile{Up: rate, Down: rate, RTT: rtt}
}

// Reversed swaps Up and Down: the same link seen from the other end. Use it
// to wrap a server's listener with a profile written for the client.
func (p Profile) Reversed() Profile {
	p.Up, p.Down = p.Down, p.Up
	return p
}

// Validate reports a profile that cannot be emulated.
func (p Profile) Validate() error {
	bad := func(r Bitrate) bool { return r < 0 || math.IsNaN(float64(r)) || math.IsInf(float64(r), 0) }
	switch {
	case bad(p.Up) || bad(p.Down):
		return fmt.Errorf("link: rates must be finite and >= 0 (up %v, down %v)", float64(p.Up), float64(p.Down))
	case p.Up > 0 && p.Up < 100 || p.Down > 0 && p.Down < 100:
		return errors.New("link: rates below 100 bit/s are not emulated")
	case p.RTT < 0 || p.Jitter < 0 || p.RetransmitDelay < 0:
		return errors.New("link: negative delay")
	case !(p.Loss >= 0 && p.Loss <= 1):
		return fmt.Errorf("link: loss %v outside [0, 1]", p.Loss)
	}
	return nil
}

func (p Profile) String() string {
	s := fmt.Sprintf("up %v down %v rtt %v", p.Up, p.Down, p.RTT)
	if p.Jitter > 0 {
		s += fmt.Sprintf(" jitter %v", p.Jitter)
	}
	if p.Loss > 0 {
		s += fmt.Sprintf(" loss %g%%", 100*p.Loss)
	}
	return s
}

func (p Profile) retransmitDelay() time.Duration {
	if p.RetransmitDelay > 0 {
		return p.RetransmitDelay
	}
	return max(p.RTT, time.Millisecond)
}

// Step holds a profile for a while within a schedule.
type Step struct {
	// For is how long the step lasts; zero in the last step means forever.
	For     time.Duration
	Profile Profile
}

// Schedule is a sequence of steps, e.g. 100 Mbit/s for 10 s then 2 Mbit/s.
// After the last step ends its profile stays, unless Loop is set.
type Schedule struct {
	Steps []Step
	Loop  bool
}

// At returns the profile in force at elapsed time since the schedule
// started. It is a pure function of its arguments.
func (s Schedule) At(elapsed time.Duration) Profile {
	if len(s.Steps) == 0 {
		return Profile{}
	}
	var total time.Duration
	for _, st := range s.Steps {
		total += st.For
	}
	if s.Loop && total > 0 && elapsed >= total {
		elapsed %= total
	}
	for _, st := range s.Steps {
		if elapsed < st.For {
			return st.Profile
		}
		elapsed -= st.For
	}
	return s.Steps[len(s.Steps)-1].Profile
}

// Validate checks every step.
func (s Schedule) Validate() error {
	for i, st := range s.Steps {
		if st.For < 0 {
			return fmt.Errorf("link: schedule step %d: negative duration", i)
		}
		if err := st.Profile.Validate(); err != nil {
			return fmt.Errorf("link: schedule step %d: %w", i, err)
		}
	}
	return nil
}
