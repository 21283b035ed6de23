package graph

import (
	"fmt"

	"github.com/edgedl/edgedl/tensor"
)

// AttrType tells which field of an Attr is set; values are ONNX's.
type AttrType int32

// Attribute types (ONNX AttributeProto.AttributeType numbering).
const (
	AttrUndefined AttrType = 0
	AttrFloat     AttrType = 1
	AttrInt       AttrType = 2
	AttrString    AttrType = 3
	AttrTensor    AttrType = 4
	AttrGraph     AttrType = 5
	AttrFloats    AttrType = 6
	AttrInts      AttrType = 7
	AttrStrings   AttrType = 8
	AttrTensors   AttrType = 9
	AttrGraphs    AttrType = 10
	AttrSparse    AttrType = 11
	AttrTypeProto AttrType = 13
)

// Attr is one node attribute.
type Attr struct {
	Name    string
	Type    AttrType
	Float   float32
	Int     int64
	String  string
	Tensor  *tensor.Tensor
	Graph   *Graph
	Floats  []float32
	Ints    []int64
	Strings []string
	Tensors []*tensor.Tensor
	Graphs  []*Graph
	// TypeElem is the element dtype of a TYPE_PROTO attribute (tensor types only).
	TypeElem tensor.DType
}

// Node is one operator application. An empty input or output name marks an
// omitted optional argument, as in ONNX.
type Node struct {
	Name    string
	OpType  string
	Domain  string // "" and "ai.onnx" are the default domain
	Inputs  []string
	Outputs []string
	Attrs   map[string]*Attr
}

// Label names the node for error messages: its name or op and first output.
func (n *Node) Label() string {
	if n.Name != "" {
		return fmt.Sprintf("%s %q", n.OpType, n.Name)
	}
	if len(n.Outputs) > 0 {
		return fmt.Sprintf("%s -> %q", n.OpType, n.Outputs[0])
	}
	return n.OpType
}

// Dim is one dimension of a declared shape: a size, or a symbolic name, or
// unknown (Value < 0 and Param empty).
type Dim struct {
	Value int64
	Param string
}

// Known reports whether the dim has a fixed size.
func (d Dim) Known() bool { return d.Value >= 0 && d.Param == "" }

func (d Dim) String() string {
	if d.Param != "" {
		return d.Param
	}
	if d.Value < 0 {
		return "?"
	}
	return fmt.Sprint(d.Value)
}

// ValueKind distinguishes tensors from ONNX's sequence and optional values.
type ValueKind int

// Value kinds.
const (
	KindTensor ValueKind = iota
	KindSequence
	KindOptional
	KindMap
	KindSparse
	KindUnknown
)

// ValueInfo declares a value's type: element dtype and shape. Shape is nil
// when the rank is unknown.
type ValueInfo struct {
	Name  string
	Kind  ValueKind
	DType tensor.DType
	Shape []Dim
	// HasShape distinguishes an unknown rank (false) from a scalar (true, len 0).
	HasShape bool
	// Elem describes the element type of sequence and optional values.
	Elem *ValueInfo
}

// ShapeString formats the declared shape, e.g. [batch,1,28,28].
func (v ValueInfo) ShapeString() string {
	if !v.HasShape {
		return "[?...]"
	}
	s := "["
	for i, d := range v.Shape {
		if i > 0 {
			s += ","
		}
		s += d.String()
	}
	return s + "]"
}

// StaticShape returns the shape with unknown or symbolic dims replaced by
// fill; ok is false if the rank is unknown.
func (v ValueInfo) StaticShape(fill int) (shape []int, ok bool) {
	if !v.HasShape {
		return nil, false
	}
	shape = make([]int, len(v.Shape))
	for i, d := range v.Shape {
		if d.Known() {
			shape[i] = int(d.Value)
		} else {
			shape[i] = fill
		}
	}
	return shape, true
}

// Graph is a list of nodes in topological order with its interface values.
type Graph struct {
	Name    string
	Nodes   []*Node
	Inputs  []ValueInfo // runtime inputs (initializers excluded)
	Outputs []ValueInfo
	// ValueInfo holds declared types of intermediate values, by name.
	ValueInfo map[string]ValueInfo
	// Initializers are constant tensors, by name.
	Initializers map[string]*tensor.Tensor
	// InitOrder keeps the initializers' original order for stable output.
	InitOrder []string
	Doc       string
}

// Model is a graph with the opset versions it was written against.
type Model struct {
	Graph *Graph
	// Opsets maps operator domain ("" for ai.onnx) to version.
	Opsets          map[string]int64
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Doc             string
	Metadata        map[string]string
}

// Opset returns the default-domain opset version.
func (m *Model) Opset() int64 {
	if v, ok := m.Opsets[""]; ok {
		return v
	}
	return m.Opsets["ai.onnx"]
}

// NormalizeDomain maps "ai.onnx" to "".
func NormalizeDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// AddInitializer stores a constant under name, keeping InitOrder.
func (g *Graph) AddInitializer(name string, t *tensor.Tensor) {
	if g.Initializers == nil {
		g.Initializers = map[string]*tensor.Tensor{}
	}
	if _, ok := g.Initializers[name]; !ok {
		g.InitOrder = append(g.InitOrder, name)
	}
	g.Initializers[name] = t
}

// Producers maps each value name to the index of the node that writes it.
func (g *Graph) Producers() map[string]int {
	p := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				p[o] = i
			}
		}
	}
	return p
}

// Consumers maps each value name to the indices of nodes that read it.
// Reads inside subgraphs (If/Loop/Scan bodies) count as reads by the node
// that owns the subgraph.
func (g *Graph) Consumers() map[string][]int {
	c := map[string][]int{}
	for i, n := range g.Nodes {
		seen := map[string]bool{}
		for _, in := range n.AllInputs() {
			if in != "" && !seen[in] {
				seen[in] = true
				c[in] = append(c[in], i)
			}
		}
	}
	return c
}

// AllInputs returns the node's explicit inputs plus the outer-scope names its
// subgraphs read (implicit inputs).
func (n *Node) AllInputs() []string {
	var sub []*Graph
	for _, a := range n.Attrs {
		if a.Graph != nil {
			sub = append(sub, a.Graph)
		}
		sub = append(sub, a.Graphs...)
	}
	if len(sub) == 0 {
		return n.Inputs
	}
	all := append([]string{}, n.Inputs...)
	for _, g := range sub {
		all = append(all, g.OuterReads()...)
	}
	return all
}

// OuterReads lists names the graph reads that it does not define itself
// (inputs, initializers or node outputs): these come from an enclosing scope.
func (g *Graph) OuterReads() []string {
	defined := map[string]bool{}
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	for k := range g.Initializers {
		defined[k] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			defined[o] = true
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		for _, in := range n.AllInputs() {
			if in != "" && !defined[in] && !seen[in] {
				seen[in] = true
				out = append(out, in)
			}
		}
	}
	for _, o := range g.Outputs {
		if !defined[o.Name] && !seen[o.Name] {
			seen[o.Name] = true
			out = append(out, o.Name)
		}
	}
	return out
}
