//go:build noasm || !amd64

package nn

// hasPool8 is false: no byte max-pooling kernels on this build.
var hasPool8 = false

// maxTaps8 sets y[i] = max_{t<k} x[i + t·step] for int8 or uint8.
func maxTaps8[T int8 | uint8](y, x []T, k, step int) { maxTaps8Go(y, x, k, step) }

// maxTapsS28 sets y[i] = max_{t<k} x[2i + t] for int8 or uint8.
func maxTapsS28[T int8 | uint8](y, x []T, k int) { maxTapsS28Go(y, x, k) }

// maxTapsRows8 sets y[r·ldy + i] = max_{t<k} x[r·ldx + i + t·step].
func maxTapsRows8[T int8 | uint8](y, x []T, n, k, step, rows, ldy, ldx int) {
	maxTapsRows8Go(y, x, n, k, step, rows, ldy, ldx)
}

// maxTapsS2Rows8 sets y[r·ldy + i] = max_{t<k} x[r·ldx + 2i + t].
func maxTapsS2Rows8[T int8 | uint8](y, x []T, n, k, rows, ldy, ldx int) {
	maxTapsS2Rows8Go(y, x, n, k, rows, ldy, ldx)
}
