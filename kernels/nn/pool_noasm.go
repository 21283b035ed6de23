//go:build noasm || !amd64

package nn

import "github.com/edgedl/edgedl/kernels"

// poolPlanesF32 and meanPlanesF32 are the AVX-512 pools over all planes,
// absent here.
func poolPlanesF32(d *conv2d, inv []float32) func(ctx *kernels.Ctx, x, y []float32, planes, grain int) {
	return nil
}

func meanPlanesF32(ctx *kernels.Ctx, x, y []float32, planes, n int) bool { return false }

// maxTaps sets y[i] = max_{t<k} x[i + t·step] (NaN if any tap is NaN).
func maxTaps(y, x []float32, k, step int) { maxTapsGo(y, x, k, step) }

// maxTapsS2 sets y[i] = max_{t<k} x[2i + t] (NaN if any tap is NaN); x
// must hold one float of slack past the last tap (len(x) ≥ 2·len(y)+k-1).
func maxTapsS2(y, x []float32, k int) { maxTapsS2Go(y, x, k) }

// sumTaps sets y[i] = Σ_{t<k} x[i + t·step].
func sumTaps(y, x []float32, k, step int) { sumTapsGo(y, x, k, step) }

// sumTapsS2 sets y[i] = Σ_{t<k} x[2i + t] (len(x) ≥ 2·len(y)+k-1).
func sumTapsS2(y, x []float32, k int) { sumTapsS2Go(y, x, k) }

// maxTapsRows sets y[r·ldy + i] = max_{t<k} x[r·ldx + i + t·step].
func maxTapsRows(y, x []float32, n, k, step, rows, ldy, ldx int) {
	for r := 0; r < rows; r++ {
		maxTaps(y[r*ldy:r*ldy+n], x[r*ldx:], k, step)
	}
}

// maxTapsS2Rows sets y[r·ldy + i] = max_{t<k} x[r·ldx + 2i + t].
func maxTapsS2Rows(y, x []float32, n, k, rows, ldy, ldx int) {
	for r := 0; r < rows; r++ {
		maxTapsS2(y[r*ldy:r*ldy+n], x[r*ldx:], k)
	}
}

// sumTapsRows sets y[r·ldy + i] = Σ_{t<k} x[r·ldx + i + t·step].
func sumTapsRows(y, x []float32, n, k, step, rows, ldy, ldx int) {
	for r := 0; r < rows; r++ {
		sumTaps(y[r*ldy:r*ldy+n], x[r*ldx:], k, step)
	}
}

// sumTapsS2Rows sets y[r·ldy + i] = Σ_{t<k} x[r·ldx + 2i + t].
func sumTapsS2Rows(y, x []float32, n, k, rows, ldy, ldx int) {
	for r := 0; r < rows; r++ {
		sumTapsS2(y[r*ldy:r*ldy+n], x[r*ldx:], k)
	}
}
