//go:build noasm || !amd64

package nn

// hasPool8 is false: no byte max-pooling kernels on this build.
var hasPool8 = false

// maxTaps8 sets y[i] = max_{t<k} x[i + t·step] for int8 or uint8.
func maxTaps8[T int8 | uint8](y, x []T, k, step int) { maxTaps8Go(y, x, k, step) }

// maxTapsS28 sets y[i] = max_{t<k} x[2i + t] for int8 or uint8.
func maxTapsS28[T int8 | uint8](y, x []T, k int) { maxTapsS28Go(y, x, k) }
