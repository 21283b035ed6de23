//go:build !noasm

package nn

// gatherS2AVX512 (in dw512_amd64.s) sets dst[i] = src[2i] for i < n,
// reading no further than src[2n-2]; tail holds the masks of the last
// partial block of 16 (see gatherS2).
//
//go:noescape
func gatherS2AVX512(dst, src *float32, n int, tail *[3]uint16)

// gatherS2 sets dst[i] = src[2i] for i < len(dst).
func gatherS2(dst, src []float32) {
	n := len(dst)
	if !hasAVX512 || n < 16 {
		gatherS2Go(dst, src)
		return
	}
	_ = src[2*n-2]
	r := n & 15 // outputs of the partial block; it reads 2r-1 inputs
	var tail [3]uint16
	if r > 0 {
		in := 2*r - 1
		tail[0] = uint16(1<<min(16, in) - 1)
		if in > 16 {
			tail[1] = uint16(1<<(in-16) - 1)
		}
		tail[2] = uint16(1<<r - 1)
	}
	gatherS2AVX512(&dst[0], &src[0], n, &tail)
}
