package node

import (
	"context"
	goruntime "runtime"
	"testing"
	"time"
)

// The cpu clock counts the piece's own work, not time the thread spends
// off the CPU (here: asleep, as it would be when preempted by other load).
func TestComputeClocks(t *testing.T) {
	idle := func() error { time.Sleep(20 * time.Millisecond); return nil }
	wall, base, err := timeCompute(ClockWall, idle)
	if err != nil || base != wall || wall < 20*time.Millisecond {
		t.Errorf("wall clock: wall %v base %v err %v", wall, base, err)
	}
	wall, base, err = timeCompute(ClockCPU, idle)
	if err != nil || wall < 20*time.Millisecond {
		t.Fatalf("cpu clock: wall %v err %v", wall, err)
	}
	if _, ok := threadCPUTime(); ok && base > wall/2 {
		t.Errorf("cpu clock counted %v of a %v sleep as compute", base, wall)
	} else if !ok && base != wall {
		t.Errorf("no thread clock on %s: base %v, want the wall time %v", goruntime.GOOS, base, wall)
	}
	if err := checkClock("cycles"); err == nil {
		t.Error("unknown clock accepted")
	}
}

// slowdown waits out factor x base from the start of the piece and
// reports the emulated time; factor 1 reports the wall time unchanged.
func TestSlowdownEmulates(t *testing.T) {
	ctx := context.Background()
	if got := slowdown(ctx, 1, time.Millisecond, 3*time.Millisecond); got != 3*time.Millisecond {
		t.Errorf("factor 1: %v, want the wall time", got)
	}
	if got := slowdown(ctx, 4, 2*time.Millisecond, time.Millisecond); got != 8*time.Millisecond {
		t.Errorf("factor 4 of 2ms: %v, want 8ms", got)
	}
	// A run already longer than the emulated time is not shortened.
	if got := slowdown(ctx, 2, time.Millisecond, 5*time.Millisecond); got != 5*time.Millisecond {
		t.Errorf("emulated below wall: %v, want 5ms", got)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	start := time.Now()
	slowdown(cancelled, 1000, time.Second, 0)
	if time.Since(start) > 500*time.Millisecond {
		t.Error("slowdown ignored a cancelled context")
	}
}
