package main

import "time"

var start = time.Now()

// nowNano is a monotonic clock reading in nanoseconds.
func nowNano() int64 { return int64(time.Since(start)) }
