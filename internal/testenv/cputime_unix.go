//go:build unix

package testenv

import (
	"syscall"
	"time"
)

// ProcessCPU returns the user+system CPU time of the process. Benchmarks
// report throughput per CPU-second beside per wall second: on a machine
// shared with other jobs, CPU time is disturbed far less than wall time.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
