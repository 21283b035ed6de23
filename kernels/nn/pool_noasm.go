//go:build noasm || !amd64

package nn

// maxTaps sets y[i] = max_{t<k} x[i + t·step] (NaN if any tap is NaN).
func maxTaps(y, x []float32, k, step int) { maxTapsGo(y, x, k, step) }

// maxTapsS2 sets y[i] = max_{t<k} x[2i + t] (NaN if any tap is NaN); x
// must hold one float of slack past the last tap (len(x) ≥ 2·len(y)+k-1).
func maxTapsS2(y, x []float32, k int) { maxTapsS2Go(y, x, k) }

// sumTaps sets y[i] = Σ_{t<k} x[i + t·step].
func sumTaps(y, x []float32, k, step int) { sumTapsGo(y, x, k, step) }

// sumTapsS2 sets y[i] = Σ_{t<k} x[2i + t] (len(x) ≥ 2·len(y)+k-1).
func sumTapsS2(y, x []float32, k int) { sumTapsS2Go(y, x, k) }
