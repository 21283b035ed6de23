package shape

import (
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// TestHostileInputsNeverPanic feeds every operator of the package odd
// combinations of inputs (scalars, empty tensors, wrong dtypes, huge and
// negative values). Each run may fail, but it must fail with an error:
// runOp turns a panic into a test failure.
func TestHostileInputsNeverPanic(t *testing.T) {
	pool := []*tensor.Tensor{
		nil,
		tensor.Scalar(float32(2)),
		tensor.New(tensor.Float32, 0),
		tensor.New(tensor.Float32, 2, 0, 3),
		iota32(2, 3),
		iota32(1, 4, 2, 2),
		vec(1, -1),
		vec(math.MaxInt64, math.MinInt64),
		vec(1 << 40),
		vec(-3),
		vec(),
		tensor.Scalar(int64(-1)),
		{DType: tensor.Int32, Shape: []int{2}, Data: []int32{5, 0}},
		{DType: tensor.Bool, Shape: []int{3}, Data: []bool{true, false, true}},
		{DType: tensor.String, Shape: []int{2}, Data: []string{"a", ""}},
		{DType: tensor.Float16, Shape: []int{2}, Data: []uint16{0x3c00, 0x7e00}},
	}
	ops := []string{"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Shape", "Size",
		"Transpose", "DepthToSpace", "SpaceToDepth", "Concat", "Split", "Slice", "Gather",
		"GatherElements", "GatherND", "ScatterND", "ScatterElements", "TensorScatter", "Expand",
		"Tile", "Pad", "CenterCropPad", "ConstantOfShape", "Range", "OneHot", "EyeLike", "NonZero",
		"Compress", "Trilu", "ReverseSequence", "CumSum", "CumProd", "TopK", "Unique"}
	attrSets := [][]*graph.Attr{
		nil,
		{aInt("axis", -1), aInt("blocksize", 2), aInt("num_outputs", 2), aInt("k", 1)},
		{aInt("axis", 5), aInts("perm", 1, 0), aInt("batch_dims", 1), aStr("mode", "reflect"), aInt("blocksize", 3)},
		{aInt("axis", 1), aStr("reduction", "mul"), aInts("axes", 0, 0), aStr("mode", "CRD"), aInt("blocksize", 1)},
		{aInts("starts", -5, 1<<40), aInts("ends", 1<<62, 1), aInts("pads", 1, -9), aInts("shape", 0, -1),
			aInts("split", 1, 1), aInts("axes", 7), aFloat("value", 1), aInt("k", 99)},
	}
	outs := map[string]int{"Split": 2, "TopK": 2, "Unique": 4}
	for _, op := range ops {
		nOut := max(outs[op], 1)
		for i, attrs := range attrSets {
			opset := []int64{26, 9, 11, 13, 2}[i] // old builders read attributes instead of inputs
			for _, a := range pool {
				for _, b := range pool {
					for _, c := range pool[:7] {
						runOp(t, op, opset, attrs, nOut, a, b, c)
					}
					runOp(t, op, opset, attrs, nOut, a, b)
				}
				runOp(t, op, opset, attrs, nOut, a)
			}
		}
	}
}
