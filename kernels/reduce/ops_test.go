package reduce

import (
	"math"
	"math/cmplx"
	"slices"
	"testing"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func TestArgMaxMin(t *testing.T) {
	x := tensor.Float32s([]int{2, 3}, []float32{
		1, 5, 5,
		7, 0, 7,
	})
	tests := []struct {
		op    string
		a     []any
		shape []int
		want  []int64
	}{
		{"ArgMax", []any{"axis", 1}, []int{2, 1}, []int64{1, 0}},
		{"ArgMax", []any{"axis", 1, "select_last_index", 1}, []int{2, 1}, []int64{2, 2}},
		{"ArgMax", []any{"axis", -1, "keepdims", 0}, []int{2}, []int64{1, 0}},
		{"ArgMax", nil, []int{1, 3}, []int64{1, 0, 1}},
		{"ArgMin", []any{"axis", 0, "keepdims", 0}, []int{3}, []int64{0, 1, 0}},
		{"ArgMin", []any{"axis", 1, "select_last_index", 1}, []int{2, 1}, []int64{0, 1}},
	}
	for _, tc := range tests {
		got, err := runOp(nil, tc.op, 13, attrs(tc.a...), 1, nil, x)
		if err != nil {
			t.Fatalf("%s%v: %v", tc.op, tc.a, err)
		}
		if !slices.Equal(got[0].Shape, tc.shape) || !slices.Equal(got[0].I64(), tc.want) {
			t.Errorf("%s%v = %v%v, want %v%v", tc.op, tc.a, got[0].Shape, got[0].I64(), tc.shape, tc.want)
		}
	}
	// A large row-mode case on a pool against a direct scan.
	pool := kernels.NewPool(3)
	defer pool.Close()
	rng := lcg(3)
	big := randTensor(&rng, tensor.Int32, 7, 9, 3000)
	got, err := runOp(&kernels.Ctx{Pool: pool}, "ArgMin", 13, attrs("axis", 1, "select_last_index", 1), 1, nil, big)
	if err != nil {
		t.Fatal(err)
	}
	v := tensor.Data[int32](big)
	for o := 0; o < 7; o++ {
		for c := 0; c < 3000; c++ {
			best := 0
			for i := 1; i < 9; i++ {
				if v[(o*9+i)*3000+c] <= v[(o*9+best)*3000+c] {
					best = i
				}
			}
			if g := got[0].I64()[o*3000+c]; g != int64(best) {
				t.Fatalf("ArgMin at (%d, %d) = %d, want %d", o, c, g, best)
			}
		}
	}
	if _, err := runOp(nil, "ArgMax", 13, attrs("axis", 1), 1, nil, tensor.New(tensor.Float32, 2, 0)); err == nil {
		t.Error("ArgMax over an empty axis succeeded")
	}
	if _, err := runOp(nil, "ArgMax", 13, attrs("axis", 2), 1, nil, x); err == nil {
		t.Error("ArgMax with axis 2 of a matrix succeeded")
	}
}

func TestLosses(t *testing.T) {
	// Log-probabilities of 2 samples over 2 classes.
	x := tensor.Float32s([]int{2, 2}, []float32{-1, -2, -3, -4})
	target := tensor.Int64s([]int{2}, []int64{1, 0})
	w := tensor.Float32s([]int{2}, []float32{1, 2})
	tests := []struct {
		a     []any
		w     *tensor.Tensor
		shape []int
		want  []float64
	}{
		{[]any{"reduction", "none"}, nil, []int{2}, []float64{2, 3}},
		{nil, nil, []int{}, []float64{2.5}},
		{[]any{"reduction", "sum"}, nil, []int{}, []float64{5}},
		{[]any{"reduction", "none"}, w, []int{2}, []float64{4, 3}},
		{nil, w, []int{}, []float64{7.0 / 3}},
		{[]any{"ignore_index", 1, "reduction", "none"}, nil, []int{2}, []float64{0, 3}},
		{[]any{"ignore_index", 1}, w, []int{}, []float64{3}},
	}
	for _, tc := range tests {
		got, err := runOp(nil, "NegativeLogLikelihoodLoss", 13, attrs(tc.a...), 1, nil, x, target, tc.w)
		if err != nil {
			t.Fatalf("NLL %v: %v", tc.a, err)
		}
		checkTensor(t, "NLL", got[0], tc.shape, tc.want, 1e-6)
	}
	// Softmax cross-entropy of equal scores is log C; log_prob is -log C.
	s := float64s([]int{1, 4, 1}, []float64{3, 3, 3, 3})
	got, err := runOp(nil, "SoftmaxCrossEntropyLoss", 13, nil, 2, nil, s, tensor.Int64s([]int{1, 1}, []int64{2}))
	if err != nil {
		t.Fatal(err)
	}
	checkTensor(t, "SCE loss", got[0], []int{}, []float64{math.Log(4)}, 1e-12)
	l := -math.Log(4)
	checkTensor(t, "SCE log_prob", got[1], []int{1, 4, 1}, []float64{l, l, l, l}, 1e-12)

	for _, bad := range []*tensor.Tensor{
		tensor.Int64s([]int{2}, []int64{2, 0}),  // class out of range
		tensor.Int64s([]int{2}, []int64{-1, 0}), // negative, not ignored
		tensor.Int64s([]int{3}, []int64{0, 0, 0}),
	} {
		if _, err := runOp(nil, "NegativeLogLikelihoodLoss", 13, nil, 1, nil, x, bad); err == nil {
			t.Errorf("NLL accepted target %v", bad)
		}
	}
}

// naiveDFT is the O(n²) definition.
func naiveDFT(x []complex128, inverse bool) []complex128 {
	n := len(x)
	out := make([]complex128, n)
	sign := -1.0
	if inverse {
		sign = 1
	}
	for k := range out {
		for j, v := range x {
			out[k] += v * cmplx.Rect(1, sign*2*math.Pi*float64(j*k%n)/float64(n))
		}
		if inverse {
			out[k] /= complex(float64(n), 0)
		}
	}
	return out
}

func TestFFTPlans(t *testing.T) {
	rng := lcg(11)
	for _, n := range []int{1, 2, 3, 5, 8, 10, 16, 17, 31, 64, 100, 127, 1000} {
		x := make([]complex128, n)
		for i := range x {
			x[i] = complex(rng.float(), rng.float())
		}
		want := naiveDFT(x, false)
		p := planFFT(n)
		got := slices.Clone(x)
		p.transform(got, make([]complex128, p.scratchLen()))
		for k := range want {
			if cmplx.Abs(got[k]-want[k]) > 1e-9*float64(n) {
				t.Fatalf("n=%d: X[%d] = %v, want %v", n, k, got[k], want[k])
			}
		}
	}
}

func TestDFT(t *testing.T) {
	rng := lcg(5)
	// A complex signal [2, 6, 3, 2], transformed along axis 1.
	x := randTensor(&rng, tensor.Float64, 2, 6, 3, 2)
	xv := tensor.Data[float64](x)
	line := func(b, c int) []complex128 {
		out := make([]complex128, 6)
		for t := range out {
			j := ((b*6+t)*3 + c) * 2
			out[t] = complex(xv[j], xv[j+1])
		}
		return out
	}
	check := func(name string, y *tensor.Tensor, inverse bool, n, keep int) {
		t.Helper()
		if want := []int{2, keep, 3, 2}; !slices.Equal(y.Shape, want) {
			t.Fatalf("%s: shape %v, want %v", name, y.Shape, want)
		}
		yv := tensor.Data[float64](y)
		for b := 0; b < 2; b++ {
			for c := 0; c < 3; c++ {
				sig := line(b, c)
				sig = append(sig, make([]complex128, max(0, n-6))...)[:n]
				want := naiveDFT(sig, inverse)
				for k := 0; k < keep; k++ {
					j := ((b*keep+k)*3 + c) * 2
					if g := complex(yv[j], yv[j+1]); cmplx.Abs(g-want[k]) > 1e-9 {
						t.Fatalf("%s: (%d, %d, %d) = %v, want %v", name, b, k, c, g, want[k])
					}
				}
			}
		}
	}
	axis := tensor.Int64s([]int{}, []int64{1})
	y, err := runOp(nil, "DFT", 20, nil, 1, nil, x, nil, axis)
	if err != nil {
		t.Fatal(err)
	}
	check("forward", y[0], false, 6, 6)
	y, err = runOp(nil, "DFT", 17, attrs("axis", 1, "inverse", 1), 1, nil, x)
	if err != nil {
		t.Fatal(err)
	}
	check("inverse", y[0], true, 6, 6)
	y, err = runOp(nil, "DFT", 20, attrs("onesided", 1), 1, nil, x, tensor.Int64s([]int{}, []int64{9}), axis)
	if err != nil {
		t.Fatal(err)
	}
	check("onesided padded", y[0], false, 9, 5)
	y, err = runOp(nil, "DFT", 20, nil, 1, nil, x, tensor.Int64s([]int{}, []int64{4}), tensor.Int64s([]int{}, []int64{-3}))
	if err != nil {
		t.Fatal(err)
	}
	check("truncated, negative axis", y[0], false, 4, 4)

	// rfft then irfft restores a real signal, for odd and even lengths.
	for _, n := range []int{7, 8} {
		r := randTensor(&rng, tensor.Float32, 3, n, 1)
		f, err := runOp(nil, "DFT", 20, attrs("onesided", 1), 1, nil, r, nil, axis)
		if err != nil {
			t.Fatal(err)
		}
		back, err := runOp(nil, "DFT", 20, attrs("onesided", 1, "inverse", 1), 1, nil, f[0], tensor.Int64s([]int{}, []int64{int64(n)}), axis)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, r.Len())
		for i := range want {
			want[i] = r.Float64At(i)
		}
		checkTensor(t, "irfft(rfft)", back[0], []int{3, n, 1}, want, 1e-5)
	}
	for _, bad := range []*tensor.Tensor{tensor.Int64s([]int{}, []int64{3}), tensor.Int64s([]int{}, []int64{-1})} {
		if _, err := runOp(nil, "DFT", 20, nil, 1, nil, x, nil, bad); err == nil {
			t.Errorf("DFT accepted axis %v of rank 4 (the last dim is not a signal axis)", bad.I64())
		}
	}
}

