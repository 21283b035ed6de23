package nn_test

import (
	"fmt"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/nn"
	"github.com/edgedl/edgedl/tensor"
)

// A Conv with a fused Relu6 epilogue, as the runtime's optimizer leaves it
// after folding a Clip(0, 6) node into the convolution: a 1×1 convolution
// scaling one channel by 4, clamped to [0, 6].
func Example_fusedActivation() {
	n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"y"},
		Attrs: map[string]*graph.Attr{
			nn.AttrActivation:      {Type: graph.AttrString, String: "Clip"},
			nn.AttrActivationAlpha: {Type: graph.AttrFloat, Float: 0},
			nn.AttrActivationBeta:  {Type: graph.AttrFloat, Float: 6},
		}}
	x := tensor.Float32s([]int{1, 1, 1, 4}, []float32{-1, 0.5, 1, 2})
	w := tensor.Float32s([]int{1, 1, 1, 1}, []float32{4})
	build, _ := kernels.Lookup("", "Conv", 17)
	k, err := build(&kernels.BuildContext{Node: n, Opset: 17, Inputs: []kernels.Input{
		{Present: true, DType: x.DType, Shape: x.Shape},
		{Present: true, DType: w.DType, Shape: w.Shape, Const: w}, // weights packed at build time
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	out := make([]*tensor.Tensor, 1)
	if err := k.Run(&kernels.Ctx{}, []*tensor.Tensor{x, w}, out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out[0].F32())
	// Output: [0 2 4 6]
}
