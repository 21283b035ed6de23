//go:build noasm || !amd64

package nn

// gatherS2 sets dst[i] = src[2i] for i < len(dst).
func gatherS2(dst, src []float32) { gatherS2Go(dst, src) }