func TestSTFT(t *testing.T) {
	rng := lcg(9)
	x := randTensor(&rng, tensor.Float64, 2, 20, 1)
	win := float64s([]int{8}, []float64{0, .2, .5, .9, 1, .9, .5, .2})
	y, err := runOp(nil, "STFT", 17, nil, 1, nil, x, tensor.Int64s([]int{}, []int64{3}), win, tensor.Int64s([]int{}, []int64{8}))
	if err != nil {
		t.Fatal(err)
	}
	frames := 1 + (20-8)/3
	if want := []int{2, frames, 5, 2}; !slices.Equal(y[0].Shape, want) {
		t.Fatalf("shape %v, want %v", y[0].Shape, want)
	}
	yv := tensor.Data[float64](y[0])
	for b := 0; b < 2; b++ {
		for f := 0; f < frames; f++ {
			sig := make([]complex128, 8)
			for i := range sig {
				sig[i] = complex(x.Float64At(b*20+f*3+i)*win.Float64At(i), 0)
			}
			want := naiveDFT(sig, false)
			for k := 0; k < 5; k++ {
				j := ((b*frames+f)*5 + k) * 2
				if g := complex(yv[j], yv[j+1]); cmplx.Abs(g-want[k]) > 1e-9 {
					t.Fatalf("frame (%d, %d) bin %d = %v, want %v", b, f, k, g, want[k])
				}
			}
		}
	}
	if _, err := runOp(nil, "STFT", 17, nil, 1, nil, x, tensor.Int64s([]int{}, []int64{3}), win, tensor.Int64s([]int{}, []int64{6})); err == nil {
		t.Error("STFT accepted a window longer than frame_length")
	}
}

