package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDepthwisePlan compares the vector depthwise kernels (which read the
// plane in place with masked loads) with depthwisePlane on random 3×3
// geometries: widths around the 16- and 32-column blocks, asymmetric pads,
// ceil-like overhangs, NaNs, and guard bands around the output.
func TestDepthwisePlan(t *testing.T) {
	if newDWPlan(&conv2d{h: 3, w: 3, oh: 1, ow: 1, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1}) == nil {
		t.Skip("no vector depthwise kernel on this build or CPU")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	var w [9]float32
	for iter := 0; iter < 600; iter++ {
		s := 1 + rng.IntN(2)
		d := conv2d{h: 1 + rng.IntN(12), w: 1 + rng.IntN(70), kh: 3, kw: 3, sh: s, sw: s, dh: 1, dw: 1,
			ph: rng.IntN(3), pw: rng.IntN(3), eh: rng.IntN(3), ew: rng.IntN(3)}
		d.oh = (d.h+d.ph+d.eh-3)/s + 1
		d.ow = (d.w+d.pw+d.ew-3)/s + 1
		if d.h+d.ph+d.eh < 3 || d.w+d.pw+d.ew < 3 {
			continue
		}
		plan := newDWPlan(&d)
		for i := range w {
			w[i] = rng.Float32()*2 - 1
		}
		x := make([]float32, d.h*d.w)
		for i := range x {
			x[i] = rng.Float32()*4 - 2
		}
		if rng.IntN(4) == 0 {
			x[rng.IntN(len(x))] = float32(math.NaN())
		}
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if rng.IntN(2) == 0 {
			lo, hi = 0, 1.5
		}
		bias := rng.Float32() - 0.5
		const guard = 16
		n := d.oh * d.ow
		got := make([]float32, n+2*guard)
		for i := range got {
			got[i] = 12345
		}
		want := make([]float32, n)
		plan.run(x, &w, got[guard:guard+n], bias, lo, hi)
		act := Activation{Kind: ActClip, Alpha: lo, Beta: hi}
		depthwisePlane(x, w[:], want, &d, bias, act)
		for i := 0; i < guard; i++ {
			if got[i] != 12345 || got[guard+n+i] != 12345 {
				t.Fatalf("%+v: guard band overwritten", d)
			}
		}
		for i, v := range want {
			g := got[guard+i]
			if math.IsNaN(float64(v)) != math.IsNaN(float64(g)) || math.Abs(float64(g-v)) > 1e-5 {
				t.Fatalf("%+v: y[%d] = %v, want %v", d, i, g, v)
			}
		}
	}
}
