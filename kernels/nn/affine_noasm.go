//go:build noasm || !amd64

package nn

// affineClamp sets y[i] = min(max(x[i]·a + b, lo), hi) (len(x) ≥ len(y);
// y may be x).
func affineClamp(y, x []float32, a, b, lo, hi float32) { affineClampGo(y, x, a, b, lo, hi) }
