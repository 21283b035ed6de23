package elementwise

import (
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

func TestUnaryValues(t *testing.T) {
	f32 := func(v ...float32) *tensor.Tensor { return ten([]int{len(v)}, v) }
	inf := float32(math.Inf(1))
	runCases(t, []opCase{
		{name: "round half even", op: "Round", in: []*tensor.Tensor{f32(0.5, 1.5, 2.5, -0.5, -1.5, 0.49, nan)}, want: f32(0, 2, 2, 0, -2, 0, nan)},
		{name: "sign", op: "Sign", in: []*tensor.Tensor{f32(-3, 0, 2, nan)}, want: f32(-1, 0, 1, nan)},
		{name: "sign int8", op: "Sign", in: []*tensor.Tensor{ten([]int{3}, []int8{-128, 0, 5})}, want: ten([]int{3}, []int8{-1, 0, 1})},
		{name: "sign uint8", op: "Sign", in: []*tensor.Tensor{ten([]int{2}, []uint8{0, 200})}, want: ten([]int{2}, []uint8{0, 1})},
		{name: "abs int", op: "Abs", in: []*tensor.Tensor{ten([]int{2}, []int32{-3, 4})}, want: ten([]int{2}, []int32{3, 4})},
		{name: "neg int64", op: "Neg", in: []*tensor.Tensor{ten([]int{2}, []int64{-3, 4})}, want: ten([]int{2}, []int64{3, -4})},
		{name: "relu int16", op: "Relu", opset: 14, in: []*tensor.Tensor{ten([]int{2}, []int16{-3, 4})}, want: ten([]int{2}, []int16{0, 4})},
		{name: "relu", op: "Relu", in: []*tensor.Tensor{f32(-1, 0, 2, -inf, inf, nan)}, want: f32(0, 0, 2, 0, inf, nan)},
		{name: "exp int", op: "Exp", in: []*tensor.Tensor{ten([]int{1}, []int32{1})}, err: "unsupported"},
		{name: "exp float64", op: "Exp", in: []*tensor.Tensor{ten([]int{2}, []float64{0, 1})}, want: ten([]int{2}, []float64{1, math.E})},
		{name: "sigmoid float16", op: "Sigmoid", in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.Float16, 0, 100), tensor.Float16)},
			want: ten([]int{2}, halfs(tensor.Float16, 0.5, 1), tensor.Float16)},
		{name: "sqrt bfloat16", op: "Sqrt", in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.BFloat16, 4, 16), tensor.BFloat16)},
			want: ten([]int{2}, halfs(tensor.BFloat16, 2, 4), tensor.BFloat16)},
		{name: "leakyrelu", op: "LeakyRelu", in: []*tensor.Tensor{f32(-2, 3, nan)}, want: f32(-0.02, 3, nan)},
		{name: "leakyrelu alpha", op: "LeakyRelu", attrs: []*graph.Attr{fattr("alpha", 0.5)}, in: []*tensor.Tensor{f32(-2, 3, -4, 5, -6)}, want: f32(-1, 3, -2, 5, -3)},
		{name: "elu", op: "Elu", in: []*tensor.Tensor{f32(-1, 2)}, want: f32(-0.63212055882, 2)},
		{name: "selu", op: "Selu", in: []*tensor.Tensor{f32(-1, 2)}, want: f32(-1.11133074, 2.10140204)},
		{name: "celu", op: "Celu", attrs: []*graph.Attr{fattr("alpha", 2)}, in: []*tensor.Tensor{f32(-1, 2)}, want: f32(-0.78693868, 2)},
		{name: "hardsigmoid", op: "HardSigmoid", in: []*tensor.Tensor{f32(-10, 1, 10)}, want: f32(0, 0.7, 1)},
		{name: "hardswish", op: "HardSwish", in: []*tensor.Tensor{f32(-4, -1, 1, 4)}, want: f32(0, -1.0/3, 2.0/3, 4)},
		{name: "thresholdedrelu", op: "ThresholdedRelu", in: []*tensor.Tensor{f32(0.5, 1, 1.5)}, want: f32(0, 0, 1.5)},
		{name: "shrink", op: "Shrink", attrs: []*graph.Attr{fattr("bias", 0.1)}, in: []*tensor.Tensor{f32(-1, 0.3, 1)}, want: f32(-0.9, 0, 0.9)},
		{name: "softplus", op: "Softplus", in: []*tensor.Tensor{f32(0, 100, -100)}, want: f32(0.69314718, 100, 3.7200760e-44)},
		{name: "softsign", op: "Softsign", in: []*tensor.Tensor{f32(-3, 1)}, want: f32(-0.75, 0.5)},
		{name: "gelu", op: "Gelu", opset: 20, in: []*tensor.Tensor{f32(1, -1)}, want: f32(0.84134475, -0.15865525)},
		{name: "gelu tanh", op: "Gelu", opset: 20, attrs: []*graph.Attr{sattr("approximate", "tanh")}, in: []*tensor.Tensor{f32(1, -1)}, want: f32(0.84119199, -0.15880801)},
		{name: "gelu bad", op: "Gelu", opset: 20, attrs: []*graph.Attr{sattr("approximate", "fast")}, in: []*tensor.Tensor{f32(1)}, err: "approximate"},
		{name: "mish", op: "Mish", in: []*tensor.Tensor{f32(1, -1)}, want: f32(0.86509839, -0.30340147)},
		{name: "swish", op: "Swish", opset: 24, attrs: []*graph.Attr{fattr("alpha", 2)}, in: []*tensor.Tensor{f32(1)}, want: f32(0.88079708)},
		{name: "tanh saturates", op: "Tanh", in: []*tensor.Tensor{f32(-100, 100, 0.5, nan)}, want: f32(-1, 1, 0.46211716, nan)},
		{name: "acosh", op: "Acosh", in: []*tensor.Tensor{f32(1, 10)}, want: f32(0, 2.99322285)},
		{name: "no input", op: "Abs", in: []*tensor.Tensor{}, err: "input"},
	})
}