func TestWindows(t *testing.T) {
	size := func(n int64) *tensor.Tensor { return tensor.Int64s([]int{}, []int64{n}) }
	tests := []struct {
		op   string
		a    []any
		n    int64
		want []float64
	}{
		{"HannWindow", nil, 4, []float64{0, 0.5, 1, 0.5}},
		{"HannWindow", []any{"periodic", 0}, 3, []float64{0, 1, 0}},
		{"HammingWindow", []any{"periodic", 0}, 3, []float64{4.0 / 46, 1, 4.0 / 46}},
		{"BlackmanWindow", nil, 2, []float64{0.42 - 0.5 + 0.08, 0.42 + 0.5 + 0.08}},
		{"HannWindow", []any{"periodic", 0}, 1, []float64{1}},
		{"HannWindow", []any{"output_datatype", int(tensor.Float64)}, 0, []float64{}},
	}
	for _, tc := range tests {
		got, err := runOp(nil, tc.op, 17, attrs(tc.a...), 1, nil, size(tc.n))
		if err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		checkTensor(t, tc.op, got[0], []int{int(tc.n)}, tc.want, 1e-7)
	}
	if _, err := runOp(nil, "HannWindow", 17, nil, 1, nil, size(-1)); err == nil {
		t.Error("negative window size accepted")
	}
}

