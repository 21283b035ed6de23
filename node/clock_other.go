//go:build !linux

package node

import "time"

// threadCPUTime is unavailable here: ClockCPU falls back to wall time.
func threadCPUTime() (time.Duration, bool) { return 0, false }
