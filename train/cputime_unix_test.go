//go:build unix

package train

import (
	"syscall"
	"time"
)

// processCPU is the process's user+system CPU time: on a shared machine
// it is disturbed less than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
