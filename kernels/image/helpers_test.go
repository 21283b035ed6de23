package image

import (
	"fmt"
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// run builds op (default domain) and runs it once with nOut outputs.
// Inputs listed in consts are passed to the builder as constants.
func run(t *testing.T, op string, opset int64, attrs map[string]*graph.Attr, nOut int, consts []bool, in ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	t.Helper()
	n := &graph.Node{OpType: op, Attrs: attrs}
	meta := make([]kernels.Input, len(in))
	for i, x := range in {
		n.Inputs = append(n.Inputs, "")
		if x != nil {
			n.Inputs[i] = fmt.Sprint("x", i)
			meta[i] = kernels.Input{Present: true, DType: x.DType, Shape: x.Shape}
			if i < len(consts) && consts[i] {
				meta[i].Const = x
			}
		}
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, fmt.Sprint("y", i))
	}
	build, err := kernels.Lookup("", op, opset)
	if err != nil {
		t.Fatal(err)
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, nOut)
	return out, k.Run(&kernels.Ctx{Pool: testPool}, in, out)
}

// testPool makes the kernels' parallel loops really run in parallel.
var testPool = kernels.NewPool(2)

func ints(v int64) *graph.Attr       { return &graph.Attr{Type: graph.AttrInt, Int: v} }
func intList(v ...int64) *graph.Attr { return &graph.Attr{Type: graph.AttrInts, Ints: v} }
func flt(v float32) *graph.Attr      { return &graph.Attr{Type: graph.AttrFloat, Float: v} }
func str(v string) *graph.Attr       { return &graph.Attr{Type: graph.AttrString, String: v} }
func f(shape []int, v ...float32) *tensor.Tensor {
	return tensor.Float32s(shape, v)
}

// near fails unless got has wantShape and float32 values within tol of want.
func near(t *testing.T, name string, got *tensor.Tensor, wantShape []int, want []float32, tol float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no output", name)
	}
	if !tensor.EqualShapes(got.Shape, wantShape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, wantShape)
	}
	g := got.F32()
	if len(g) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(g), len(want))
	}
	for i := range want {
		if math.Abs(float64(g[i]-want[i])) > tol || math.IsNaN(float64(g[i])) != math.IsNaN(float64(want[i])) {
			t.Fatalf("%s: element %d = %v, want %v\n got %v\nwant %v", name, i, g[i], want[i], g, want)
		}
	}
}
