package testenv

import (
	"os"
	"strconv"
)

// Int returns the positive integer in environment variable name, or def
// when it is unset or not a positive integer (the knobs of long tests).
func Int(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Float is Int for a positive number.
func Float(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}
