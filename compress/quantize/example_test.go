package quantize_test

import (
	"fmt"
	"sort"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/compress/quantize"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/runtime"
)

// Static quantisation: calibrate on a few batches, write the QDQ model,
// and see that the runtime executes its layers as integer kernels.
func ExampleStatic() {
	m := testmodels.CNN(1, false) // Conv-Relu-MaxPool-Conv-Relu-Flatten-Gemm-Relu-Gemm
	var calib []compress.Batch
	for _, in := range testmodels.Inputs(m, 1, 4, 8, true) {
		calib = append(calib, compress.Batch{Inputs: in})
	}
	q, err := quantize.Static(m, calib, quantize.Options{Method: quantize.Percentile})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := runtime.Compile(q, runtime.Options{Threads: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	info, _ := s.InferShapes(calib[0].Inputs)
	var ops []string
	for _, n := range info.Nodes {
		ops = append(ops, n.Op)
	}
	fmt.Println(ops)
	// Output:
	// [QuantizeLinear QConv MaxPool QConv Flatten QGemm QGemm DequantizeLinear]
}

// Mixed precision: rank the layers by how much quantising each alone hurts,
// then keep the worst in float.
func ExampleCalibration_Sensitivity() {
	m := testmodels.CNN(2, false)
	var data []compress.Batch
	for _, in := range testmodels.Inputs(m, 2, 2, 16, true) {
		data = append(data, compress.Batch{Inputs: in})
	}
	c, err := quantize.Calibrate(m, data, quantize.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	sens, err := c.Sensitivity(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	var layers []string
	for _, l := range sens {
		layers = append(layers, l.Node)
	}
	sort.Strings(layers)
	fmt.Println("layers ranked:", layers)
	q, _ := c.QDQ(sens[0].Node) // the most sensitive stays float
	fmt.Println("float weight kept:", q.Graph.Initializers[sens[0].Node+".w"] != nil)
	// Output:
	// layers ranked: [c1 c2 f1 f2]
	// float weight kept: true
}
