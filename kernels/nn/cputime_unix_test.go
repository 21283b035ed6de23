//go:build unix

package nn

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time of the process: benchmarks
// report GFLOP/s per CPU-second too, which a loaded shared machine
// disturbs less than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
