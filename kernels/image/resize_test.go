package image

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

func TestResizeHandComputed(t *testing.T) {
	row := f([]int{1, 1, 1, 2}, 1, 2)
	scalesW2 := f([]int{4}, 1, 1, 1, 2)
	attrs := func(kv ...string) map[string]*graph.Attr {
		m := map[string]*graph.Attr{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = str(kv[i+1])
		}
		return m
	}
	tests := []struct {
		name      string
		attrs     map[string]*graph.Attr
		in        []*tensor.Tensor
		wantShape []int
		want      []float32
	}{
		{"nearest asymmetric", attrs("mode", "nearest", "coordinate_transformation_mode", "asymmetric"),
			[]*tensor.Tensor{row, nil, scalesW2}, []int{1, 1, 1, 4}, []float32{1, 1, 2, 2}},
		// half_pixel: x_ori = -0.25, 0.25, 0.75, 1.25, clamped at the edges
		{"linear half_pixel", attrs("mode", "linear"),
			[]*tensor.Tensor{row, nil, scalesW2}, []int{1, 1, 1, 4}, []float32{1, 1.25, 1.75, 2}},
		{"linear align_corners", attrs("mode", "linear", "coordinate_transformation_mode", "align_corners"),
			[]*tensor.Tensor{row, nil, scalesW2}, []int{1, 1, 1, 4}, []float32{1, 4.0 / 3, 5.0 / 3, 2}},
		// roi [0.5, 1.5] on W: x_ori = x + 1, so x = 2 falls outside
		{"tf_crop_and_resize", map[string]*graph.Attr{"mode": str("linear"), "coordinate_transformation_mode": str("tf_crop_and_resize"),
			"extrapolation_value": flt(-1), "axes": intList(3)},
			[]*tensor.Tensor{f([]int{1, 1, 1, 3}, 0, 10, 20), f([]int{2}, 0.5, 1.5), nil, tensor.Int64s([]int{1}, []int64{3})},
			[]int{1, 1, 1, 3}, []float32{10, 20, -1}},
		// sizes [4, 2] on a 2×4 image: scales 2 and 0.5, not_larger keeps
		// 0.5 → 1×2 output sampling x_ori = 2x + 0.5 → columns 0 and 2
		{"not_larger", map[string]*graph.Attr{"mode": str("nearest"), "keep_aspect_ratio_policy": str("not_larger"), "axes": intList(2, 3)},
			[]*tensor.Tensor{f([]int{1, 1, 2, 4}, 0, 1, 2, 3, 4, 5, 6, 7), nil, nil, tensor.Int64s([]int{2}, []int64{4, 2})},
			[]int{1, 1, 1, 2}, []float32{0, 2}},
		// cubic, A = -0.75, x_ori = 0.5 between 0 and 1: weights
		// (-0.09375, 0.59375, 0.59375, -0.09375) over clamped [0,0,1,2]
		{"cubic midpoint", attrs("mode", "cubic", "coordinate_transformation_mode", "align_corners"),
			[]*tensor.Tensor{f([]int{1, 3}, 0, 1, 2), nil, nil, tensor.Int64s([]int{2}, []int64{1, 5})},
			[]int{1, 5}, []float32{0, -0.09375*0 + 0.59375*0 + 0.59375*1 - 0.09375*2, 1, 0.59375*1 + 0.59375*2 - 0.09375*0 - 0.09375*2, 2}},
	}
	for _, tc := range tests {
		for _, constant := range []bool{false, true} {
			out, err := run(t, "Resize", 19, tc.attrs, 1, []bool{false, constant, constant, constant}, tc.in...)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			near(t, tc.name, out[0], tc.wantShape, tc.want, 1e-6)
		}
	}
}

