// Package testmodels builds small random models for the compress tests.
package testmodels

import (
	"math/rand/v2"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

func attrInts(name string, v ...int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
}

func attrInt(name string, v int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInt, Int: v}
}

// Builder assembles a graph with random weights.
type Builder struct {
	G *graph.Graph
	r *rand.Rand
}

// New starts a graph with one float input "x" of the given shape (dim 0
// symbolic "batch").
func New(seed uint64, shape ...int) *Builder {
	dims := []graph.Dim{{Value: -1, Param: "batch"}}
	for _, d := range shape[1:] {
		dims = append(dims, graph.Dim{Value: int64(d)})
	}
	g := &graph.Graph{Name: "test", ValueInfo: map[string]graph.ValueInfo{},
		Inputs: []graph.ValueInfo{{Name: "x", DType: tensor.Float32, Shape: dims, HasShape: true}}}
	return &Builder{G: g, r: rand.New(rand.NewPCG(seed, 7))}
}

// Rand returns a tensor of normal values times scale.
func (b *Builder) Rand(scale float32, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(b.r.NormFloat64()) * scale
	}
	return t
}

// Init adds an initializer.
func (b *Builder) Init(name string, t *tensor.Tensor) string {
	b.G.AddInitializer(name, t)
	return name
}

// Node appends a node.
func (b *Builder) Node(name, op string, in []string, attrs ...*graph.Attr) string {
	n := &graph.Node{Name: name, OpType: op, Inputs: in, Outputs: []string{name + "_out"}, Attrs: map[string]*graph.Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	b.G.Nodes = append(b.G.Nodes, n)
	return n.Outputs[0]
}

// Conv appends a 3x3 "same" Conv with bias.
func (b *Builder) Conv(name, x string, cin, cout, group int) string {
	w := b.Init(name+".w", b.Rand(0.3, cout, cin/group, 3, 3))
	bias := b.Init(name+".b", b.Rand(0.1, cout))
	return b.Node(name, "Conv", []string{x, w, bias}, attrInts("kernel_shape", 3, 3), attrInts("pads", 1, 1, 1, 1), attrInt("group", int64(group)))
}

// Gemm appends a Gemm with transB weights [out, in] and bias.
func (b *Builder) Gemm(name, x string, in, out int) string {
	w := b.Init(name+".w", b.Rand(0.2, out, in))
	bias := b.Init(name+".b", b.Rand(0.1, out))
	return b.Node(name, "Gemm", []string{x, w, bias}, attrInt("transB", 1))
}

// BN appends an inference BatchNormalization with random statistics.
func (b *Builder) BN(name, x string, c int) string {
	scale := b.Init(name+".s", b.Rand(0.2, c))
	sc := b.G.Initializers[scale].F32()
	for i := range sc {
		sc[i] += 1
	}
	bias := b.Init(name+".b", b.Rand(0.1, c))
	mean := b.Init(name+".m", b.Rand(0.1, c))
	v := b.Rand(0.1, c)
	for i := range v.F32() {
		v.F32()[i] = 1 + v.F32()[i]*v.F32()[i]
	}
	vr := b.Init(name+".v", v)
	return b.Node(name, "BatchNormalization", []string{x, scale, bias, mean, vr})
}

// Model finishes the graph with output out.
func (b *Builder) Model(out string) *graph.Model {
	b.G.Outputs = []graph.ValueInfo{{Name: out, DType: tensor.Float32}}
	return &graph.Model{Graph: b.G, Opsets: map[string]int64{"": 17}, IRVersion: 8}
}

// CNN is x[batch,2,8,8] -> Conv(8) -> [BN] -> Relu -> MaxPool -> Conv(6)
// -> Relu -> Flatten -> Gemm(10) -> Relu -> Gemm(3).
func CNN(seed uint64, bn bool) *graph.Model {
	b := New(seed, 1, 2, 8, 8)
	h := b.Conv("c1", "x", 2, 8, 1)
	if bn {
		h = b.BN("bn1", h, 8)
	}
	h = b.Node("r1", "Relu", []string{h})
	h = b.Node("p1", "MaxPool", []string{h}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))
	h = b.Conv("c2", h, 8, 6, 1)
	h = b.Node("r2", "Relu", []string{h})
	h = b.Node("fl", "Flatten", []string{h}, attrInt("axis", 1))
	h = b.Gemm("f1", h, 6*4*4, 10)
	h = b.Node("r3", "Relu", []string{h})
	return b.Model(b.Gemm("f2", h, 10, 3))
}

// Residual is x[batch,4,6,6] -> Conv(4) -> Relu -> depthwise Conv -> Clip
// -> Conv(4) -> Add(x) -> GlobalAveragePool -> Flatten -> Gemm(5).
func Residual(seed uint64) *graph.Model {
	b := New(seed, 1, 4, 6, 6)
	h := b.Conv("expand", "x", 4, 4, 1)
	h = b.Node("r1", "Relu", []string{h})
	h = b.Conv("dw", h, 4, 4, 4)
	lo := b.Init("lo", tensor.Float32s([]int{}, []float32{0}))
	hi := b.Init("hi", tensor.Float32s([]int{}, []float32{6}))
	h = b.Node("clip", "Clip", []string{h, lo, hi})
	h = b.Conv("project", h, 4, 4, 1)
	h = b.Node("add", "Add", []string{h, "x"})
	h = b.Node("gap", "GlobalAveragePool", []string{h})
	h = b.Node("fl", "Flatten", []string{h}, attrInt("axis", 1))
	return b.Model(b.Gemm("fc", h, 4, 5))
}

// MLP is x[batch,1,4,4] -> Flatten -> Gemm(12) -> Relu -> MatMul(6) -> Softmax.
func MLP(seed uint64) *graph.Model {
	b := New(seed, 1, 1, 4, 4)
	h := b.Node("fl", "Flatten", []string{"x"}, attrInt("axis", 1))
	h = b.Gemm("f1", h, 16, 12)
	h = b.Node("r1", "Relu", []string{h})
	w := b.Init("mm.w", b.Rand(0.3, 12, 6))
	h = b.Node("mm", "MatMul", []string{h, w})
	return b.Model(b.Node("sm", "Softmax", []string{h}, attrInt("axis", 1)))
}

// Inputs draws n batches of rows random inputs shaped like the model's
// input (normal values, or uniform in [0, 1) when positive is set).
func Inputs(m *graph.Model, seed uint64, n, rows int, positive bool) [][]*tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 11))
	shape, _ := m.Graph.Inputs[0].StaticShape(rows)
	var out [][]*tensor.Tensor
	for i := 0; i < n; i++ {
		t := tensor.New(tensor.Float32, shape...)
		for j := range t.F32() {
			if positive {
				t.F32()[j] = float32(r.Float64())
			} else {
				t.F32()[j] = float32(r.NormFloat64())
			}
		}
		out = append(out, []*tensor.Tensor{t})
	}
	return out
}
