package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/kernels"
)

// refGemm is the definition: Σ (a − za)(b − zb), accumulated in int64 and
// wrapped to int32 like the ONNX reference's int32 arithmetic.
func refGemm[TA, TB int8 | uint8](m, n, k int, a []TA, aZero []int32, b []TB, trans bool, bZero []int32) []int32 {
	c := make([]int32, m*n)
	for i := 0; i < m; i++ {
		za := int64(0)
		if len(aZero) == 1 {
			za = int64(aZero[0])
		} else if len(aZero) > 1 {
			za = int64(aZero[i])
		}
		for j := 0; j < n; j++ {
			zb := int64(0)
			if len(bZero) == 1 {
				zb = int64(bZero[0])
			} else if len(bZero) > 1 {
				zb = int64(bZero[j])
			}
			var s int64
			for p := 0; p < k; p++ {
				bv := b[p*n+j]
				if trans {
					bv = b[j*k+p]
				}
				s += (int64(a[i*k+p]) - za) * (int64(bv) - zb)
			}
			c[i*n+j] = int32(s)
		}
	}
	return c
}

func randSlice[T int8 | uint8](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.IntN(256))
	}
	return s
}

func randZero(r *rand.Rand, n int, signed bool) []int32 {
	z := make([]int32, n)
	for i := range z {
		z[i] = int32(r.IntN(256))
		if signed {
			z[i] -= 128
		}
	}
	return z
}

func checkGemm[TA, TB int8 | uint8](t *testing.T, r *rand.Rand, ctx *kernels.Ctx, m, n, k int, trans bool, perRow, perCol bool) {
	t.Helper()
	a := randSlice[TA](r, m*k)
	b := randSlice[TB](r, k*n)
	aZero := randZero(r, 1, isSigned[TA]())
	if perRow {
		aZero = randZero(r, m, isSigned[TA]())
	}
	bZero := randZero(r, 1, isSigned[TB]())
	if perCol {
		bZero = randZero(r, n, isSigned[TB]())
	}
	ldb := n
	if trans {
		ldb = k
	}
	pb, err := PackB(k, n, b, ldb, trans, bZero)
	if err != nil {
		t.Fatal(err)
	}
	// C has a wider stride than N, with guard values that must survive.
	ldc := n + 3
	c := make([]int32, m*ldc)
	for i := range c {
		c[i] = -7777
	}
	switch av := any(a).(type) {
	case []uint8:
		GemmU8(ctx, m, av, k, aZero, pb, c, ldc)
	case []int8:
		GemmS8(ctx, m, av, k, aZero, pb, c, ldc)
	}
	want := refGemm(m, n, k, a, aZero, b, trans, bZero)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= n {
				if got != -7777 {
					t.Fatalf("%dx%dx%d: guard C[%d,%d] overwritten with %d", m, n, k, i, j, got)
				}
				continue
			}
			if got != want[i*n+j] {
				t.Fatalf("%T×%T %dx%dx%d trans=%v perRow=%v perCol=%v: C[%d,%d] = %d, want %d",
					a, b, m, n, k, trans, perRow, perCol, i, j, got, want[i*n+j])
			}
		}
	}
}

func TestGemmMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pool := kernels.NewPool(2)
	defer pool.Close()
	par := &kernels.Ctx{Pool: pool}
	sizes := []struct{ m, n, k int }{
		{1, 1, 1}, {1, 4, 3}, {2, 3, 5}, {3, 5, 7}, {4, 4, 4}, {5, 9, 16},
		{7, 13, 33}, {17, 6, 64}, {70, 33, 25}, {130, 70, 50}, {4, 1, 0},
	}
	for _, s := range sizes {
		for _, trans := range []bool{false, true} {
			for _, ctx := range []*kernels.Ctx{nil, par} {
				checkGemm[uint8, int8](t, r, ctx, s.m, s.n, s.k, trans, false, true)
				checkGemm[uint8, uint8](t, r, ctx, s.m, s.n, s.k, trans, true, false)
				checkGemm[int8, int8](t, r, ctx, s.m, s.n, s.k, trans, true, true)
				checkGemm[int8, uint8](t, r, ctx, s.m, s.n, s.k, trans, false, false)
			}
		}
	}
}

// TestGemmLongK crosses the 32-bit lane chunk boundary with extreme values,
// where an unchunked accumulation would carry between lanes.
func TestGemmLongK(t *testing.T) {
	const k = kChunk + 1000
	for _, m := range []int{1, 4, 5} {
		a := make([]uint8, m*k)
		b := make([]uint8, k*5)
		for i := range a {
			a[i] = 255
		}
		for i := range b {
			b[i] = 255
		}
		b[3] = 0 // break the symmetry a little
		pb, err := PackB(k, 5, b, 5, false, []int32{0})
		if err != nil {
			t.Fatal(err)
		}
		c := make([]int32, m*5)
		GemmU8(nil, m, a, k, []int32{0}, pb, c, 5)
		want := refGemm(m, 5, k, a, []int32{0}, b, false, []int32{0})
		for i := range c {
			if c[i] != want[i] {
				t.Fatalf("m=%d: C[%d] = %d, want %d", m, i, c[i], want[i])
			}
		}
	}
}

func TestPackBRejectsBadInput(t *testing.T) {
	b := make([]int8, 12)
	tests := []struct {
		name       string
		k, n, ldb  int
		zero       []int32
		shortSlice bool
	}{
		{"zero point out of int8 range", 3, 4, 4, []int32{200}, false},
		{"wrong zero point count", 3, 4, 4, []int32{0, 0}, false},
		{"slice too short", 4, 4, 4, nil, true},
		{"negative size", -1, 4, 4, nil, false},
	}
	for _, tt := range tests {
		if _, err := PackB(tt.k, tt.n, b, tt.ldb, false, tt.zero); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func BenchmarkGemmU8S8(bm *testing.B) {
	for _, s := range []struct{ m, n, k int }{{196, 64, 800}, {1, 512, 3136}, {784, 32, 25}} {
		r := rand.New(rand.NewPCG(1, 2))
		a := randSlice[uint8](r, s.m*s.k)
		b := randSlice[int8](r, s.k*s.n)
		pb, _ := PackB(s.k, s.n, b, s.n, false, []int32{0})
		c := make([]int32, s.m*s.n)
		bm.Run("", func(bm *testing.B) {
			for range bm.N {
				GemmU8(nil, s.m, a, s.k, []int32{3}, pb, c, s.n)
			}
			bm.ReportMetric(float64(s.m*s.n*s.k)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
