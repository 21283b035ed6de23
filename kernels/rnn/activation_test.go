package rnn

import (
	"math"
	"testing"
)

// TestFastMath checks expf, sigmoid and tanhf against float64 math over
// the whole useful range, including the cut-overs and the extremes.
func TestFastMath(t *testing.T) {
	relErr := func(got float32, want float64) float64 {
		if want == 0 || math.IsInf(want, 0) {
			if float64(got) == want {
				return 0
			}
			return math.Inf(1)
		}
		return math.Abs(float64(got)-want) / math.Abs(want)
	}
	var worstExp, worstSig, worstTanh float64
	for x := float32(-100); x <= 100; x += 0.0137 {
		// Below 1e-30 results approach float32's subnormals, whose own
		// precision is coarser than any formula's.
		if want := float64(float32(math.Exp(float64(x)))); want > 1e-30 {
			worstExp = max(worstExp, relErr(expf(x), want))
		}
		if want := 1 / (1 + math.Exp(-float64(x))); want > 1e-30 {
			worstSig = max(worstSig, relErr(sigmoid(x), want))
		}
		if x != 0 {
			worstTanh = max(worstTanh, relErr(tanhf(x), math.Tanh(float64(x))))
		}
	}
	for _, x := range []float32{1e-8, -1e-5, 0.0624, 0.0626, -0.0626, 20, -20} {
		worstTanh = max(worstTanh, relErr(tanhf(x), math.Tanh(float64(x))))
	}
	if worstExp > 3e-7 || worstSig > 5e-7 || worstTanh > 5e-7 {
		t.Errorf("relative errors: exp %g, sigmoid %g, tanh %g", worstExp, worstSig, worstTanh)
	}
	if expf(200) != float32(math.Inf(1)) || expf(-200) != 0 || !math.IsNaN(float64(expf(float32(math.NaN())))) {
		t.Errorf("expf extremes: %v %v", expf(200), expf(-200))
	}
	if tanhf(50) != 1 || tanhf(-50) != -1 || sigmoid(-200) != 0 || sigmoid(200) != 1 {
		t.Errorf("saturation: %v %v %v %v", tanhf(50), tanhf(-50), sigmoid(-200), sigmoid(200))
	}
}