func TestMelWeightMatrix(t *testing.T) {
	i32 := func(v int32) *tensor.Tensor {
		return &tensor.Tensor{DType: tensor.Int32, Shape: []int{}, Data: []int32{v}}
	}
	f32 := func(v float32) *tensor.Tensor { return tensor.Float32s([]int{}, []float32{v}) }
	got, err := runOp(nil, "MelWeightMatrix", 17, nil, 1, nil, i32(4), i32(16), i32(8000), f32(0), f32(4000))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[0].Shape, []int{9, 4}) {
		t.Fatalf("shape %v, want [9 4]", got[0].Shape)
	}
	// Each band is a triangle: non-negative, peaking at exactly 1.
	for band := 0; band < 4; band++ {
		peak := 0.0
		for bin := 0; bin < 9; bin++ {
			v := got[0].Float64At(bin*4 + band)
			if v < 0 || v > 1 {
				t.Fatalf("weight (%d, %d) = %v", bin, band, v)
			}
			peak = max(peak, v)
		}
		if peak != 1 {
			t.Errorf("band %d peaks at %v", band, peak)
		}
	}
	if _, err := runOp(nil, "MelWeightMatrix", 17, nil, 1, nil, i32(4), i32(16), i32(8000), f32(0), f32(40000)); err == nil {
		t.Error("upper edge above the Nyquist bins accepted")
	}
}

func TestDet(t *testing.T) {
	x := float64s([]int{3, 3, 3}, []float64{
		2, 0, 0, 0, 3, 0, 0, 0, 4, // diagonal: 24
		0, 1, 0, 1, 0, 0, 0, 0, 1, // a swap: -1
		1, 2, 3, 4, 5, 6, 7, 8, 9, // singular
	})
	got, err := runOp(nil, "Det", 11, nil, 1, nil, x)
	if err != nil {
		t.Fatal(err)
	}
	checkTensor(t, "Det", got[0], []int{3}, []float64{24, -1, 0}, 1e-12)
	if _, err := runOp(nil, "Det", 11, nil, 1, nil, tensor.New(tensor.Float32, 2, 3)); err == nil {
		t.Error("Det of a non-square matrix succeeded")
	}
}

func TestFFT32Plans(t *testing.T) {
	rng := lcg(13)
	for _, n := range []int{1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 20, 24, 30, 32, 40, 45, 64, 96, 120, 128, 250, 256, 1000} {
		p := planFFT32(n)
		if p == nil {
			t.Fatalf("no float32 plan for %d", n)
		}
		x := make([]complex128, n)
		buf := make([]c32, n)
		for i := range x {
			buf[i] = c32{float32(rng.float()), float32(rng.float())}
			x[i] = complex(float64(buf[i].r), float64(buf[i].i))
		}
		for _, fwd := range []bool{true, false} {
			want := naiveDFT(x, !fwd)
			got := slices.Clone(buf)
			fct := float32(1)
			if !fwd {
				fct = float32(1 / float64(n))
			}
			p.exec(got, make([]c32, n), fwd, fct)
			scale := math.Sqrt(float64(n))
			if !fwd {
				scale = 1 / scale
			}
			for k := range want {
				if d := cmplx.Abs(complex(float64(got[k].r), float64(got[k].i)) - want[k]); d > 1e-5*scale {
					t.Fatalf("n=%d fwd=%v: X[%d] off by %g", n, fwd, k, d)
				}
			}
		}
	}
	for _, n := range []int{7, 14, 49, 1001} {
		if planFFT32(n) != nil {
			t.Errorf("float32 plan for %d, which has a factor above 5", n)
		}
	}
	// numpy 2 (pocketfft, complex64) leaves exactly 2^-19/10 in the imaginary
	// part of the Nyquist bin of ifft(0, 10, ..., 90); the ONNX reference
	// outputs carry that residue.
	buf := make([]c32, 10)
	for i := range buf {
		buf[i] = c32{float32(10 * i), 0}
	}
	planFFT32(10).exec(buf, make([]c32, 10), false, 0.1)
	if want := float32(math.Ldexp(1, -19)) * 0.1; buf[5].i != want {
		t.Errorf("Nyquist residue %g, want %g", buf[5].i, want)
	}
}
