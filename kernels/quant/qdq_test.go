package quant

import (
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

func TestQuantizeLinear(t *testing.T) {
	s := []int{}
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		in    []*tensor.Tensor
		want  *tensor.Tensor
	}{
		{
			name: "uint8 ties to even and saturation",
			in: []*tensor.Tensor{tt([]int{9}, float32(0.5), 1.5, 2.5, -0.5, 7.5, 1000, -1000, 3.3, float32(math.NaN())),
				tt(s, float32(1)), tt(s, uint8(3))},
			want: tt([]int{9}, uint8(3), 5, 5, 3, 11, 255, 0, 6, 0),
		},
		{
			name: "int8 default output when zero point is int8",
			in:   []*tensor.Tensor{tt([]int{5}, float32(-1.5), -2.5, 300, -300, 0.2), tt(s, float32(0.5)), tt(s, int8(-1))},
			want: tt([]int{5}, int8(-4), -6, 127, -128, -1),
		},
		{
			name: "no zero point gives uint8",
			in:   []*tensor.Tensor{tt([]int{3}, float32(-1), 2, 600), tt(s, float32(2)), nil},
			want: tt([]int{3}, uint8(0), 1, 255),
		},
		{
			name:  "output_dtype int16 without zero point",
			attrs: map[string]*graph.Attr{"output_dtype": intAttr(int64(tensor.Int16))},
			in:    []*tensor.Tensor{tt([]int{3}, float32(-70000), 2.5, 70000), tt(s, float32(1)), nil},
			want:  tt([]int{3}, int16(-32768), 2, 32767),
		},
		{
			name:  "per axis 1",
			attrs: map[string]*graph.Attr{"axis": intAttr(1)},
			in: []*tensor.Tensor{tt([]int{2, 3}, float32(1), 2, 3, 4, 5, 6),
				tt([]int{3}, float32(1), 2, 4), tt([]int{3}, uint8(0), 10, 20)},
			want: tt([]int{2, 3}, uint8(1), 11, 21, 4, 12, 22), // 5/2 = 2.5 -> 2, 6/4 = 1.5 -> 2
		},
		{
			name:  "per axis -1 (last)",
			attrs: map[string]*graph.Attr{"axis": intAttr(-1)},
			in: []*tensor.Tensor{tt([]int{2, 2}, float32(4), 4, 8, 8),
				tt([]int{2}, float32(1), 4), tt([]int{2}, int8(0), -1)},
			want: tt([]int{2, 2}, int8(4), 0, 8, 1),
		},
		{
			name:  "blocked along the last axis with a remainder block",
			attrs: map[string]*graph.Attr{"axis": intAttr(1), "block_size": intAttr(2)},
			in: []*tensor.Tensor{tt([]int{2, 5}, float32(2), 4, 6, 8, 10, 1, 2, 3, 4, 5),
				tt([]int{2, 3}, float32(2), 1, 10, 1, 2, 5), tt([]int{2, 3}, uint8(0), 0, 1, 0, 0, 0)},
			want: tt([]int{2, 5}, uint8(1), 2, 6, 8, 2, 1, 2, 2, 2, 1),
		},
		{
			name:  "blocked along axis 0",
			attrs: map[string]*graph.Attr{"axis": intAttr(0), "block_size": intAttr(2)},
			in: []*tensor.Tensor{tt([]int{3, 2}, float32(2), 4, 6, 8, 10, 12),
				tt([]int{2, 2}, float32(2), 4, 1, 2), nil},
			want: tt([]int{3, 2}, uint8(1), 1, 3, 2, 10, 6),
		},
		{
			name: "float16 input and scale",
			in:   []*tensor.Tensor{f16([]int{3}, 1, 3, -3), f16(s, 2), tt(s, int8(0))},
			want: tt([]int{3}, int8(0), 2, -2),
		},
		{
			name: "int32 input",
			in:   []*tensor.Tensor{tt([]int{3}, int32(5), -5, 1<<30), tt(s, float32(2)), tt(s, int16(0))},
			want: tt([]int{3}, int16(2), -2, 32767),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, consts := range []bool{false, true} {
				got := mustRun(t, node{op: "QuantizeLinear", attrs: tc.attrs, consts: consts}, tc.in...)
				equalTensor(t, tc.name, got[0], tc.want)
			}
		})
	}
}