// ulps is the distance between two float32 values in units in the last place.
func ulps(a, b float32) float64 {
	if a == b {
		return 0
	}
	ia, ib := int64(int32(math.Float32bits(a))), int64(int32(math.Float32bits(b)))
	if ia < 0 {
		ia = math.MinInt32 - ia
	}
	if ib < 0 {
		ib = math.MinInt32 - ib
	}
	return math.Abs(float64(ia - ib))
}

// TestFloat32Accuracy compares every activation's float32 path (including
// the fast polynomials) with its float64 path rounded to float32.
func TestFloat32Accuracy(t *testing.T) {
	var xs []float32
	for x := -100.0; x <= 100; x += 0.0137 {
		xs = append(xs, float32(x))
	}
	for _, v := range []float64{0, math.Copysign(0, -1), 1e-30, -1e-30, 1e-8, 0.625, -0.625, 0.6249999, 44.15, -87.3, -87.4, 88.3, 88.4, -104, 89, 1e30, -1e30, math.Inf(1), math.Inf(-1), math.NaN()} {
		xs = append(xs, float32(v))
	}
	x64 := make([]float64, len(xs))
	for i, v := range xs {
		x64[i] = float64(v)
	}
	for _, name := range ActivationNames() {
		a, _ := DefaultActivation(name)
		got := make([]float32, len(xs))
		a.ApplyTo(got, xs)
		want := append([]float64(nil), x64...)
		a.Apply64(want)
		inPlace := append([]float32(nil), xs...)
		a.Apply(inPlace)
		worst, at := 0.0, float32(0)
		for i := range xs {
			w := float32(want[i])
			if math.IsNaN(float64(w)) != math.IsNaN(float64(got[i])) || !math.IsNaN(float64(w)) && math.Float32bits(inPlace[i]) != math.Float32bits(got[i]) {
				t.Errorf("%s(%g) = %g (in place %g), want %g", name, xs[i], got[i], inPlace[i], w)
				continue
			}
			if math.IsNaN(float64(w)) {
				continue
			}
			u := ulps(got[i], w)
			if math.Abs(float64(w)) < 1e-37 && math.Abs(float64(got[i]-w)) < 1e-37 {
				u = 0 // subnormal results
			}
			if !a.k.expensive() && math.Abs(float64(got[i]-w)) <= 1e-7*(1+math.Abs(float64(xs[i]))) {
				u = 0 // plain float32 arithmetic (alpha*x+beta ...), which is what ONNX specifies
			}
			if u > worst {
				worst, at = u, xs[i]
			}
		}
		limit := 4.0
		if name == "Gelu" {
			limit = 6 // x/sqrt2 rounds in float32 (as in the ONNX reference), amplified by erfc's slope
		}
		if worst > limit {
			t.Errorf("%s: %g ulp at x=%g", name, worst, at)
		}
	}
}

func TestActivationAPI(t *testing.T) {
	x := []float32{-2, -0.5, 0, 0.5, 2}
	if err := ApplyActivation("LeakyRelu", 0.1, 0, x); err != nil {
		t.Fatal(err)
	}
	if want := []float32{-0.2, -0.05, 0, 0.5, 2}; !close32(x, want) {
		t.Errorf("LeakyRelu: %v, want %v", x, want)
	}
	x = []float32{-2, 3, 7}
	if err := ApplyActivation("Clip", 0, 6, x); err != nil || !close32(x, []float32{0, 3, 6}) {
		t.Errorf("Clip(0,6): %v, %v", x, err)
	}
	x = []float32{1, 2}
	a, _ := NewActivation("ScaledTanh", 2, 0.5)
	a.Apply(x)
	if want := []float32{2 * float32(math.Tanh(0.5)), 2 * float32(math.Tanh(1))}; !close32(x, want) {
		t.Errorf("ScaledTanh: %v, want %v", x, want)
	}
	if err := ApplyActivation("Nope", 0, 0, x); err == nil {
		t.Error("unknown activation accepted")
	}
	if _, err := DefaultActivation("Nope"); err == nil {
		t.Error("unknown default activation accepted")
	}
	var id Activation
	if !id.IsIdentity() {
		t.Error("zero Activation is not the identity")
	}
	hs, _ := DefaultActivation("HardSigmoid")
	if hs.p.alpha != 0.2 || hs.p.beta != 0.5 {
		t.Errorf("HardSigmoid defaults %v", hs.p)
	}
}

func close32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6*math.Max(1, math.Abs(float64(b[i]))) {
			return false
		}
	}
	return true
}
