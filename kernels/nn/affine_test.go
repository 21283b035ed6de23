package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAffineClamp compares the vector affine-and-clamp loop (AVX-512
// where the CPU has it) with the portable one at every length around the
// 16- and 64-float blocks, in place and not, with guard bands and NaNs.
func TestAffineClamp(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	inf := float32(math.Inf(1))
	const guard = 16
	for _, lohi := range [][2]float32{{-inf, inf}, {0, inf}, {0, 6}, {-1, 1}} {
		for n := 0; n <= 200; n++ {
			x := make([]float32, n+guard)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			if n > 3 {
				x[rng.IntN(n)] = float32(math.NaN())
			}
			a, b := float32(rng.NormFloat64()), float32(rng.NormFloat64())
			want := make([]float32, n)
			affineClampGo(want, x, a, b, lohi[0], lohi[1])
			got := make([]float32, n+2*guard)
			for i := range got {
				got[i] = 77
			}
			affineClamp(got[guard:guard+n], x, a, b, lohi[0], lohi[1])
			inPlace := append([]float32(nil), x[:n]...)
			affineClamp(inPlace, inPlace, a, b, lohi[0], lohi[1])
			for i := 0; i < guard; i++ {
				if got[i] != 77 || got[guard+n+i] != 77 {
					t.Fatalf("n %d: guard band overwritten", n)
				}
			}
			for i, w := range want {
				g, p := got[guard+i], inPlace[i]
				same := func(v float32) bool { return v == w || v != v && w != w }
				if !same(g) || !same(p) {
					t.Fatalf("n %d %v: y[%d] = %v (in place %v), want %v", n, lohi, i, g, p, w)
				}
			}
		}
	}
}
