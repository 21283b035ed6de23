package node

import (
	"context"
	"fmt"
	goruntime "runtime"
	"time"
)

// Compute clocks: what a node's slowdown factor multiplies.
const (
	// ClockWall multiplies the measured wall-clock compute time: right on
	// a dedicated machine, but on one shared with other jobs every
	// preemption during a run is multiplied by the slowdown factor too.
	ClockWall = "wall"
	// ClockCPU multiplies the CPU time of the thread that ran the piece
	// (Linux; single-threaded sessions, where the runtime computes on the
	// calling goroutine): load on the machine then stretches a run only
	// when it already takes longer than the emulated time. Elsewhere it
	// falls back to ClockWall.
	ClockCPU = "cpu"
)

func checkClock(c string) error {
	switch c {
	case "", ClockWall, ClockCPU:
		return nil
	}
	return fmt.Errorf("node: compute clock %q: want %s or %s", c, ClockWall, ClockCPU)
}

// timeCompute runs fn and returns its wall-clock time and the time the
// slowdown factor scales: the same wall time, or with clock ClockCPU (and
// a thread CPU clock available) the CPU time of fn's thread.
func timeCompute(clock string, fn func() error) (wall, base time.Duration, err error) {
	if clock != ClockCPU {
		t0 := time.Now()
		err = fn()
		wall = time.Since(t0)
		return wall, wall, err
	}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	c0, ok := threadCPUTime()
	t0 := time.Now()
	err = fn()
	wall = time.Since(t0)
	c1, ok1 := threadCPUTime()
	if !ok || !ok1 {
		return wall, wall, err
	}
	return wall, c1 - c0, err
}

// slowdown emulates a machine factor times slower: the piece's emulated
// compute time is base x factor, and the caller waits until that much
// time has passed since the piece started (wall of it already has; cut
// short if ctx ends). It returns the emulated time.
func slowdown(ctx context.Context, factor float64, base, wall time.Duration) time.Duration {
	if factor <= 1 {
		return wall // this machine's speed: nothing to emulate
	}
	emulated := time.Duration(float64(base) * factor)
	if extra := emulated - wall; extra > 0 {
		t := time.NewTimer(extra)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return max(emulated, wall)
}
