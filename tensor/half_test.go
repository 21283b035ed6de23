package tensor

import (
	"math"
	"testing"
)

// TestHalfSlices checks the slice conversions against the scalar ones for
// both half formats, through the Tensor API the kernels use.
func TestHalfSlices(t *testing.T) {
	src := []float32{0, -0.5, 1, 3.14159, -65504, 1e-7, 70000, float32(math.Inf(-1))}
	for _, dt := range []DType{Float16, BFloat16} {
		x := New(dt, len(src))
		StoreFloat32s(x, src)
		bits := Data[uint16](x)
		back := x.Float32Values()
		for i, v := range src {
			want := FloatToHalf(v)
			wide := HalfToFloat(want)
			if dt == BFloat16 {
				want, wide = FloatToBFloat16(v), BFloat16ToFloat(FloatToBFloat16(v))
			}
			if bits[i] != want {
				t.Errorf("%v: StoreFloat32s(%g) = %#04x, want %#04x", dt, v, bits[i], want)
			}
			if back[i] != wide {
				t.Errorf("%v: Float32Values()[%d] = %g, want %g", dt, i, back[i], wide)
			}
		}
	}
	y := New(Float64, 2)
	StoreFloat32s(y, []float32{1.5, -2})
	if got := Data[float64](y); got[0] != 1.5 || got[1] != -2 {
		t.Errorf("StoreFloat32s to float64: %v", got)
	}
}
