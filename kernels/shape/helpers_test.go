package shape

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// testPool gives tests real parallelism so chunked loops are exercised.
var testPool = kernels.NewPool(3)

// attr builders for test nodes.
func aInt(name string, v int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInt, Int: v}
}
func aInts(name string, v ...int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
}
func aStr(name, v string) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrString, String: v}
}
func aFloat(name string, v float32) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrFloat, Float: v}
}
func aTensor(name string, v *tensor.Tensor) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrTensor, Tensor: v}
}

// runOp builds op at the given opset with the attributes and runs it once
// on the inputs (nil for an omitted input). A panic fails the test: bad
// input must give an error.
func runOp(t testing.TB, op string, opset int64, attrs []*graph.Attr, nOut int, in ...*tensor.Tensor) (out []*tensor.Tensor, err error) {
	t.Helper()
	n := &graph.Node{OpType: op, Attrs: map[string]*graph.Attr{}}
	meta := make([]kernels.Input, len(in))
	for i, x := range in {
		name := ""
		if x != nil {
			name = fmt.Sprintf("in%d", i)
			meta[i] = kernels.Input{Present: true, DType: x.DType, Shape: x.Shape}
		}
		n.Inputs = append(n.Inputs, name)
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, fmt.Sprintf("out%d", i))
	}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", op, r)
		}
	}()
	build, err := kernels.Lookup("", op, opset)
	if err != nil {
		return nil, err
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	out = make([]*tensor.Tensor, nOut)
	ctx := &kernels.Ctx{Allocator: kernels.HeapAllocator{}, Pool: testPool}
	if err := k.Run(ctx, in, out); err != nil {
		return nil, err
	}
	for i, o := range out {
		if o == nil {
			t.Fatalf("%s: output %d not set", op, i)
		}
		if o.Len() != product(o.Shape) {
			t.Fatalf("%s: output %d has shape %v but %d elements", op, i, o.Shape, o.Len())
		}
	}
	return out, nil
}

// mustRun is runOp that fails the test on error.
func mustRun(t testing.TB, op string, opset int64, attrs []*graph.Attr, nOut int, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	out, err := runOp(t, op, opset, attrs, nOut, in...)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return out
}

func f32(shape []int, v ...float32) *tensor.Tensor { return tensor.Float32s(shape, v) }
func i64(shape []int, v ...int64) *tensor.Tensor   { return tensor.Int64s(shape, v) }
func vec(v ...int64) *tensor.Tensor                { return tensor.Int64s([]int{len(v)}, v) }

// iota32 is a float32 tensor holding 0, 1, 2, ...
func iota32(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(i)
	}
	return t
}

// equal compares dtype, shape and values (NaNs equal).
func equal(got, want *tensor.Tensor) error {
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !tensor.EqualShapes(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if got.Len() == 0 && want.Len() == 0 {
		return nil
	}
	if g, ok := got.Data.([]float32); ok {
		w := want.F32()
		for i := range w {
			if g[i] != w[i] && !(math.IsNaN(float64(g[i])) && math.IsNaN(float64(w[i]))) {
				return fmt.Errorf("element %d = %v, want %v (got %v)", i, g[i], w[i], g)
			}
		}
		return nil
	}
	if !reflect.DeepEqual(got.Data, want.Data) {
		return fmt.Errorf("got %v, want %v", got.Data, want.Data)
	}
	return nil
}

func check(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	if err := equal(got, want); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}