func TestDequantizeLinear(t *testing.T) {
	s := []int{}
	half := func(v float32) float32 { return tensor.HalfToFloat(tensor.FloatToHalf(v)) }
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		in    []*tensor.Tensor
		want  *tensor.Tensor
	}{
		{
			name: "int8 per tensor",
			in:   []*tensor.Tensor{tt([]int{3}, int8(-128), 0, 127), tt(s, float32(0.5)), tt(s, int8(-1))},
			want: tt([]int{3}, float32(-63.5), 0.5, 64),
		},
		{
			name: "uint8 without zero point",
			in:   []*tensor.Tensor{tt([]int{2}, uint8(0), 255), tt(s, float32(2)), nil},
			want: tt([]int{2}, float32(0), 510),
		},
		{
			name:  "int32 per axis 0",
			attrs: map[string]*graph.Attr{"axis": intAttr(0)},
			in: []*tensor.Tensor{tt([]int{2, 2}, int32(10), -10, 3, 4),
				tt([]int{2}, float32(0.5), 2), tt([]int{2}, int32(0), 1)},
			want: tt([]int{2, 2}, float32(5), -5, 4, 6),
		},
		{
			name:  "blocked axis 0 with remainder",
			attrs: map[string]*graph.Attr{"axis": intAttr(0), "block_size": intAttr(2)},
			in: []*tensor.Tensor{tt([]int{5, 1}, uint16(1), 2, 3, 4, 5),
				tt([]int{3, 1}, float32(1), 10, 100), tt([]int{3, 1}, uint16(0), 1, 2)},
			want: tt([]int{5, 1}, float32(1), 2, 20, 30, 300),
		},
		{
			name: "float16 scale gives float16 output",
			in:   []*tensor.Tensor{tt([]int{2}, uint8(1), 3), f16(s, 0.1), tt(s, uint8(0))},
			want: f16([]int{2}, half(0.1), half(3*half(0.1))),
		},
		{
			name:  "output_dtype float32 from a float16 scale",
			attrs: map[string]*graph.Attr{"output_dtype": intAttr(int64(tensor.Float32))},
			in:    []*tensor.Tensor{tt([]int{1}, int16(-3)), f16(s, 0.5), nil},
			want:  tt([]int{1}, float32(-1.5)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, consts := range []bool{false, true} {
				got := mustRun(t, node{op: "DequantizeLinear", attrs: tc.attrs, consts: consts}, tc.in...)
				equalTensor(t, tc.name, got[0], tc.want)
			}
		})
	}
}

func TestQDQRejectsBadShapes(t *testing.T) {
	s := []int{}
	x := tt([]int{2, 3}, float32(1), 2, 3, 4, 5, 6)
	q := tt([]int{2, 3}, uint8(1), 2, 3, 4, 5, 6)
	tests := []struct {
		name  string
		op    string
		attrs map[string]*graph.Attr
		in    []*tensor.Tensor
	}{
		{"per-axis scale of the wrong length", "QuantizeLinear", nil, []*tensor.Tensor{x, tt([]int{2}, float32(1), 1), nil}},
		{"axis out of range", "QuantizeLinear", map[string]*graph.Attr{"axis": intAttr(5)}, []*tensor.Tensor{x, tt([]int{3}, float32(1), 1, 1), nil}},
		{"zero point shape differs", "QuantizeLinear", nil, []*tensor.Tensor{x, tt([]int{3}, float32(1), 1, 1), tt([]int{2}, uint8(0), 0)}},
		{"blocked scale too short", "DequantizeLinear", map[string]*graph.Attr{"block_size": intAttr(2)}, []*tensor.Tensor{q, tt([]int{2, 1}, float32(1), 1), nil}},
		{"zero point dtype differs", "DequantizeLinear", nil, []*tensor.Tensor{q, tt(s, float32(1)), tt(s, int8(0))}},
		{"output_dtype differs from zero point", "QuantizeLinear", map[string]*graph.Attr{"output_dtype": intAttr(int64(tensor.Int8))}, []*tensor.Tensor{x, tt(s, float32(1)), tt(s, uint8(0))}},
		{"scalar input, vector scale", "DequantizeLinear", nil, []*tensor.Tensor{tt(s, uint8(1)), tt([]int{2}, float32(1), 1), nil}},
	}
	for _, tc := range tests {
		if _, err := runOp(node{op: tc.op, attrs: tc.attrs}, tc.in...); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestDynamicQuantizeLinear(t *testing.T) {
	tests := []struct {
		name  string
		x     *tensor.Tensor
		y     *tensor.Tensor
		scale float32
		zero  uint8
	}{
		// the ONNX example: range [-3, 2], scale 5/255, zero point round(153) = 153
		{"mixed signs", tt([]int{6}, float32(0), 2, -3, -2.5, 1.34, 0.5), tt([]int{6}, uint8(153), 255, 0, 26, 221, 179), float32(5) / 255, 153},
		{"all zero", tt([]int{2}, float32(0), 0), tt([]int{2}, uint8(0), 0), 1, 0},
		{"all positive: range starts at 0", tt([]int{2}, float32(1), 2.55), tt([]int{2}, uint8(100), 255), float32(2.55) / 255, 0},
	}
	for _, tc := range tests {
		got := mustRun(t, node{op: "DynamicQuantizeLinear", opset: 11, nOut: 3}, tc.x)
		equalTensor(t, tc.name+" y", got[0], tc.y)
		equalTensor(t, tc.name+" scale", got[1], tt([]int{}, tc.scale))
		equalTensor(t, tc.name+" zero", got[2], tt([]int{}, tc.zero))
	}
}
