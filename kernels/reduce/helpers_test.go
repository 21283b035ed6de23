package reduce

import (
	"fmt"
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// attrs builds a node attribute map from Go values.
func attrs(kv ...any) map[string]*graph.Attr {
	m := map[string]*graph.Attr{}
	for i := 0; i < len(kv); i += 2 {
		name := kv[i].(string)
		a := &graph.Attr{Name: name}
		switch v := kv[i+1].(type) {
		case int:
			a.Type, a.Int = graph.AttrInt, int64(v)
		case float32:
			a.Type, a.Float = graph.AttrFloat, v
		case string:
			a.Type, a.String = graph.AttrString, v
		case []int64:
			a.Type, a.Ints = graph.AttrInts, v
		default:
			panic(fmt.Sprintf("attrs: %T", v))
		}
		m[name] = a
	}
	return m
}

// runOp builds op (default domain) at opset and runs it once on ins (nil
// entries are omitted optional inputs); constIn marks inputs given to the
// builder as constants. ctx may be nil for a serial run.
func runOp(ctx *kernels.Ctx, op string, opset int64, a map[string]*graph.Attr, nOut int, constIn []bool, ins ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	n := &graph.Node{OpType: op, Attrs: a}
	meta := make([]kernels.Input, len(ins))
	for i, t := range ins {
		if t == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		n.Inputs = append(n.Inputs, fmt.Sprintf("in%d", i))
		meta[i] = kernels.Input{Present: true, DType: t.DType, Shape: t.Shape}
		if i < len(constIn) && constIn[i] {
			meta[i].Const = t
		}
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, fmt.Sprintf("out%d", i))
	}
	build, err := kernels.Lookup("", op, opset)
	if err != nil {
		return nil, err
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, nOut)
	if err := k.Run(ctx, ins, out); err != nil {
		return nil, err
	}
	return out, nil
}

// near reports whether got matches want within a relative tolerance.
func near(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol*(1+math.Abs(want))
}

// checkTensor compares t with want (float64 values) and a shape.
func checkTensor(t *testing.T, name string, got *tensor.Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no output", name)
	}
	if !tensor.EqualShapes(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, shape)
	}
	if got.Len() != len(want) {
		t.Fatalf("%s: %d elements, want %d", name, got.Len(), len(want))
	}
	for i, w := range want {
		if g := got.Float64At(i); !near(g, w, tol) {
			t.Fatalf("%s: element %d = %v, want %v", name, i, g, w)
		}
	}
}

// lcg is a tiny deterministic generator for test data.
type lcg uint64

func (r *lcg) next() uint64 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return uint64(*r >> 11)
}

// float returns a value in [-1, 1).
func (r *lcg) float() float64 { return float64(r.next()%(1<<20))/(1<<19) - 1 }

func (r *lcg) intn(n int) int { return int(r.next() % uint64(n)) }

func randTensor(r *lcg, dt tensor.DType, shape ...int) *tensor.Tensor {
	t := tensor.New(dt, shape...)
	vals := make([]float64, t.Len())
	for i := range vals {
		if dt.IsFloat() {
			vals[i] = r.float() * 2
		} else {
			vals[i] = float64(r.intn(7) - 3)
		}
	}
	setFloat64s(t, 0, vals)
	return t
}

func float64s(shape []int, v []float64) *tensor.Tensor {
	t, err := tensor.FromSlice(tensor.Float64, shape, v)
	if err != nil {
		panic(err)
	}
	return t
}
