package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkIm2col times the block-wise unfolding that feeds
// gemm.SgemmPackedASource (blocks of at most 384 columns), from the
// planes and from zero-padded copies (padding included).
func BenchmarkIm2col(b *testing.B) {
	for _, cs := range []struct{ c, h, k, s, p int }{{16, 55, 3, 1, 1}, {64, 13, 3, 1, 1}, {3, 224, 3, 2, 1}} {
		oh := (cs.h+2*cs.p-cs.k)/cs.s + 1
		d := conv2d{h: cs.h, w: cs.h, oh: oh, ow: oh, kh: cs.k, kw: cs.k, sh: cs.s, sw: cs.s, dh: 1, dw: 1, ph: cs.p, pw: cs.p}
		rng := rand.New(rand.NewPCG(1, 1))
		x := make([]float32, cs.c*cs.h*cs.h)
		for i := range x {
			x[i] = rng.Float32()
		}
		kdim := cs.c * cs.k * cs.k
		n := oh * oh
		const nc = 384
		buf := make([]float32, 384*nc)
		pd := newPadded(&d)
		xp := make([]float32, cs.c*pd.hp*pd.wp)
		for _, padFirst := range []bool{false, true} {
			b.Run(fmt.Sprintf("c%d_h%d_k%d_s%d/padded=%v", cs.c, cs.h, cs.k, cs.s, padFirst), func(b *testing.B) {
				b.SetBytes(int64(kdim * n * 4))
				for i := 0; i < b.N; i++ {
					if padFirst {
						pd.pad(x, xp, 0, cs.c)
					}
					for j0 := 0; j0 < n; j0 += nc {
						w := min(nc, n-j0)
						for p0 := 0; p0 < kdim; p0 += 384 {
							kb := min(384, kdim-p0)
							if padFirst {
								pd.im2col(xp, p0, p0+kb, j0, j0+w, buf, w)
							} else {
								im2col2d(x, &d, p0, p0+kb, j0, j0+w, buf, w)
							}
						}
					}
				}
			})
		}
	}
}
