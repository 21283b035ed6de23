//go:build !unix

package testenv

import "time"

// ProcessCPU is unavailable here: it returns 0, and per-CPU-second
// benchmark figures are not reported.
func ProcessCPU() time.Duration { return 0 }
