package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// TestMaxTaps compares the vector max and sum kernels with the portable
// loops at every length around the 8- and 16-wide blocks, with NaNs and
// guard bands.
func TestMaxTaps(t *testing.T) {
	// the AVX-512 kernels where the CPU has them, then the AVX2 ones
	defer func(v bool) { hasAVX512 = v }(hasAVX512)
	for _, wide := range []bool{hasAVX512, false} {
		hasAVX512 = wide
		testTaps(t, true)
		testTaps(t, false)
	}
}

// testTaps compares maxTaps/maxTapsS2 (or the sums) with the loops.
func testTaps(t *testing.T, isMax bool) {
	rng := rand.New(rand.NewPCG(5, 6))
	const guard = 8
	for _, s2 := range []bool{false, true} {
		for k := 1; k <= 4; k++ {
			for n := 0; n <= 41; n++ {
				step := 1
				if !s2 {
					step = 1 + rng.IntN(n+3)
				}
				x := make([]float32, 2*n+(k-1)*step+2)
				for i := range x {
					x[i] = rng.Float32()*4 - 2
				}
				if n > 4 {
					x[rng.IntN(len(x))] = float32(math.NaN())
				}
				got := make([]float32, n+2*guard)
				for i := range got {
					got[i] = 12345
				}
				want := make([]float32, n)
				switch {
				case s2 && isMax:
					maxTapsS2(got[guard:guard+n], x, k)
					maxTapsS2Go(want, x, k)
				case isMax:
					maxTaps(got[guard:guard+n], x, k, step)
					maxTapsGo(want, x, k, step)
				case s2:
					sumTapsS2(got[guard:guard+n], x, k)
					sumTapsS2Go(want, x, k)
				default:
					sumTaps(got[guard:guard+n], x, k, step)
					sumTapsGo(want, x, k, step)
				}
				for i := 0; i < guard; i++ {
					if got[i] != 12345 || got[guard+n+i] != 12345 {
						t.Fatalf("s2 %v k %d n %d: guard band overwritten", s2, k, n)
					}
				}
				for i, v := range want {
					if g := got[guard+i]; math.Abs(float64(g-v)) > 1e-5 && !(g != g && v != v) {
						t.Fatalf("max %v avx512 %v s2 %v k %d n %d step %d: y[%d] = %v, want %v",
							isMax, hasAVX512, s2, k, n, step, i, g, v)
					}
				}
			}
		}
	}
}

// TestMaxPoolVector compares the float32 vector MaxPool and AveragePool
// with the scalar windows (maxPool2dFast, avgPool2d) over kernels, strides, pads, dilations and ceil
// overhangs, on planes with NaNs.
func TestMaxPoolVector(t *testing.T) {
	defer func(v bool) { hasAVX512 = v }(hasAVX512)
	for _, wide := range []bool{hasAVX512, false} {
		hasAVX512 = wide
		testPoolVector(t)
	}
}

func testPoolVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for iter := 0; iter < 1500; iter++ {
		kh, kw := 1+rng.IntN(4), 1+rng.IntN(4)
		d := conv2d{h: kh + rng.IntN(20), w: kw + rng.IntN(40), kh: kh, kw: kw,
			sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(2), dh: 1, dw: 1}
		if rng.IntN(4) == 0 {
			d.dh = 2
		}
		if d.sw == 1 && rng.IntN(4) == 0 {
			d.dw = 2
		}
		d.ph, d.pw = rng.IntN(kh), rng.IntN(kw)
		d.eh, d.ew = rng.IntN(kh), rng.IntN(kw)
		span := func(in, k, dil, pb, pe, s int) int {
			sp := in + pb + pe - ((k-1)*dil + 1)
			if sp < 0 {
				return -1
			}
			return sp/s + 1
		}
		d.oh = span(d.h, d.kh, d.dh, d.ph, d.eh, d.sh)
		d.ow = span(d.w, d.kw, d.dw, d.pw, d.ew, d.sw)
		if d.oh < 1 || d.ow < 1 || !maxPoolVec(&d) {
			continue
		}
		x := make([]float32, d.h*d.w)
		for i := range x {
			x[i] = rng.Float32()*4 - 2
		}
		if rng.IntN(3) == 0 {
			x[rng.IntN(len(x))] = float32(math.NaN())
		}
		got := make([]float32, d.oh*d.ow+8)
		for i := range got {
			got[i] = 12345
		}
		want := make([]float32, d.oh*d.ow)
		maxPool2dF32(x, got[:d.oh*d.ow], &d, maxPoolF32Buf(&d))
		maxPool2dFast(x, want, &d)
		for _, g := range got[d.oh*d.ow:] {
			if g != 12345 {
				t.Fatalf("%+v: guard band overwritten", d)
			}
		}
		for i, v := range want {
			if g := got[i]; g != v && !(g != g && v != v) {
				t.Fatalf("%+v: y[%d] = %v, want %v", d, i, g, v)
			}
		}
		countPad := rng.IntN(2) == 0
		cols := avgPoolCols(&d, countPad)
		avgPool2dF32(x, got[:d.oh*d.ow], &d, countPad, avgPoolF32Buf(&d), cols, avgPoolInv(&d, countPad, cols))
		for _, g := range got[d.oh*d.ow:] {
			if g != 12345 {
				t.Fatalf("avg %+v: guard band overwritten", d)
			}
		}
		avgPool2d(x, want, &d, countPad)
		for i, v := range want {
			if g := got[i]; math.Abs(float64(g-v)) > 1e-5 && !(g != g && v != v) {
				t.Fatalf("avg %+v countPad %v: y[%d] = %v, want %v", d, countPad, i, g, v)
			}
		}
		for _, g := range got[len(want):] {
			if g != 12345 {
				t.Fatalf("%+v: wrote past the output", d)
			}
		}
	}
}

// TestGatherS2 compares the vector stride-2 gather with the loop at every
// length around the 16-wide blocks, reading a source cut to exactly the
// last element used, with guard bands around dst.
func TestGatherS2(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const guard = 8
	for n := 0; n <= 70; n++ {
		src := make([]float32, max(0, 2*n-1))
		for i := range src {
			src[i] = rng.Float32()
		}
		got := make([]float32, n+2*guard)
		for i := range got {
			got[i] = 12345
		}
		gatherS2(got[guard:guard+n], src)
		for i := 0; i < guard; i++ {
			if got[i] != 12345 || got[guard+n+i] != 12345 {
				t.Fatalf("n %d: guard band overwritten", n)
			}
		}
		for i := 0; i < n; i++ {
			if got[guard+i] != src[2*i] {
				t.Fatalf("n %d: dst[%d] = %v, want %v", n, i, got[guard+i], src[2*i])
			}
		}
	}
}

// TestLRN32 compares the float32 LRN (square roots for the usual
// exponents) with the float64 loop.
func TestLRN32(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, beta := range []float32{0.75, 0.5, 1, 0.6} {
		for _, size := range []int64{1, 2, 5} {
			attrs := map[string]*graph.Attr{"size": intAttr(size), "alpha": floatAttr(1e-3), "beta": floatAttr(beta), "bias": floatAttr(2)}
			x := randTensor(rng, 2, 7, 5, 3)
			for i := range x.F32() {
				x.F32()[i] *= 20
			}
			out, err := runNode(t, node("LRN", 1, 1, attrs), 13, []*tensor.Tensor{x}, nil)
			if err != nil {
				t.Fatal(err)
			}
			x64 := tensor.New(tensor.Float64, x.Shape...)
			for i, v := range x.F32() {
				x64.Data.([]float64)[i] = float64(v)
			}
			ref, err := runNode(t, node("LRN", 1, 1, attrs), 13, []*tensor.Tensor{x64}, nil)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, fmt.Sprintf("LRN beta %v size %d", beta, size), out[0], toF64(ref[0]), 1e-6)
		}
	}
}
