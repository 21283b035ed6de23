package conformance

import (
	"math"
	"testing"

	"github.com/edgedl/edgedl/tensor"
)

func TestCompare(t *testing.T) {
	f := func(v ...float32) *tensor.Tensor { return tensor.Float32s([]int{len(v)}, v) }
	nan := float32(math.NaN())
	cases := []struct {
		name      string
		got, want *tensor.Tensor
		ok        bool
	}{
		{"equal", f(1, 2), f(1, 2), true},
		{"within rtol", f(1.0005), f(1), true},
		{"outside rtol", f(1.002), f(1), false},
		{"nan matches nan", f(nan), f(nan), true},
		{"nan vs number", f(nan), f(0), false},
		{"inf sign", f(float32(math.Inf(1))), f(float32(math.Inf(-1))), false},
		{"shape", f(1, 2), tensor.Float32s([]int{2, 1}, []float32{1, 2}), false},
		{"dtype", f(1), tensor.Int64s([]int{1}, []int64{1}), false},
		{"ints exact", tensor.Int64s([]int{1}, []int64{1 << 60}), tensor.Int64s([]int{1}, []int64{1<<60 + 1}), false},
		{"strings", &tensor.Tensor{DType: tensor.String, Shape: []int{1}, Data: []string{"a"}},
			&tensor.Tensor{DType: tensor.String, Shape: []int{1}, Data: []string{"b"}}, false},
	}
	for _, c := range cases {
		err := Compare(c.got, c.want, 1e-3, 1e-7)
		if (err == nil) != c.ok {
			t.Errorf("%s: err=%v, want ok=%v", c.name, err, c.ok)
		}
	}
	if e, _ := RelL2(f(3, 4), f(3, 4.5)); math.Abs(e-0.5/math.Sqrt(9+20.25)) > 1e-9 {
		t.Errorf("RelL2 %g", e)
	}
}
