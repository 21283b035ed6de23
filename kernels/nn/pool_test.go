package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
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

// TestPoolPlanes compares the float32 MaxPool and AveragePool over whole
// planes (poolPlanesF32) with the scalar windows over kernels, strides,
// pads, dilations and ceil overhangs (most of them left to the per-plane
// code), on several planes with NaNs, with a guard band past the output.
func TestPoolPlanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	ctx := &kernels.Ctx{Pool: kernels.NewPool(2)}
	defer ctx.Pool.Close()
	for iter := 0; iter < 2000; iter++ {
		kh, kw := 1+rng.IntN(4), 1+rng.IntN(4)
		d := conv2d{h: 1 + rng.IntN(20), w: 1 + rng.IntN(40), kh: kh, kw: kw,
			sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(3), dh: 1 + rng.IntN(2), dw: 1 + rng.IntN(2)}
		if rng.IntN(8) == 0 {
			d.kw, d.sw, d.pw = 1+rng.IntN(20), 1+rng.IntN(20), rng.IntN(3)
		}
		d.ph, d.pw = rng.IntN(kh+1), rng.IntN(d.kw+1)
		d.eh, d.ew = rng.IntN(kh+1), rng.IntN(d.kw+1)
		if rng.IntN(3) == 0 { // output of the input's size
			d.sh, d.sw = 1, 1
			d.ph, d.pw = rng.IntN((d.kh-1)*d.dh+1), rng.IntN((d.kw-1)*d.dw+1)
			d.eh, d.ew = (d.kh-1)*d.dh-d.ph, (d.kw-1)*d.dw-d.pw
		}
		switch rng.IntN(4) {
		case 0: // the common 3x3, stride 1, padding 1
			d = conv2d{h: d.h, w: d.w, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1, eh: 1, ew: 1}
		case 1: // up to 3 columns at stride 2, on rows of up to 5 blocks
			d.w, d.kw, d.sw, d.dw, d.pw, d.ew = 1+rng.IntN(80), 1+rng.IntN(3), 2, 1, rng.IntN(2), rng.IntN(3)
		}
		span := func(in, k, dil, pb, pe, s int) int {
			sp := in + pb + pe - ((k-1)*dil + 1)
			if sp < 0 {
				return -1
			}
			return sp/s + 1
		}
		d.oh = span(d.h, d.kh, d.dh, d.ph, d.eh, d.sh)
		d.ow = span(d.w, d.kw, d.dw, d.pw, d.ew, d.sw)
		if d.oh < 1 || d.ow < 1 {
			continue
		}
		planes := 1 + rng.IntN(5)
		in, out := d.h*d.w, d.oh*d.ow
		x := make([]float32, planes*in)
		for i := range x {
			x[i] = rng.Float32()*4 - 2
		}
		if rng.IntN(3) == 0 {
			x[rng.IntN(len(x))] = float32(math.NaN())
		}
		countPad := rng.IntN(2) == 0
		for _, isMax := range []bool{true, false} {
			var inv []float32
			if !isMax {
				inv = avgPoolInv(&d, countPad, avgPoolCols(&d, countPad))
			}
			got := make([]float32, planes*out+8)
			for i := range got {
				got[i] = 12345
			}
			run := poolPlanesF32(&d, inv)
			if run == nil {
				continue // another geometry
			}
			run(ctx, x, got[:planes*out], planes, 1)
			for _, g := range got[planes*out:] {
				if g != 12345 {
					t.Fatalf("%+v: wrote past the output", d)
				}
			}
			want := make([]float32, planes*out)
			for pl := 0; pl < planes; pl++ {
				if isMax {
					maxPool2dFast(x[pl*in:(pl+1)*in], want[pl*out:(pl+1)*out], &d)
				} else {
					avgPool2d(x[pl*in:(pl+1)*in], want[pl*out:(pl+1)*out], &d, countPad)
				}
			}
			for i, v := range want {
				if g := got[i]; math.Abs(float64(g-v)) > 1e-5 && !(g != g && v != v) || (g != g) != (v != v) {
					t.Fatalf("max %v %+v countPad %v planes %d: y[%d] = %v, want %v", isMax, d, countPad, planes, i, g, v)
				}
			}
		}
	}
}

// TestMeanPlanes compares the float32 plane means with float64 sums at
// every length around the blocks of 16, with a guard band past the output.
func TestMeanPlanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ctx := &kernels.Ctx{Pool: kernels.NewPool(2)}
	defer ctx.Pool.Close()
	for n := 1; n <= 70; n++ {
		planes := 1 + rng.IntN(5)
		x := make([]float32, planes*n)
		for i := range x {
			x[i] = rng.Float32()*4 - 2
		}
		got := make([]float32, planes+1)
		got[planes] = 12345
		if !meanPlanesF32(ctx, x, got[:planes], planes, n) {
			t.Skip("no AVX-512")
		}
		if got[planes] != 12345 {
			t.Fatalf("n %d: wrote past the output", n)
		}
		for p := range planes {
			if want := sum(x[p*n:(p+1)*n]) / float64(n); math.Abs(float64(got[p])-want) > 1e-6 {
				t.Fatalf("n %d: y[%d] = %v, want %v", n, p, got[p], want)
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
