package shape

import (
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// opCase runs one node and compares every output with want.
type opCase struct {
	name  string
	op    string
	opset int64
	attrs []*graph.Attr
	in    []*tensor.Tensor
	want  []*tensor.Tensor
}

func runCases(t *testing.T, cases []opCase) {
	t.Helper()
	for _, c := range cases {
		got := mustRun(t, c.op, c.opset, c.attrs, len(c.want), c.in...)
		for i, w := range c.want {
			check(t, c.name, got[i], w)
		}
	}
}

func TestReshapeFamily(t *testing.T) {
	x := iota32(2, 3, 4)
	cases := []struct {
		name      string
		shape     []int64
		allowZero int64
		want      []int
		bad       bool
	}{
		{"infer", []int64{4, -1}, 0, []int{4, 6}, false},
		{"copy dim", []int64{0, 12}, 0, []int{2, 12}, false},
		{"zero and infer", []int64{0, -1, 2}, 0, []int{2, 6, 2}, false},
		{"flat", []int64{-1}, 0, []int{24}, false},
		{"two -1", []int64{-1, -1}, 0, nil, true},
		{"mismatch", []int64{5, 5}, 0, nil, true},
		{"not divisible", []int64{5, -1}, 0, nil, true},
		{"allowzero keeps 0", []int64{0, 24}, 1, nil, true},
		{"copy beyond rank", []int64{2, 3, 4, 0}, 0, nil, true},
		{"huge", []int64{1 << 62, 1 << 62}, 0, nil, true},
		{"negative", []int64{-2, -12}, 0, nil, true},
	}
	for _, c := range cases {
		out, err := runOp(t, "Reshape", 14, []*graph.Attr{aInt("allowzero", c.allowZero)}, 1, x, vec(c.shape...))
		if c.bad {
			if err == nil {
				t.Errorf("%s: got shape %v, want an error", c.name, out[0].Shape)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !tensor.EqualShapes(out[0].Shape, c.want) || !kernels.SameBuffer(out[0], x) {
			t.Errorf("%s: got %v (shared %v), want %v sharing the input", c.name, out[0].Shape, kernels.SameBuffer(out[0], x), c.want)
		}
	}
	// allowzero with an empty input keeps the 0 dim.
	empty := tensor.New(tensor.Float32, 0, 3)
	out := mustRun(t, "Reshape", 14, []*graph.Attr{aInt("allowzero", 1)}, 1, empty, vec(3, 0))
	if !tensor.EqualShapes(out[0].Shape, []int{3, 0}) {
		t.Errorf("allowzero: shape %v", out[0].Shape)
	}
	// Opset 1 reads the shape attribute.
	out = mustRun(t, "Reshape", 1, []*graph.Attr{aInts("shape", 6, 4)}, 1, x)
	if !tensor.EqualShapes(out[0].Shape, []int{6, 4}) {
		t.Errorf("Reshape-1: shape %v", out[0].Shape)
	}

	shapeOf := func(op string, opset int64, attrs []*graph.Attr, in ...*tensor.Tensor) []int {
		t.Helper()
		y := mustRun(t, op, opset, attrs, 1, in...)[0]
		if !kernels.SameBuffer(y, in[0]) {
			t.Errorf("%s does not share its input's data", op)
		}
		return y.Shape
	}
	y := tensor.New(tensor.Float32, 2, 1, 3, 1)
	for _, c := range []struct {
		name string
		got  []int
		want []int
	}{
		{"flatten 0", shapeOf("Flatten", 13, []*graph.Attr{aInt("axis", 0)}, y), []int{1, 6}},
		{"flatten -1", shapeOf("Flatten", 13, []*graph.Attr{aInt("axis", -1)}, y), []int{6, 1}},
		{"flatten 4", shapeOf("Flatten", 13, []*graph.Attr{aInt("axis", 4)}, y), []int{6, 1}},
		{"squeeze all", shapeOf("Squeeze", 13, nil, y), []int{2, 3}},
		{"squeeze one", shapeOf("Squeeze", 13, nil, y, vec(-1)), []int{2, 1, 3}},
		{"squeeze-1 attr", shapeOf("Squeeze", 1, []*graph.Attr{aInts("axes", 1)}, y), []int{2, 3, 1}},
		{"unsqueeze", shapeOf("Unsqueeze", 13, nil, y, vec(0, -1)), []int{1, 2, 1, 3, 1, 1}},
		{"unsqueeze-11 attr", shapeOf("Unsqueeze", 11, []*graph.Attr{aInts("axes", 2)}, y), []int{2, 1, 1, 3, 1}},
		{"identity", shapeOf("Identity", 21, nil, y), []int{2, 1, 3, 1}},
	} {
		if !tensor.EqualShapes(c.got, c.want) {
			t.Errorf("%s: shape %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestShapeAndConstant(t *testing.T) {
	x := tensor.New(tensor.Float32, 2, 3, 4)
	runCases(t, []opCase{
		{"shape", "Shape", 13, nil, []*tensor.Tensor{x}, []*tensor.Tensor{vec(2, 3, 4)}},
		{"shape start", "Shape", 15, []*graph.Attr{aInt("start", -2)}, []*tensor.Tensor{x}, []*tensor.Tensor{vec(3, 4)}},
		{"shape clipped", "Shape", 15, []*graph.Attr{aInt("start", -9), aInt("end", 9)}, []*tensor.Tensor{x}, []*tensor.Tensor{vec(2, 3, 4)}},
		{"shape empty", "Shape", 15, []*graph.Attr{aInt("start", 2), aInt("end", 1)}, []*tensor.Tensor{x}, []*tensor.Tensor{vec()}},
		{"size", "Size", 13, nil, []*tensor.Tensor{x}, []*tensor.Tensor{tensor.Scalar(int64(24))}},
		{"value_ints", "Constant", 13, []*graph.Attr{aInts("value_ints", 1, 2)}, nil, []*tensor.Tensor{vec(1, 2)}},
		{"value_float", "Constant", 13, []*graph.Attr{aFloat("value_float", 2.5)}, nil, []*tensor.Tensor{tensor.Scalar(float32(2.5))}},
		{"value_string", "Constant", 13, []*graph.Attr{aStr("value_string", "hi")}, nil, []*tensor.Tensor{tensor.Scalar("hi")}},
		{"value", "Constant", 13, []*graph.Attr{aTensor("value", vec(7))}, nil, []*tensor.Tensor{vec(7)}},
	})
	if _, err := runOp(t, "Constant", 13, []*graph.Attr{aInt("value_int", 1), aFloat("value_float", 1)}, 1); err == nil {
		t.Error("Constant with two values: want an error")
	}
}

func TestSlice(t *testing.T) {
	x := iota32(3, 4)
	max64 := int64(math.MaxInt64)
	runCases(t, []opCase{
		{"basic", "Slice", 13, nil, []*tensor.Tensor{x, vec(1, 1), vec(3, 3)}, []*tensor.Tensor{f32([]int{2, 2}, 5, 6, 9, 10)}},
		{"negative step", "Slice", 13, nil, []*tensor.Tensor{x, vec(-1), vec(-max64), vec(1), vec(-2)},
			[]*tensor.Tensor{f32([]int{3, 2}, 3, 1, 7, 5, 11, 9)}},
		{"clamped", "Slice", 13, nil, []*tensor.Tensor{x, vec(-100, 2), vec(max64, 100)},
			[]*tensor.Tensor{f32([]int{3, 2}, 2, 3, 6, 7, 10, 11)}},
		{"empty", "Slice", 13, nil, []*tensor.Tensor{x, vec(2), vec(1), vec(0)}, []*tensor.Tensor{tensor.New(tensor.Float32, 0, 4)}},
		{"reverse all", "Slice", 13, nil, []*tensor.Tensor{x, vec(max64), vec(-max64), vec(0), vec(-1)},
			[]*tensor.Tensor{f32([]int{3, 4}, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3)}},
		{"huge step", "Slice", 13, nil, []*tensor.Tensor{x, vec(1), vec(4), vec(1), vec(max64)},
			[]*tensor.Tensor{f32([]int{3, 1}, 1, 5, 9)}},
		{"int32 params", "Slice", 13, nil, []*tensor.Tensor{x, {DType: tensor.Int32, Shape: []int{1}, Data: []int32{2}}, {DType: tensor.Int32, Shape: []int{1}, Data: []int32{3}}},
			[]*tensor.Tensor{f32([]int{1, 4}, 8, 9, 10, 11)}},
		{"slice-1 attrs", "Slice", 1, []*graph.Attr{aInts("starts", 1), aInts("ends", 1000), aInts("axes", 1)},
			[]*tensor.Tensor{x}, []*tensor.Tensor{f32([]int{3, 3}, 1, 2, 3, 5, 6, 7, 9, 10, 11)}},
	})
	if _, err := runOp(t, "Slice", 13, nil, 1, x, vec(0), vec(1), vec(0), vec(0)); err == nil {
		t.Error("step 0: want an error")
	}
	if _, err := runOp(t, "Slice", 13, nil, 1, x, vec(0, 0), vec(1, 1), vec(1, -1)); err == nil {
		t.Error("repeated axis: want an error")
	}
}

func TestConcatSplit(t *testing.T) {
	a, b := iota32(2, 2), f32([]int{2, 1}, 9, 8)
	runCases(t, []opCase{
		{"concat axis 1", "Concat", 13, []*graph.Attr{aInt("axis", -1)}, []*tensor.Tensor{a, b},
			[]*tensor.Tensor{f32([]int{2, 3}, 0, 1, 9, 2, 3, 8)}},
		{"concat empty", "Concat", 13, []*graph.Attr{aInt("axis", 0)}, []*tensor.Tensor{a, tensor.New(tensor.Float32, 0, 2)},
			[]*tensor.Tensor{a}},
		{"split input", "Split", 13, []*graph.Attr{aInt("axis", 1)}, []*tensor.Tensor{iota32(2, 3), vec(1, 2)},
			[]*tensor.Tensor{f32([]int{2, 1}, 0, 3), f32([]int{2, 2}, 1, 2, 4, 5)}},
		{"split attr", "Split", 11, []*graph.Attr{aInts("split", 2, 1)}, []*tensor.Tensor{iota32(3)},
			[]*tensor.Tensor{f32([]int{2}, 0, 1), f32([]int{1}, 2)}},
		{"split equal", "Split", 13, nil, []*tensor.Tensor{iota32(4)},
			[]*tensor.Tensor{f32([]int{2}, 0, 1), f32([]int{2}, 2, 3)}},
		{"num_outputs uneven", "Split", 18, []*graph.Attr{aInt("num_outputs", 3)}, []*tensor.Tensor{iota32(5)},
			[]*tensor.Tensor{f32([]int{2}, 0, 1), f32([]int{2}, 2, 3), f32([]int{1}, 4)}},
	})
	if _, err := runOp(t, "Concat", 13, []*graph.Attr{aInt("axis", 0)}, 1, a, b); err == nil {
		t.Error("concat of mismatched shapes: want an error")
	}
	if _, err := runOp(t, "Concat", 13, nil, 1, a, b); err == nil {
		t.Error("concat without axis: want an error")
	}
	if _, err := runOp(t, "Split", 13, nil, 2, iota32(3), vec(1, 1)); err == nil {
		t.Error("split not summing to the dim: want an error")
	}
	if _, err := runOp(t, "Split", 13, nil, 2, iota32(3)); err == nil {
		t.Error("uneven equal split: want an error")
	}
}

func TestGatherFamily(t *testing.T) {
	x := iota32(3, 2)
	runCases(t, []opCase{
		{"gather axis 0", "Gather", 13, nil, []*tensor.Tensor{x, i64([]int{2, 1}, 2, -3)},
			[]*tensor.Tensor{f32([]int{2, 1, 2}, 4, 5, 0, 1)}},
		{"gather axis 1 scalar", "Gather", 13, []*graph.Attr{aInt("axis", 1)}, []*tensor.Tensor{x, tensor.Scalar(int32(1))},
			[]*tensor.Tensor{f32([]int{3}, 1, 3, 5)}},
		{"gather elements", "GatherElements", 13, []*graph.Attr{aInt("axis", 1)},
			[]*tensor.Tensor{x, i64([]int{3, 2}, 1, 0, -1, 1, 0, 0)},
			[]*tensor.Tensor{f32([]int{3, 2}, 1, 0, 3, 3, 4, 4)}},
		{"gathernd", "GatherND", 13, nil, []*tensor.Tensor{x, i64([]int{2, 2}, 2, 1, 0, 0)},
			[]*tensor.Tensor{f32([]int{2}, 5, 0)}},
		{"gathernd slices", "GatherND", 13, nil, []*tensor.Tensor{x, i64([]int{2, 1}, 1, -1)},
			[]*tensor.Tensor{f32([]int{2, 2}, 2, 3, 4, 5)}},
		{"gathernd batch", "GatherND", 13, []*graph.Attr{aInt("batch_dims", 1)}, []*tensor.Tensor{x, i64([]int{3, 1}, 1, 0, 1)},
			[]*tensor.Tensor{f32([]int{3}, 1, 2, 5)}},
		{"compress", "Compress", 11, []*graph.Attr{aInt("axis", 0)},
			[]*tensor.Tensor{x, {DType: tensor.Bool, Shape: []int{2}, Data: []bool{false, true}}},
			[]*tensor.Tensor{f32([]int{1, 2}, 2, 3)}},
		{"compress flat", "Compress", 11, nil,
			[]*tensor.Tensor{x, {DType: tensor.Bool, Shape: []int{4}, Data: []bool{true, false, false, true}}},
			[]*tensor.Tensor{f32([]int{2}, 0, 3)}},
	})
	for _, c := range []struct {
		name string
		op   string
		in   []*tensor.Tensor
	}{
		{"gather out of range", "Gather", []*tensor.Tensor{x, vec(3)}},
		{"gather below range", "Gather", []*tensor.Tensor{x, vec(-4)}},
		{"gather float indices", "Gather", []*tensor.Tensor{x, f32([]int{1}, 0)}},
		{"gather elements rank", "GatherElements", []*tensor.Tensor{x, vec(0)}},
		{"gathernd too long", "GatherND", []*tensor.Tensor{x, i64([]int{1, 3}, 0, 0, 0)}},
		{"gathernd range", "GatherND", []*tensor.Tensor{x, i64([]int{1, 2}, 0, 2)}},
	} {
		if _, err := runOp(t, c.op, 13, nil, 1, c.in...); err == nil {
			t.Errorf("%s: want an error", c.name)
		}
	}
}

func TestScatterFamily(t *testing.T) {
	x := f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	idx := i64([]int{1, 3}, 1, 0, 1)
	upd := f32([]int{1, 3}, 10, 20, 30)
	dup := i64([]int{1, 2}, 2, 2)
	upd2 := f32([]int{1, 2}, 10, 20)
	runCases(t, []opCase{
		{"elements", "ScatterElements", 13, nil, []*tensor.Tensor{x, idx, upd},
			[]*tensor.Tensor{f32([]int{2, 3}, 1, 20, 3, 10, 5, 30)}},
		{"elements add dup", "ScatterElements", 16, []*graph.Attr{aInt("axis", 1), aStr("reduction", "add")},
			[]*tensor.Tensor{x, dup, upd2}, []*tensor.Tensor{f32([]int{2, 3}, 1, 2, 33, 4, 5, 6)}},
		{"elements mul dup", "ScatterElements", 16, []*graph.Attr{aInt("axis", 1), aStr("reduction", "mul")},
			[]*tensor.Tensor{x, dup, upd2}, []*tensor.Tensor{f32([]int{2, 3}, 1, 2, 600, 4, 5, 6)}},
		{"elements none dup last wins", "ScatterElements", 16, []*graph.Attr{aInt("axis", 1)},
			[]*tensor.Tensor{x, dup, upd2}, []*tensor.Tensor{f32([]int{2, 3}, 1, 2, 20, 4, 5, 6)}},
		{"scatter (deprecated)", "Scatter", 9, nil, []*tensor.Tensor{x, idx, upd},
			[]*tensor.Tensor{f32([]int{2, 3}, 1, 20, 3, 10, 5, 30)}},
		{"nd rows", "ScatterND", 13, nil, []*tensor.Tensor{x, i64([]int{1, 1}, -1), f32([]int{1, 3}, 7, 8, 9)},
			[]*tensor.Tensor{f32([]int{2, 3}, 1, 2, 3, 7, 8, 9)}},
		{"nd max", "ScatterND", 18, []*graph.Attr{aStr("reduction", "max")},
			[]*tensor.Tensor{x, i64([]int{2, 2}, 0, 0, 1, 2), f32([]int{2}, 0, 9)},
			[]*tensor.Tensor{f32([]int{2, 3}, 1, 2, 3, 4, 5, 9)}},
		{"nd min int", "ScatterND", 18, []*graph.Attr{aStr("reduction", "min")},
			[]*tensor.Tensor{vec(5, 5), i64([]int{2, 1}, 1, 1), vec(3, 4)}, []*tensor.Tensor{vec(5, 3)}},
	})
	// Half precision reductions go through float32.
	h := &tensor.Tensor{DType: tensor.Float16, Shape: []int{2}, Data: []uint16{tensor.FloatToHalf(1), tensor.FloatToHalf(2)}}
	u := &tensor.Tensor{DType: tensor.Float16, Shape: []int{1}, Data: []uint16{tensor.FloatToHalf(0.5)}}
	got := mustRun(t, "ScatterElements", 18, []*graph.Attr{aStr("reduction", "add")}, 1, h, vec(1), u)[0]
	if v := tensor.HalfToFloat(got.Data.([]uint16)[1]); v != 2.5 {
		t.Errorf("float16 add: %v, want 2.5", v)
	}
	if _, err := runOp(t, "ScatterElements", 16, []*graph.Attr{aStr("reduction", "max")}, 1, x, idx, upd); err == nil {
		t.Error("reduction max before opset 18: want an error")
	}
	if _, err := runOp(t, "ScatterElements", 13, nil, 1, x, i64([]int{1, 3}, 2, 0, 0), upd); err == nil {
		t.Error("index out of range: want an error")
	}
	if _, err := runOp(t, "ScatterND", 13, nil, 1, x, i64([]int{1, 1}, 0), upd2); err == nil {
		t.Error("bad updates shape: want an error")
	}
	// The input must not change.
	check(t, "input untouched", x, f32([]int{2, 3}, 1, 2, 3, 4, 5, 6))

	cache := iota32(2, 1, 3, 2)
	got = mustRun(t, "TensorScatter", 24, []*graph.Attr{aStr("mode", "circular")}, 1,
		cache, f32([]int{2, 1, 2, 2}, -1, -2, -3, -4, -5, -6, -7, -8), vec(2, 0))[0]
	check(t, "tensorscatter circular", got, f32([]int{2, 1, 3, 2}, -3, -4, 2, 3, -1, -2, -5, -6, -7, -8, 10, 11))
	if _, err := runOp(t, "TensorScatter", 24, nil, 1, cache, f32([]int{2, 1, 2, 2}, 0, 0, 0, 0, 0, 0, 0, 0), vec(2, 0)); err == nil {
		t.Error("linear write past the end: want an error")
	}
}

func TestPadModes(t *testing.T) {
	x := f32([]int{3}, 1, 2, 3)
	pads := vec(2, 3)
	runCases(t, []opCase{
		{"constant", "Pad", 19, nil, []*tensor.Tensor{x, pads, tensor.Scalar(float32(9))},
			[]*tensor.Tensor{f32([]int{8}, 9, 9, 1, 2, 3, 9, 9, 9)}},
		{"constant default", "Pad", 19, nil, []*tensor.Tensor{x, pads},
			[]*tensor.Tensor{f32([]int{8}, 0, 0, 1, 2, 3, 0, 0, 0)}},
		{"edge", "Pad", 19, []*graph.Attr{aStr("mode", "edge")}, []*tensor.Tensor{x, pads},
			[]*tensor.Tensor{f32([]int{8}, 1, 1, 1, 2, 3, 3, 3, 3)}},
		{"reflect", "Pad", 19, []*graph.Attr{aStr("mode", "reflect")}, []*tensor.Tensor{x, pads},
			[]*tensor.Tensor{f32([]int{8}, 3, 2, 1, 2, 3, 2, 1, 2)}},
		{"wrap", "Pad", 19, []*graph.Attr{aStr("mode", "wrap")}, []*tensor.Tensor{x, pads},
			[]*tensor.Tensor{f32([]int{8}, 2, 3, 1, 2, 3, 1, 2, 3)}},
		{"crop", "Pad", 19, nil, []*tensor.Tensor{x, vec(-1, 1)}, []*tensor.Tensor{f32([]int{3}, 2, 3, 0)}},
		{"axes", "Pad", 19, nil, []*tensor.Tensor{iota32(2, 2), vec(1, 0), nil, vec(-1)},
			[]*tensor.Tensor{f32([]int{2, 3}, 0, 0, 1, 0, 2, 3)}},
		{"2-D rows", "Pad", 11, nil, []*tensor.Tensor{iota32(1, 2), vec(1, 0, 0, 1)},
			[]*tensor.Tensor{f32([]int{2, 3}, 0, 0, 0, 0, 1, 0)}},
		{"pad-2 attrs", "Pad", 2, []*graph.Attr{aInts("pads", 1, 0), aFloat("value", 5)}, []*tensor.Tensor{x},
			[]*tensor.Tensor{f32([]int{4}, 5, 1, 2, 3)}},
		{"center crop", "CenterCropPad", 18, nil, []*tensor.Tensor{iota32(5), vec(2)}, []*tensor.Tensor{f32([]int{2}, 1, 2)}},
		{"center pad", "CenterCropPad", 18, nil, []*tensor.Tensor{iota32(2), vec(5)}, []*tensor.Tensor{f32([]int{5}, 0, 0, 1, 0, 0)}},
		{"strings", "Pad", 19, nil, []*tensor.Tensor{{DType: tensor.String, Shape: []int{1}, Data: []string{"a"}},
			vec(1, 0), tensor.Scalar("z")}, []*tensor.Tensor{{DType: tensor.String, Shape: []int{2}, Data: []string{"z", "a"}}}},
	})
	if _, err := runOp(t, "Pad", 19, nil, 1, x, vec(1<<30, 1<<30)); err == nil {
		t.Error("huge pad: want an error")
	}
	if _, err := runOp(t, "Pad", 19, nil, 1, x, vec(-3, -1)); err == nil {
		t.Error("over-crop: want an error")
	}
	if _, err := runOp(t, "Pad", 18, []*graph.Attr{aStr("mode", "wrap")}, 1, x, pads); err == nil {
		t.Error("wrap before opset 19: want an error")
	}
}

func TestExpandTileGenerators(t *testing.T) {
	runCases(t, []opCase{
		{"expand", "Expand", 13, nil, []*tensor.Tensor{f32([]int{2, 1}, 1, 2), vec(2, 3)},
			[]*tensor.Tensor{f32([]int{2, 3}, 1, 1, 1, 2, 2, 2)}},
		{"expand smaller target", "Expand", 13, nil, []*tensor.Tensor{f32([]int{1, 2}, 1, 2), vec(3, 1)},
			[]*tensor.Tensor{f32([]int{3, 2}, 1, 2, 1, 2, 1, 2)}},
		{"tile", "Tile", 13, nil, []*tensor.Tensor{f32([]int{1, 2}, 1, 2), vec(2, 2)},
			[]*tensor.Tensor{f32([]int{2, 4}, 1, 2, 1, 2, 1, 2, 1, 2)}},
		{"tile zero", "Tile", 13, nil, []*tensor.Tensor{f32([]int{2}, 1, 2), vec(0)}, []*tensor.Tensor{tensor.New(tensor.Float32, 0)}},
		{"constantofshape", "ConstantOfShape", 20, []*graph.Attr{aTensor("value", i64([]int{1}, 7))},
			[]*tensor.Tensor{vec(2)}, []*tensor.Tensor{vec(7, 7)}},
		{"constantofshape default", "ConstantOfShape", 9, nil, []*tensor.Tensor{vec(1, 2)}, []*tensor.Tensor{f32([]int{1, 2}, 0, 0)}},
		{"range int", "Range", 11, nil, []*tensor.Tensor{tensor.Scalar(int64(10)), tensor.Scalar(int64(3)), tensor.Scalar(int64(-3))},
			[]*tensor.Tensor{vec(10, 7, 4)}},
		{"range float", "Range", 11, nil, []*tensor.Tensor{tensor.Scalar(float32(0)), tensor.Scalar(float32(1)), tensor.Scalar(float32(0.25))},
			[]*tensor.Tensor{f32([]int{4}, 0, 0.25, 0.5, 0.75)}},
		{"range empty", "Range", 11, nil, []*tensor.Tensor{tensor.Scalar(int64(1)), tensor.Scalar(int64(3)), tensor.Scalar(int64(-1))},
			[]*tensor.Tensor{vec()}},
		{"onehot", "OneHot", 11, []*graph.Attr{aInt("axis", 0)}, []*tensor.Tensor{vec(1, -1, 5), tensor.Scalar(int64(3)), vec(0, 1)},
			[]*tensor.Tensor{i64([]int{3, 3}, 0, 0, 0, 1, 0, 0, 0, 1, 0)}},
		{"eyelike", "EyeLike", 9, []*graph.Attr{aInt("k", 1), aInt("dtype", int64(tensor.Int64))}, []*tensor.Tensor{iota32(2, 3)},
			[]*tensor.Tensor{i64([]int{2, 3}, 0, 1, 0, 0, 0, 1)}},
		{"nonzero", "NonZero", 13, nil, []*tensor.Tensor{f32([]int{2, 2}, 0, float32(math.Copysign(0, -1)), 3, 0.5)},
			[]*tensor.Tensor{i64([]int{2, 2}, 1, 1, 0, 1)}},
	})
	for _, c := range []struct {
		name string
		op   string
		in   []*tensor.Tensor
	}{
		{"expand huge", "Expand", []*tensor.Tensor{f32([]int{1}, 1), vec(1<<20, 1<<20)}},
		{"expand incompatible", "Expand", []*tensor.Tensor{f32([]int{2}, 1, 2), vec(3)}},
		{"tile huge", "Tile", []*tensor.Tensor{f32([]int{2}, 1, 2), vec(1 << 40)}},
		{"tile negative", "Tile", []*tensor.Tensor{f32([]int{2}, 1, 2), vec(-1)}},
		{"constantofshape huge", "ConstantOfShape", []*tensor.Tensor{vec(1<<40, 1<<40)}},
		{"constantofshape negative", "ConstantOfShape", []*tensor.Tensor{vec(-1)}},
		{"range huge", "Range", []*tensor.Tensor{tensor.Scalar(int64(0)), tensor.Scalar(int64(math.MaxInt64)), tensor.Scalar(int64(1))}},
		{"range overflow", "Range", []*tensor.Tensor{tensor.Scalar(int64(math.MinInt64)), tensor.Scalar(int64(math.MaxInt64)), tensor.Scalar(int64(1 << 62))}},
		{"range float huge", "Range", []*tensor.Tensor{tensor.Scalar(float32(0)), tensor.Scalar(float32(1e30)), tensor.Scalar(float32(1))}},
		{"range zero delta", "Range", []*tensor.Tensor{tensor.Scalar(float32(0)), tensor.Scalar(float32(1)), tensor.Scalar(float32(0))}},
		{"onehot huge depth", "OneHot", []*tensor.Tensor{vec(1, 2), tensor.Scalar(float32(1e12)), vec(0, 1)}},
	} {
		if _, err := runOp(t, c.op, 13, nil, 1, c.in...); err == nil {
			t.Errorf("%s: want an error", c.name)
		}
	}
}

func TestTopK(t *testing.T) {
	nan := float32(math.NaN())
	x := f32([]int{5}, 1, 3, 3, 2, 3)
	runCases(t, []opCase{
		{"largest ties", "TopK", 11, nil, []*tensor.Tensor{x, vec(2)},
			[]*tensor.Tensor{f32([]int{2}, 3, 3), vec(1, 2)}},
		{"smallest", "TopK", 11, []*graph.Attr{aInt("largest", 0)}, []*tensor.Tensor{x, vec(2)},
			[]*tensor.Tensor{f32([]int{2}, 1, 2), vec(0, 3)}},
		{"nan is largest", "TopK", 11, nil, []*tensor.Tensor{f32([]int{3}, 1, nan, 2), vec(1)},
			[]*tensor.Tensor{f32([]int{1}, nan), vec(1)}},
		{"axis 0", "TopK", 11, []*graph.Attr{aInt("axis", 0)}, []*tensor.Tensor{f32([]int{2, 2}, 1, 4, 3, 2), vec(1)},
			[]*tensor.Tensor{f32([]int{1, 2}, 3, 4), i64([]int{1, 2}, 1, 0)}},
		{"topk-1 attr", "TopK", 1, []*graph.Attr{aInt("k", 1)}, []*tensor.Tensor{x},
			[]*tensor.Tensor{f32([]int{1}, 3), vec(1)}},
		{"k zero", "TopK", 11, nil, []*tensor.Tensor{x, vec(0)}, []*tensor.Tensor{f32([]int{0}), vec()}},
	})
	// The heap path (k much smaller than the axis) agrees with a full sort.
	big := tensor.New(tensor.Int32, 3, 200)
	d := big.Data.([]int32)
	for i := range d {
		d[i] = int32((i * 7919) % 37)
	}
	for _, largest := range []int64{0, 1} {
		attrs := []*graph.Attr{aInt("largest", largest)}
		small := mustRun(t, "TopK", 11, attrs, 2, big, vec(5))
		full := mustRun(t, "TopK", 11, attrs, 2, big, vec(200))
		for r := 0; r < 3; r++ {
			for j := 0; j < 5; j++ {
				if small[1].I64()[r*5+j] != full[1].I64()[r*200+j] {
					t.Fatalf("largest=%d row %d: heap %v, sort %v", largest, r, small[1].I64()[r*5:r*5+5], full[1].I64()[r*200:r*200+5])
				}
			}
		}
	}
	if _, err := runOp(t, "TopK", 11, nil, 2, x, vec(6)); err == nil {
		t.Error("k > dim: want an error")
	}
}

func TestUnique(t *testing.T) {
	x := f32([]int{6}, 2, 1, 1, 3, 4, 3)
	runCases(t, []opCase{
		{"sorted", "Unique", 11, nil, []*tensor.Tensor{x},
			[]*tensor.Tensor{f32([]int{4}, 1, 2, 3, 4), vec(1, 0, 3, 4), vec(1, 0, 0, 2, 3, 2), vec(2, 1, 2, 1)}},
		{"unsorted", "Unique", 11, []*graph.Attr{aInt("sorted", 0)}, []*tensor.Tensor{x},
			[]*tensor.Tensor{f32([]int{4}, 2, 1, 3, 4), vec(0, 1, 3, 4), vec(0, 1, 1, 2, 3, 2), vec(1, 2, 2, 1)}},
		{"axis 1", "Unique", 11, []*graph.Attr{aInt("axis", 1)}, []*tensor.Tensor{f32([]int{2, 3}, 1, 0, 1, 5, 0, 5)},
			[]*tensor.Tensor{f32([]int{2, 2}, 0, 1, 0, 5), vec(1, 0), vec(1, 0, 1), vec(1, 2)}},
		{"strings", "Unique", 11, nil, []*tensor.Tensor{{DType: tensor.String, Shape: []int{3}, Data: []string{"b", "a", "b"}}},
			[]*tensor.Tensor{{DType: tensor.String, Shape: []int{2}, Data: []string{"a", "b"}}}},
	})
}

func TestCumulative(t *testing.T) {
	x := f32([]int{4}, 1, 2, 3, 4)
	axis := tensor.Scalar(int32(0))
	type variant struct {
		exclusive, reverse int64
		sum, prod          []float32
	}
	for _, v := range []variant{
		{0, 0, []float32{1, 3, 6, 10}, []float32{1, 2, 6, 24}},
		{1, 0, []float32{0, 1, 3, 6}, []float32{1, 1, 2, 6}},
		{0, 1, []float32{10, 9, 7, 4}, []float32{24, 24, 12, 4}},
		{1, 1, []float32{9, 7, 4, 0}, []float32{24, 12, 4, 1}},
	} {
		attrs := []*graph.Attr{aInt("exclusive", v.exclusive), aInt("reverse", v.reverse)}
		check(t, "cumsum", mustRun(t, "CumSum", 14, attrs, 1, x, axis)[0], f32([]int{4}, v.sum...))
		check(t, "cumprod", mustRun(t, "CumProd", 26, attrs, 1, x, axis)[0], f32([]int{4}, v.prod...))
	}
	// Along axis 0 of a matrix, rows accumulate element-wise.
	got := mustRun(t, "CumSum", 14, nil, 1, iota32(3, 2), vec(0))[0]
	check(t, "cumsum 2-D", got, f32([]int{3, 2}, 0, 1, 2, 4, 6, 9))
}

func TestTriluReverseSequence(t *testing.T) {
	x := iota32(3, 3)
	runCases(t, []opCase{
		{"triu", "Trilu", 14, nil, []*tensor.Tensor{x}, []*tensor.Tensor{f32([]int{3, 3}, 0, 1, 2, 0, 4, 5, 0, 0, 8)}},
		{"tril k=-1", "Trilu", 14, []*graph.Attr{aInt("upper", 0)}, []*tensor.Tensor{x, tensor.Scalar(int64(-1))},
			[]*tensor.Tensor{f32([]int{3, 3}, 0, 0, 0, 3, 0, 0, 6, 7, 0)}},
		{"triu k huge", "Trilu", 14, nil, []*tensor.Tensor{x, tensor.Scalar(int64(math.MaxInt64))},
			[]*tensor.Tensor{f32([]int{3, 3}, 0, 0, 0, 0, 0, 0, 0, 0, 0)}},
		{"reverse time-major", "ReverseSequence", 10, nil, []*tensor.Tensor{x, vec(3, 2, 1)},
			[]*tensor.Tensor{f32([]int{3, 3}, 6, 4, 2, 3, 1, 5, 0, 7, 8)}},
		{"reverse batch-major", "ReverseSequence", 10, []*graph.Attr{aInt("batch_axis", 0), aInt("time_axis", 1)},
			[]*tensor.Tensor{x, vec(1, 2, 3)}, []*tensor.Tensor{f32([]int{3, 3}, 0, 1, 2, 4, 3, 5, 8, 7, 6)}},
	})
	if _, err := runOp(t, "ReverseSequence", 10, nil, 1, x, vec(4, 1, 1)); err == nil {
		t.Error("sequence longer than the time axis: want an error")
	}
}

// nanAlloc fills the buffers kernels promise to overwrite (AllocUninit)
// with NaN, so a test sees any element left unwritten.
type nanAlloc struct{ kernels.HeapAllocator }

func (nanAlloc) AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	t, err := tensor.Make(dt, shape)
	if d, ok := t.Data.([]float32); ok {
		for i := range d {
			d[i] = float32(math.NaN())
		}
	}
	return t, err
}

// TestConcatLongRuns checks the batch-1 channel Concat, whose single long
// row per input is copied in pieces over the threads, with run lengths
// that do not divide evenly.
func TestConcatLongRuns(t *testing.T) {
	var ins []*tensor.Tensor
	var want []float32
	for i, c := range []int{3, 5, 1} {
		x := tensor.New(tensor.Float32, 1, c, 101, 233)
		for j := range x.F32() {
			x.F32()[j] = float32(i*1000000 + j)
		}
		ins = append(ins, x)
		want = append(want, x.F32()...)
	}
	build, err := kernels.Lookup("", "Concat", 13)
	if err != nil {
		t.Fatal(err)
	}
	n := &graph.Node{OpType: "Concat", Inputs: []string{"a", "b", "c"}, Outputs: []string{"y"},
		Attrs: map[string]*graph.Attr{"axis": aInt("axis", 1)}}
	k, err := build(&kernels.BuildContext{Node: n, Opset: 13, Inputs: make([]kernels.Input, 3)})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*tensor.Tensor, 1)
	if err := k.Run(&kernels.Ctx{Allocator: nanAlloc{}, Pool: testPool}, ins, out); err != nil {
		t.Fatal(err)
	}
	if !tensor.EqualShapes(out[0].Shape, []int{1, 9, 101, 233}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	for i, v := range out[0].F32() {
		if v != want[i] {
			t.Fatalf("y[%d] = %v, want %v", i, v, want[i])
		}
	}
}
