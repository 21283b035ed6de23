package quant

import (
	"fmt"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// node describes one operator application for runOp.
type node struct {
	op     string
	opset  int64
	attrs  map[string]*graph.Attr
	consts bool // give every input to the builder as a constant
	nOut   int
}

// runOp builds op through the registry and runs it once on in (nil entries
// are omitted optional inputs).
func runOp(n node, in ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	gn := &graph.Node{OpType: n.op, Attrs: n.attrs}
	meta := make([]kernels.Input, len(in))
	for i, t := range in {
		if t == nil {
			gn.Inputs = append(gn.Inputs, "")
			continue
		}
		gn.Inputs = append(gn.Inputs, fmt.Sprintf("in%d", i))
		meta[i] = kernels.Input{Present: true, DType: t.DType, Shape: t.Shape}
		if n.consts {
			meta[i].Const = t
		}
	}
	nOut := max(n.nOut, 1)
	for i := 0; i < nOut; i++ {
		gn.Outputs = append(gn.Outputs, fmt.Sprintf("out%d", i))
	}
	opset := n.opset
	if opset == 0 {
		opset = 21
	}
	build, err := kernels.Lookup("", n.op, opset)
	if err != nil {
		return nil, err
	}
	k, err := build(&kernels.BuildContext{Node: gn, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	pool := kernels.NewPool(2)
	defer pool.Close()
	out := make([]*tensor.Tensor, nOut)
	if err := k.Run(&kernels.Ctx{Pool: pool}, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// mustRun is runOp failing the test on error.
func mustRun(t *testing.T, n node, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	out, err := runOp(n, in...)
	if err != nil {
		t.Fatalf("%s: %v", n.op, err)
	}
	return out
}

func intAttr(v int64) *graph.Attr     { return &graph.Attr{Type: graph.AttrInt, Int: v} }
func intsAttr(v ...int64) *graph.Attr { return &graph.Attr{Type: graph.AttrInts, Ints: v} }
func strAttr(v string) *graph.Attr    { return &graph.Attr{Type: graph.AttrString, String: v} }

// tt wraps data in a tensor of the given shape (the dtype follows the slice).
func tt[T tensor.Elem](shape []int, data ...T) *tensor.Tensor {
	t := tensor.Scalar(data[0])
	t.Shape = shape
	t.Data = data
	return t
}

func f16(shape []int, vals ...float32) *tensor.Tensor {
	d := make([]uint16, len(vals))
	for i, v := range vals {
		d[i] = tensor.FloatToHalf(v)
	}
	return &tensor.Tensor{DType: tensor.Float16, Shape: shape, Data: d}
}

// equalTensor compares dtype, shape and exact values.
func equalTensor(t *testing.T, what string, got, want *tensor.Tensor) {
	t.Helper()
	if got.DType != want.DType || !tensor.EqualShapes(got.Shape, want.Shape) {
		t.Fatalf("%s: got %v%v, want %v%v", what, got.DType, got.Shape, want.DType, want.Shape)
	}
	for i := 0; i < want.Len(); i++ {
		if got.Float64At(i) != want.Float64At(i) {
			t.Fatalf("%s: element %d = %v, want %v\n got %v\nwant %v", what, i, got.Float64At(i), want.Float64At(i), got, want)
		}
	}
}
