//go:build !noasm

package nn

// affineClampAVX512 sets y[i] = min(max(x[i]·a + b, lo), hi) for i < n
// (affine512_amd64.s; NaN propagates).
//
//go:noescape
func affineClampAVX512(y, x *float32, n int, a, b, lo, hi float32)

// affineClamp sets y[i] = min(max(x[i]·a + b, lo), hi) (len(x) ≥ len(y);
// y may be x).
func affineClamp(y, x []float32, a, b, lo, hi float32) {
	if hasAVX512 && len(y) > 0 {
		_ = x[len(y)-1]
		affineClampAVX512(&y[0], &x[0], len(y), a, b, lo, hi)
		return
	}
	affineClampGo(y, x, a, b, lo, hi)
}
