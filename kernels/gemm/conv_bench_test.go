package gemm

import (
	"math/rand/v2"
	"testing"
)

// im2colBlock writes rows p0..p0+kb-1, columns j0..j0+nc-1 of the im2col
// matrix of a 3×3, stride 1, pad 1 convolution over x[cin][h][w] into dst
// (row stride ld): row p = (ci, ky, kx), column j = output pixel (oy, ox).
func im2colBlock(x []float32, h, w int, dst []float32, ld, p0, kb, j0, nc int) {
	for p := p0; p < p0+kb; p++ {
		ci, ky, kx := p/9, p%9/3, p%3
		row := dst[(p-p0)*ld : (p-p0)*ld+nc]
		plane := x[ci*h*w : (ci+1)*h*w]
		// Walk the block's pixels one output row segment at a time.
		for j := j0; j < j0+nc; {
			oy, ox0 := j/w, j%w
			seg := min(w-ox0, j0+nc-j)
			out := row[j-j0 : j-j0+seg]
			iy := oy + ky - 1
			if iy < 0 || iy >= h {
				clear(out)
			} else {
				// ix = ox + kx - 1 must lie in [0, w).
				src := plane[iy*w : iy*w+w]
				lo := max(0, 1-kx-ox0)       // first valid index in out
				hi := min(seg, w-(kx-1)-ox0) // end of valid indices
				clear(out[:lo])
				copy(out[lo:hi], src[ox0+lo+kx-1:])
				clear(out[hi:])
			}
			j += seg
		}
	}
}

// BenchmarkConv3x3 times a 64→64 channel 3×3 conv on 56×56 with bias and
// ReLU, both with im2col materialised and with SgemmPackedASource (the
// im2col time is included in both).
func BenchmarkConv3x3(b *testing.B) {
	const cin, cout, h, w = 64, 64, 56, 56
	const k, n = cin * 9, h * w
	rng := rand.New(rand.NewPCG(1, 1))
	x := randSlice(rng, cin*h*w)
	pa := PackA(false, cout, k, randSlice(rng, cout*k), k)
	y := make([]float32, cout*n)
	opt := &Options{Epilogue: Epilogue{RowBias: randSlice(rng, cout), Act: ActReLU}}
	b.Run("im2col+PackedA", func(b *testing.B) {
		cols := make([]float32, k*n)
		timed(b, cout, n, k, func() {
			im2colBlock(x, h, w, cols, n, 0, k, 0, n)
			SgemmPackedA(cout, n, k, 1, pa, false, cols, n, 0, y, n, opt)
		})
	})
	b.Run("PackedASource", func(b *testing.B) {
		src := func(dst []float32, ld, p0, kb, j0, nc int) { im2colBlock(x, h, w, dst, ld, p0, kb, j0, nc) }
		timed(b, cout, n, k, func() {
			SgemmPackedASource(cout, n, k, 1, pa, src, 0, y, n, opt)
		})
	})
}
