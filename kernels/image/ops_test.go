package image

import (
	"fmt"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

func TestGridSample(t *testing.T) {
	x := f([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	attrs := func(mode, pad string, align int64) map[string]*graph.Attr {
		return map[string]*graph.Attr{"mode": str(mode), "padding_mode": str(pad), "align_corners": ints(align)}
	}
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		grid  []float32 // (x, y) pairs
		want  []float32
	}{
		// corners, centre (bilinear mean) and far outside (zero)
		{"linear zeros", attrs("linear", "zeros", 1), []float32{-1, -1, 1, 1, 0, 0, 3, 3}, []float32{1, 4, 2.5, 0}},
		// x = 2 clamps to the right column, y = 0 is between the rows
		{"linear border", attrs("linear", "border", 1), []float32{2, 0, -5, -1, 0, -1, 1, -1}, []float32{3, 1, 1.5, 2}},
		// x = 2 → 1.5 in pixels, mirrored to 0.5; y = -1 → row 0
		{"linear reflection", attrs("linear", "reflection", 1), []float32{2, -1, -1, -1, 1, 1, 0, 1}, []float32{1.5, 1, 4, 3.5}},
		// align_corners 0: pixel centres at ±0.5; (0.1, 0.6) rounds to (1, 1)
		{"nearest", attrs("nearest", "zeros", 0), []float32{-0.5, -0.5, 0.5, 0.5, 0.1, 0.6, -0.1, -0.9}, []float32{1, 4, 4, 1}},
		// cubic reproduces the data at pixel centres
		{"cubic", attrs("cubic", "border", 1), []float32{-1, -1, 1, -1, -1, 1, 1, 1}, []float32{1, 2, 3, 4}},
	}
	for _, tc := range tests {
		out, err := run(t, "GridSample", 22, tc.attrs, 1, nil, x, f([]int{1, 1, 4, 2}, tc.grid...))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		near(t, tc.name, out[0], []int{1, 1, 1, 4}, tc.want, 1e-6)
	}
	// Volumetric: the grid's last component indexes depth.
	x3 := f([]int{1, 1, 2, 1, 1}, 10, 20)
	out, err := run(t, "GridSample", 22, attrs("linear", "zeros", 1), 1, nil, x3, f([]int{1, 1, 1, 2, 3}, 0, 0, -1, 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	near(t, "volumetric", out[0], []int{1, 1, 1, 1, 2}, []float32{10, 15}, 1e-6)
	if _, err := run(t, "GridSample", 22, nil, 1, nil, x, f([]int{1, 1, 1, 3}, 0, 0, 0)); err == nil {
		t.Error("grid with 3 components for a 2-D image: no error")
	}
}

func TestAffineGrid(t *testing.T) {
	identity := f([]int{1, 2, 3}, 1, 0, 0, 0, 1, 0)
	size := tensor.Int64s([]int{4}, []int64{1, 1, 2, 2})
	tests := []struct {
		align int64
		want  []float32
	}{
		{1, []float32{-1, -1, 1, -1, -1, 1, 1, 1}},
		{0, []float32{-0.5, -0.5, 0.5, -0.5, -0.5, 0.5, 0.5, 0.5}},
	}
	for _, tc := range tests {
		out, err := run(t, "AffineGrid", 20, map[string]*graph.Attr{"align_corners": ints(tc.align)}, 1, nil, identity, size)
		if err != nil {
			t.Fatal(err)
		}
		near(t, fmt.Sprint("align ", tc.align), out[0], []int{1, 2, 2, 2}, tc.want, 1e-7)
	}
	// A translation by (+1, -1) shifts every point.
	shift := f([]int{1, 2, 3}, 1, 0, 1, 0, 1, -1)
	out, err := run(t, "AffineGrid", 20, map[string]*graph.Attr{"align_corners": ints(1)}, 1, nil, shift, size)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "shift", out[0], []int{1, 2, 2, 2}, []float32{0, -2, 2, -2, 0, 0, 2, 0}, 1e-7)
}

func TestRoiAlign(t *testing.T) {
	// Each row is 0 1 2 3, so values equal the x coordinate.
	x := f([]int{1, 1, 4, 4}, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3)
	rois := f([]int{1, 4}, 0, 0, 4, 4)
	bi := tensor.Int64s([]int{1}, []int64{0})
	attrs := func(mode string) map[string]*graph.Attr {
		return map[string]*graph.Attr{"mode": str(mode), "sampling_ratio": ints(2), "coordinate_transformation_mode": str("half_pixel")}
	}
	// half_pixel: the roi spans [-0.5, 3.5]; samples at x = 0.5 and 2.5.
	out, err := run(t, "RoiAlign", 22, attrs("avg"), 1, nil, x, rois, bi)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "avg", out[0], []int{1, 1, 1, 1}, []float32{1.5}, 1e-6)
	// max: the largest weighted corner, 0.25·3 at (2.5, 0.5).
	out, err = run(t, "RoiAlign", 22, attrs("max"), 1, nil, x, rois, bi)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "max", out[0], []int{1, 1, 1, 1}, []float32{0.75}, 1e-6)
	if _, err := run(t, "RoiAlign", 22, attrs("avg"), 1, nil, x, rois, tensor.Int64s([]int{1}, []int64{3})); err == nil {
		t.Error("batch index out of range: no error")
	}
}

func TestNonMaxSuppression(t *testing.T) {
	// A and B overlap with IoU 0.9/1.1; C is apart.
	boxes := f([]int{1, 3, 4}, 0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 2, 1, 3)
	scores := f([]int{1, 1, 3}, 0.9, 0.8, 0.7)
	i64 := func(v int64) *tensor.Tensor { return tensor.Int64s([]int{1}, []int64{v}) }
	tests := []struct {
		name string
		in   []*tensor.Tensor
		want []int64
	}{
		{"suppress", []*tensor.Tensor{boxes, scores, i64(10), f([]int{1}, 0.5)}, []int64{0, 0, 0, 0, 0, 2}},
		{"loose threshold", []*tensor.Tensor{boxes, scores, i64(10), f([]int{1}, 0.9)}, []int64{0, 0, 0, 0, 0, 1, 0, 0, 2}},
		{"max output", []*tensor.Tensor{boxes, scores, i64(1), f([]int{1}, 0.5)}, []int64{0, 0, 0}},
		{"score threshold", []*tensor.Tensor{boxes, scores, i64(10), f([]int{1}, 0.5), f([]int{1}, 0.75)}, []int64{0, 0, 0}},
		{"no max", []*tensor.Tensor{boxes, scores}, nil},
	}
	for _, tc := range tests {
		out, err := run(t, "NonMaxSuppression", 11, nil, 1, nil, tc.in...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := out[0].I64()
		if !tensor.EqualShapes(out[0].Shape, []int{len(tc.want) / 3, 3}) || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v %v, want %v", tc.name, out[0].Shape, got, tc.want)
		}
	}
}

func TestCol2Im(t *testing.T) {
	ones := make([]float32, 4*4)
	for i := range ones {
		ones[i] = 1
	}
	// 2×2 blocks at 4 positions of a 3×3 image: overlap counts.
	out, err := run(t, "Col2Im", 18, nil, 1, nil, f([]int{1, 4, 4}, ones...),
		tensor.Int64s([]int{2}, []int64{3, 3}), tensor.Int64s([]int{2}, []int64{2, 2}))
	if err != nil {
		t.Fatal(err)
	}
	near(t, "overlap", out[0], []int{1, 1, 3, 3}, []float32{1, 2, 1, 2, 4, 2, 1, 2, 1}, 0)
	// 1×1 blocks with stride 1 are a plain reshape.
	out, err = run(t, "Col2Im", 18, map[string]*graph.Attr{"strides": intList(1, 1)}, 1, nil, f([]int{1, 1, 4}, 1, 2, 3, 4),
		tensor.Int64s([]int{2}, []int64{2, 2}), tensor.Int64s([]int{2}, []int64{1, 1}))
	if err != nil {
		t.Fatal(err)
	}
	near(t, "1x1 blocks", out[0], []int{1, 1, 2, 2}, []float32{1, 2, 3, 4}, 0)
	if _, err := run(t, "Col2Im", 18, nil, 1, nil, f([]int{1, 4, 3}, make([]float32, 12)...),
		tensor.Int64s([]int{2}, []int64{3, 3}), tensor.Int64s([]int{2}, []int64{2, 2})); err == nil {
		t.Error("wrong block count: no error")
	}
}

func TestDeformConv(t *testing.T) {
	x := f([]int{1, 1, 3, 3}, 0, 1, 2, 3, 4, 5, 6, 7, 8)
	w := f([]int{1, 1, 2, 2}, 1, 1, 1, 1)
	zero := f([]int{1, 8, 2, 2}, make([]float32, 32)...)
	// Zero offsets: an ordinary 2×2 box filter.
	out, err := run(t, "DeformConv", 22, nil, 1, nil, x, w, zero)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "plain", out[0], []int{1, 1, 2, 2}, []float32{8, 12, 20, 24}, 1e-6)
	// dx = +1 for every tap shifts the window right; outside reads zero.
	// With a 0.5 mask and bias 1.
	shift := make([]float32, 32)
	for k := 0; k < 4; k++ {
		for p := 0; p < 4; p++ {
			shift[(2*k+1)*4+p] = 1
		}
	}
	mask := f([]int{1, 4, 2, 2}, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5)
	out, err = run(t, "DeformConv", 22, nil, 1, nil, x, w, f([]int{1, 8, 2, 2}, shift...), f([]int{1}, 1), mask)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "shifted", out[0], []int{1, 1, 2, 2}, []float32{0.5*12 + 1, 0.5*7 + 1, 0.5*24 + 1, 0.5*13 + 1}, 1e-6)
}