// TestResizeFusedMatchesSeparable resizes H and W at once (the fused
// row-cache path) and one axis at a time (the generic pass), which must
// agree; and checks the float16 path against float32.
func TestResizeFusedMatchesSeparable(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	x := tensor.New(tensor.Float32, 2, 3, 5, 7)
	for i := range x.F32() {
		x.F32()[i] = r.Float32()
	}
	for _, mode := range []string{"linear", "cubic"} {
		for _, aa := range []int64{0, 1} {
			attrs := map[string]*graph.Attr{"mode": str(mode), "antialias": ints(aa), "axes": intList(2, 3)}
			both, err := run(t, "Resize", 19, attrs, 1, nil, x, nil, f([]int{2}, 1.6, 0.6))
			if err != nil {
				t.Fatal(err)
			}
			attrs["axes"] = intList(3)
			w, err := run(t, "Resize", 19, attrs, 1, nil, x, nil, f([]int{1}, 0.6))
			if err != nil {
				t.Fatal(err)
			}
			attrs["axes"] = intList(2)
			hw, err := run(t, "Resize", 19, attrs, 1, nil, w[0], nil, f([]int{1}, 1.6))
			if err != nil {
				t.Fatal(err)
			}
			near(t, mode, both[0], []int{2, 3, 8, 4}, hw[0].F32(), 1e-5)
		}
	}
	h := &tensor.Tensor{DType: tensor.Float16, Shape: x.Shape, Data: make([]uint16, x.Len())}
	for i, v := range x.F32() {
		h.Data.([]uint16)[i] = tensor.FloatToHalf(v)
	}
	attrs := map[string]*graph.Attr{"mode": str("linear")}
	s := f([]int{4}, 1, 1, 2, 2)
	o32, err := run(t, "Resize", 19, attrs, 1, nil, x, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	o16, err := run(t, "Resize", 19, attrs, 1, nil, h, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	if o16[0].DType != tensor.Float16 {
		t.Fatalf("float16 input gave %v", o16[0].DType)
	}
	for i, v := range o32[0].F32() {
		if d := tensor.HalfToFloat(o16[0].Data.([]uint16)[i]) - v; d > 2e-3 || d < -2e-3 {
			t.Fatalf("float16 element %d off by %v", i, d)
		}
	}
}

func TestResizeNearestDTypes(t *testing.T) {
	x := &tensor.Tensor{DType: tensor.Int8, Shape: []int{2, 2}, Data: []int8{1, -2, 3, -4}}
	out, err := run(t, "Resize", 13, map[string]*graph.Attr{"mode": str("nearest")}, 1, nil, x, nil, f([]int{2}, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := out[0].Data.([]int8)
	want := []int8{1, -2, 1, -2, 3, -4, 3, -4}
	if !tensor.EqualShapes(out[0].Shape, []int{4, 2}) || len(got) != len(want) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// Upsample-7 takes its scales from an attribute; floor rounding.
	out, err = run(t, "Upsample", 7, map[string]*graph.Attr{"scales": {Type: graph.AttrFloats, Floats: []float32{1, 3}}}, 1, nil,
		f([]int{1, 2}, 5, 6))
	if err != nil {
		t.Fatal(err)
	}
	near(t, "upsample", out[0], []int{1, 6}, []float32{5, 5, 5, 6, 6, 6}, 0)
}

func TestResizeErrors(t *testing.T) {
	x := f([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	tests := []struct {
		name string
		in   []*tensor.Tensor
		want string
	}{
		{"scales length", []*tensor.Tensor{x, nil, f([]int{2}, 1, 2)}, "scales"},
		{"zero scale", []*tensor.Tensor{x, nil, f([]int{4}, 1, 1, 0, 2)}, "positive"},
		{"huge scale", []*tensor.Tensor{x, nil, f([]int{4}, 1, 1, 1e9, 1e9)}, "too large"},
		{"both", []*tensor.Tensor{x, nil, f([]int{4}, 1, 1, 2, 2), tensor.Int64s([]int{4}, []int64{1, 1, 4, 4})}, "only one"},
		{"neither", []*tensor.Tensor{x}, "required"},
		{"negative size", []*tensor.Tensor{x, nil, nil, tensor.Int64s([]int{4}, []int64{1, 1, -4, 4})}, "invalid size"},
	}
	for _, tc := range tests {
		for _, constant := range []bool{false, true} {
			_, err := run(t, "Resize", 19, map[string]*graph.Attr{"mode": str("linear")}, 1,
				[]bool{false, constant, constant, constant}, tc.in...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s (const %v): error %v, want one containing %q", tc.name, constant, err, tc.want)
			}
		}
	}
}

// TestResizeBilinearUpscale checks integer bilinear upscaling (the fast
// periodic path) against the half_pixel formula written out directly.
func TestResizeBilinearUpscale(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const h, w = 5, 9
	x := tensor.New(tensor.Float32, 2, 1, h, w)
	for i := range x.F32() {
		x.F32()[i] = r.Float32()
	}
	src := func(p float64, n int) (int, int, float32) {
		p = math.Min(math.Max(p, 0), float64(n-1))
		i0 := int(math.Floor(p))
		i1 := min(i0+1, n-1)
		return i0, i1, float32(p - float64(i0))
	}
	for _, f := range []int{2, 3} {
		out, err := run(t, "Resize", 19, map[string]*graph.Attr{"mode": str("linear")}, 1, nil,
			x, nil, tensor.Float32s([]int{4}, []float32{1, 1, float32(f), float32(f)}))
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, 0, 2*h*w*f*f)
		for b := 0; b < 2; b++ {
			plane := x.F32()[b*h*w:]
			for oy := 0; oy < h*f; oy++ {
				y0, y1, fy := src((float64(oy)+0.5)/float64(f)-0.5, h)
				for ox := 0; ox < w*f; ox++ {
					x0, x1, fx := src((float64(ox)+0.5)/float64(f)-0.5, w)
					top := plane[y0*w+x0]*(1-fx) + plane[y0*w+x1]*fx
					bot := plane[y1*w+x0]*(1-fx) + plane[y1*w+x1]*fx
					want = append(want, top*(1-fy)+bot*fy)
				}
			}
		}
		near(t, fmt.Sprint("scale ", f), out[0], []int{2, 1, h * f, w * f}, want, 1e-5)
	}
}

// TestResizePeriodicDetected makes sure 2× bilinear takes the periodic path
// that TestResizeBilinearUpscale checks.
func TestResizePeriodicDetected(t *testing.T) {
	k := &resize{mode: modeLinear, ctm: ctmHalfPixel}
	p, err := k.plan([]int{1, 1, 8, 8}, []*tensor.Tensor{nil, nil, tensor.Float32s([]int{4}, []float32{1, 1, 2, 2})})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range p.taps {
		if tp.per == nil || tp.per.f != 2 {
			t.Fatalf("axis %d: no periodic table", tp.axis)
		}
		if tp.per.reg[0] || !tp.per.reg[1] || tp.per.reg[7] {
			t.Errorf("axis %d: regular flags %v, want only the edges irregular", tp.axis, tp.per.reg)
		}
	}
}
