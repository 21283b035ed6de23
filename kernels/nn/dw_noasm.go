//go:build noasm || !amd64

package nn

// dwRow3s1F32 is dwRow3s1 for float32 (portable build).
func dwRow3s1F32(x []float32, ld int, w *[9]float32, y []float32, bias, lo, hi float32) {
	dwRow3s1(x, ld, w, y, bias, lo, hi)
}

// dwRow3s2F32 is dwRow3s2 for float32 (portable build).
func dwRow3s2F32(x []float32, ld int, w *[9]float32, y []float32, bias, lo, hi float32) {
	dwRow3s2(x, ld, w, y, bias, lo, hi)
}
