package random

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// run builds op with attrs and runs it once; random ops must report
// themselves nondeterministic.
func run(t *testing.T, op string, opset int64, attrs map[string]*graph.Attr, in ...*tensor.Tensor) (*tensor.Tensor, error) {
	t.Helper()
	n := &graph.Node{OpType: op, Attrs: attrs, Outputs: []string{"y"}}
	meta := make([]kernels.Input, len(in))
	for i, x := range in {
		n.Inputs = append(n.Inputs, fmt.Sprint("x", i))
		meta[i] = kernels.Input{Present: true, DType: x.DType, Shape: x.Shape}
	}
	build, err := kernels.Lookup("", op, opset)
	if err != nil {
		t.Fatal(err)
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	if nd, ok := k.(kernels.Nondeterministic); op != "BitCast" && (!ok || !nd.Nondeterministic()) {
		t.Errorf("%s is not marked nondeterministic", op)
	}
	out := make([]*tensor.Tensor, 1)
	err = k.Run(&kernels.Ctx{}, in, out)
	return out[0], err
}

func runOK(t *testing.T, op string, opset int64, attrs map[string]*graph.Attr, in ...*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	y, err := run(t, op, opset, attrs, in...)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func attrF(v float32) *graph.Attr   { return &graph.Attr{Type: graph.AttrFloat, Float: v} }
func attrI(v int64) *graph.Attr     { return &graph.Attr{Type: graph.AttrInt, Int: v} }
func attrIs(v ...int64) *graph.Attr { return &graph.Attr{Type: graph.AttrInts, Ints: v} }

// TestMTMatchesNumpy checks the generator against values printed by
// numpy.random.RandomState(seed).rand / .randn.
func TestMTMatchesNumpy(t *testing.T) {
	tests := []struct {
		seed  uint32
		gauss bool
		want  []float64
	}{
		{0, false, []float64{0.5488135039273248, 0.7151893663724195}},
		{0, true, []float64{1.764052345967664, 0.4001572083672233, 0.9787379841057392}},
		{42, true, []float64{0.4967141530112327, -0.13826430117118466}},
	}
	for _, tc := range tests {
		m := newMT(tc.seed)
		for i, w := range tc.want {
			g := m.double
			if tc.gauss {
				g = m.gaussian
			}
			if v := g(); math.Abs(v-w) > 1e-15 {
				t.Errorf("seed %d gauss %v value %d = %v, want %v", tc.seed, tc.gauss, i, v, w)
			}
		}
	}
}

func TestSeededGenerators(t *testing.T) {
	// RandomUniform, seed 0, [2,4): 2 + 2·U in float32.
	u := runOK(t, "RandomUniform", 22, map[string]*graph.Attr{"seed": attrF(0), "low": attrF(2), "high": attrF(4), "shape": attrIs(2)})
	want := []float32{float32(0.5488135039273248)*2 + 2, float32(0.7151893663724195)*2 + 2}
	if u.DType != tensor.Float32 || !tensor.EqualShapes(u.Shape, []int{2}) || u.F32()[0] != want[0] || u.F32()[1] != want[1] {
		t.Errorf("RandomUniform = %v, want %v", u, want)
	}
	// RandomNormalLike keeps the input's shape; dtype double; scale/mean.
	x := tensor.New(tensor.Float64, 3)
	nrm := runOK(t, "RandomNormalLike", 22, map[string]*graph.Attr{"seed": attrF(0), "mean": attrF(1), "scale": attrF(2)}, x)
	for i, z := range []float64{1.764052345967664, 0.4001572083672233, 0.9787379841057392} {
		if g := nrm.Data.([]float64)[i]; math.Abs(g-(2*z+1)) > 1e-12 {
			t.Errorf("RandomNormalLike[%d] = %v, want %v", i, g, 2*z+1)
		}
	}
	// Bernoulli, seed 7, matches numpy's RandomState(7).binomial(1, p).
	p := tensor.Float32s([]int{6}, []float32{0.1, 0.9, 0.5, 0, 1, 0.3})
	b := runOK(t, "Bernoulli", 22, map[string]*graph.Attr{"seed": attrF(7)}, p)
	for i, w := range []float32{0, 1, 0, 0, 1, 0} {
		if b.F32()[i] != w {
			t.Fatalf("Bernoulli = %v, want [0 1 0 0 1 0]", b.F32())
		}
	}
	// Same seed, same output on every run.
	b2 := runOK(t, "Bernoulli", 22, map[string]*graph.Attr{"seed": attrF(7), "dtype": attrI(int64(tensor.Bool))}, p)
	for i, v := range b2.Data.([]bool) {
		if v != (b.F32()[i] == 1) {
			t.Fatalf("second seeded run differs: %v", b2.Data)
		}
	}
}

func TestUnseededGenerators(t *testing.T) {
	u := runOK(t, "RandomUniform", 22, map[string]*graph.Attr{"shape": attrIs(4, 100), "dtype": attrI(int64(tensor.Float16))})
	if u.DType != tensor.Float16 || !tensor.EqualShapes(u.Shape, []int{4, 100}) {
		t.Fatalf("got %v %v", u.DType, u.Shape)
	}
	distinct := map[uint16]bool{}
	for _, h := range u.Data.([]uint16) {
		if v := tensor.HalfToFloat(h); v < 0 || v > 1 {
			t.Fatalf("uniform value %v outside [0,1]", v)
		}
		distinct[h] = true
	}
	if len(distinct) < 50 {
		t.Errorf("only %d distinct values in 400 uniform draws", len(distinct))
	}
	m := runOK(t, "Multinomial", 22, map[string]*graph.Attr{"sample_size": attrI(5), "dtype": attrI(int64(tensor.Int64))},
		tensor.Float32s([]int{2, 2}, []float32{0, -1000, -1000, 0}))
	for i, v := range m.I64() {
		if want := int64(i / 5); v != want {
			t.Fatalf("Multinomial = %v, want five 0s then five 1s", m.I64())
		}
	}
	if _, err := run(t, "Bernoulli", 22, nil, tensor.Float32s([]int{1}, []float32{1.5})); err == nil {
		t.Error("probability 1.5: no error")
	}
}

func TestBitCast(t *testing.T) {
	tests := []struct {
		name string
		in   *tensor.Tensor
		to   tensor.DType
		want any
	}{
		{"float32 to int32", tensor.Float32s([]int{2}, []float32{1, -2}), tensor.Int32, []int32{0x3f800000, -0x40000000}},
		{"int8 to uint8", &tensor.Tensor{DType: tensor.Int8, Shape: []int{2}, Data: []int8{-1, 5}}, tensor.Uint8, []uint8{255, 5}},
		{"bool to uint8", &tensor.Tensor{DType: tensor.Bool, Shape: []int{2}, Data: []bool{true, false}}, tensor.Uint8, []uint8{1, 0}},
		{"int64 to float64", tensor.Int64s([]int{}, []int64{0x3ff0000000000000}), tensor.Float64, []float64{1}},
	}
	for _, tc := range tests {
		y := runOK(t, "BitCast", 26, map[string]*graph.Attr{"to": attrI(int64(tc.to))}, tc.in)
		if y.DType != tc.to || !tensor.EqualShapes(y.Shape, tc.in.Shape) || fmt.Sprint(y.Data) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v %v %v, want %v", tc.name, y.DType, y.Shape, y.Data, tc.want)
		}
	}
	_, err := run(t, "BitCast", 26, map[string]*graph.Attr{"to": attrI(int64(tensor.Int64))}, tensor.Float32s([]int{1}, []float32{1}))
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("float32 to int64: error %v", err)
	}
}
