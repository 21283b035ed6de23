// Package gx holds the graph edits that the compress packages share:
// copying a model so that it can be rewritten without touching the
// caller's, turning Constant nodes into initializers, folding BatchNorm into
// Conv, naming nodes, and looking up producers and consumers.
//
// Tensors are shared between a model and its copy: passes replace
// initializers, they never modify the data of one in place.
package gx

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// Clone copies the model, its graph's node list, nodes, attribute maps and
// initializer map; tensors and subgraphs are shared.
func Clone(m *graph.Model) *graph.Model {
	c := *m
	c.Opsets = map[string]int64{}
	for k, v := range m.Opsets {
		c.Opsets[k] = v
	}
	c.Metadata = map[string]string{}
	for k, v := range m.Metadata {
		c.Metadata[k] = v
	}
	c.Graph = CloneGraph(m.Graph)
	return &c
}

// CloneGraph is Clone for a graph.
func CloneGraph(g *graph.Graph) *graph.Graph {
	c := *g
	c.Nodes = make([]*graph.Node, len(g.Nodes))
	for i, n := range g.Nodes {
		nn := *n
		nn.Inputs = append([]string(nil), n.Inputs...)
		nn.Outputs = append([]string(nil), n.Outputs...)
		nn.Attrs = make(map[string]*graph.Attr, len(n.Attrs))
		for k, v := range n.Attrs {
			a := *v
			nn.Attrs[k] = &a
		}
		c.Nodes[i] = &nn
	}
	c.Inputs = append([]graph.ValueInfo(nil), g.Inputs...)
	c.Outputs = append([]graph.ValueInfo(nil), g.Outputs...)
	c.ValueInfo = make(map[string]graph.ValueInfo, len(g.ValueInfo))
	for k, v := range g.ValueInfo {
		c.ValueInfo[k] = v
	}
	c.Initializers = make(map[string]*tensor.Tensor, len(g.Initializers))
	for k, v := range g.Initializers {
		c.Initializers[k] = v
	}
	c.InitOrder = append([]string(nil), g.InitOrder...)
	for k := range g.Initializers {
		found := false
		for _, o := range c.InitOrder {
			if o == k {
				found = true
				break
			}
		}
		if !found {
			c.InitOrder = append(c.InitOrder, k)
		}
	}
	return &c
}

// Prepare returns a copy of m ready for rewriting: Constant nodes holding
// tensors become initializers, Identity nodes are bypassed, Conv ->
// BatchNormalization pairs are folded when foldBN is set, and unnamed nodes
// get names ("Op_i"). The copy is validated.
func Prepare(m *graph.Model, foldBN bool) (*graph.Model, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("nil model")
	}
	c := Clone(m)
	g := c.Graph
	if err := g.Validate(); err != nil {
		return nil, err
	}
	ConstantsToInitializers(g)
	RemoveIdentities(g)
	if foldBN {
		FoldBatchNorm(g)
	}
	NameNodes(g)
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// IsOutput reports whether name is a graph output.
func IsOutput(g *graph.Graph, name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// IsInput reports whether name is a runtime graph input.
func IsInput(g *graph.Graph, name string) bool {
	for _, o := range g.Inputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// ConstantsToInitializers turns Constant nodes with a tensor value into
// initializers.
func ConstantsToInitializers(g *graph.Graph) {
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if n.OpType == "Constant" && graph.NormalizeDomain(n.Domain) == "" && len(n.Outputs) == 1 && len(n.Attrs) == 1 {
			if a := n.Attrs["value"]; a != nil && a.Tensor != nil && !IsOutput(g, n.Outputs[0]) {
				if _, taken := g.Initializers[n.Outputs[0]]; !taken {
					g.AddInitializer(n.Outputs[0], a.Tensor)
					continue
				}
			}
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
}

// Rename makes every reader of from read to instead (explicit inputs and
// graph outputs are not touched).
func Rename(g *graph.Graph, from, to string) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == from {
				n.Inputs[i] = to
			}
		}
	}
}

// RemoveIdentities bypasses Identity nodes whose output is not a graph
// output (graphs with subgraphs are left alone).
func RemoveIdentities(g *graph.Graph) {
	if HasSubgraphs(g) {
		return
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if n.OpType == "Identity" && graph.NormalizeDomain(n.Domain) == "" && len(n.Inputs) == 1 && len(n.Outputs) == 1 && !IsOutput(g, n.Outputs[0]) {
			Rename(g, n.Outputs[0], n.Inputs[0])
			continue
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
}

// HasSubgraphs reports whether a node carries a graph attribute.
func HasSubgraphs(g *graph.Graph) bool {
	for _, n := range g.Nodes {
		for _, a := range n.Attrs {
			if a.Graph != nil || len(a.Graphs) > 0 {
				return true
			}
		}
	}
	return false
}

// NameNodes gives every unnamed node a unique name "Op_i".
func NameNodes(g *graph.Graph) {
	used := map[string]bool{}
	for _, n := range g.Nodes {
		used[n.Name] = true
	}
	for i, n := range g.Nodes {
		if n.Name != "" {
			continue
		}
		name := fmt.Sprintf("%s_%d", n.OpType, i)
		for k := 1; used[name]; k++ {
			name = fmt.Sprintf("%s_%d_%d", n.OpType, i, k)
		}
		n.Name = name
		used[name] = true
	}
}

// Producers maps value names to the nodes that write them.
func Producers(g *graph.Graph) map[string]*graph.Node {
	p := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				p[o] = n
			}
		}
	}
	return p
}

// Consumers maps value names to the nodes that read them (once per node).
func Consumers(g *graph.Graph) map[string][]*graph.Node {
	c := map[string][]*graph.Node{}
	for _, n := range g.Nodes {
		seen := map[string]bool{}
		for _, in := range n.AllInputs() {
			if in != "" && !seen[in] {
				seen[in] = true
				c[in] = append(c[in], n)
			}
		}
	}
	return c
}

// Unique returns base, or base with a numeric suffix, such that it names
// no initializer, input, or node output of g.
func Unique(g *graph.Graph, base string) string {
	taken := func(s string) bool {
		if _, ok := g.Initializers[s]; ok {
			return true
		}
		if IsInput(g, s) || IsOutput(g, s) {
			return true
		}
		for _, n := range g.Nodes {
			for _, o := range n.Outputs {
				if o == s {
					return true
				}
			}
			for _, i := range n.Inputs {
				if i == s {
					return true
				}
			}
		}
		return false
	}
	if !taken(base) {
		return base
	}
	for i := 1; ; i++ {
		s := fmt.Sprintf("%s_%d", base, i)
		if !taken(s) {
			return s
		}
	}
}

// DropUnusedInitializers deletes initializers that no node reads and that
// are not graph outputs.
func DropUnusedInitializers(g *graph.Graph) {
	cons := Consumers(g)
	order := g.InitOrder[:0]
	for _, k := range g.InitOrder {
		if len(cons[k]) > 0 || IsOutput(g, k) {
			order = append(order, k)
		} else {
			delete(g.Initializers, k)
		}
	}
	g.InitOrder = order
	for k := range g.Initializers {
		if len(cons[k]) == 0 && !IsOutput(g, k) {
			delete(g.Initializers, k)
		}
	}
}

// Attr helpers.

// Int returns an int attribute or def.
func Int(n *graph.Node, name string, def int64) int64 {
	if a := n.Attrs[name]; a != nil {
		return a.Int
	}
	return def
}

// Float returns a float attribute or def.
func Float(n *graph.Node, name string, def float32) float32 {
	if a := n.Attrs[name]; a != nil {
		return a.Float
	}
	return def
}

// SetInt sets an int attribute.
func SetInt(n *graph.Node, name string, v int64) {
	if n.Attrs == nil {
		n.Attrs = map[string]*graph.Attr{}
	}
	n.Attrs[name] = &graph.Attr{Name: name, Type: graph.AttrInt, Int: v}
}

// Op reports whether n is the default-domain operator op.
func Op(n *graph.Node, op string) bool {
	return n.OpType == op && graph.NormalizeDomain(n.Domain) == ""
}

// ConstF32 returns the float32 initializer called name, or nil.
func ConstF32(g *graph.Graph, name string) *tensor.Tensor {
	t := g.Initializers[name]
	if t == nil || t.DType != tensor.Float32 {
		return nil
	}
	return t
}

// FoldBatchNorm rewrites Conv -> BatchNormalization (inference mode) into
// one Conv with scaled weights and bias, when the Conv output has no other
// reader.
func FoldBatchNorm(g *graph.Graph) {
	cons := Consumers(g)
	prod := Producers(g)
	dead := map[*graph.Node]bool{}
	for _, bn := range g.Nodes {
		if !Op(bn, "BatchNormalization") || len(bn.Inputs) < 5 || Int(bn, "training_mode", 0) != 0 {
			continue
		}
		extra := false
		for _, o := range bn.Outputs[1:] {
			extra = extra || o != ""
		}
		conv := prod[bn.Inputs[0]]
		if extra || conv == nil || !Op(conv, "Conv") || len(conv.Inputs) < 2 || len(cons[bn.Inputs[0]]) != 1 || IsOutput(g, bn.Inputs[0]) {
			continue
		}
		w := ConstF32(g, conv.Inputs[1])
		sc, bb, mean, vr := ConstF32(g, bn.Inputs[1]), ConstF32(g, bn.Inputs[2]), ConstF32(g, bn.Inputs[3]), ConstF32(g, bn.Inputs[4])
		if w == nil || sc == nil || bb == nil || mean == nil || vr == nil || w.Rank() < 2 {
			continue
		}
		cout := w.Shape[0]
		if sc.Len() != cout || bb.Len() != cout || mean.Len() != cout || vr.Len() != cout {
			continue
		}
		var oldB []float32
		if len(conv.Inputs) > 2 && conv.Inputs[2] != "" {
			t := ConstF32(g, conv.Inputs[2])
			if t == nil || t.Len() != cout {
				continue
			}
			oldB = t.F32()
		}
		eps := Float(bn, "epsilon", 1e-5)
		nw := w.Clone()
		per := nw.Len() / cout
		nb := make([]float32, cout)
		for c := 0; c < cout; c++ {
			f := sc.F32()[c] / float32(math.Sqrt(float64(vr.F32()[c]+eps)))
			row := nw.F32()[c*per : (c+1)*per]
			for i := range row {
				row[i] *= f
			}
			b := float32(0)
			if oldB != nil {
				b = oldB[c]
			}
			nb[c] = (b-mean.F32()[c])*f + bb.F32()[c]
		}
		wn := Unique(g, conv.Inputs[1]+"_bnfold")
		g.AddInitializer(wn, nw)
		bnName := Unique(g, conv.Inputs[1]+"_bnfold_bias")
		g.AddInitializer(bnName, tensor.Float32s([]int{cout}, nb))
		conv.Inputs = []string{conv.Inputs[0], wn, bnName}
		delete(g.ValueInfo, conv.Outputs[0])
		conv.Outputs[0] = bn.Outputs[0]
		dead[bn] = true
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if !dead[n] {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
	DropUnusedInitializers(g)
}

// WeightLayer describes a node with a constant weight matrix or kernel:
// Conv (weight [M, C/group, k...], output channels on axis 0), Gemm (B,
// output axis 0 with transB, else 1) and MatMul (constant B [K, N], output
// axis 1).
type WeightLayer struct {
	Node *graph.Node
	// Weight and Bias are initializer names (Bias "" when absent or not a
	// constant 1-D float tensor of the output size).
	Weight, Bias string
	// Axis is the weight's output-channel axis.
	Axis int
}

// WeightLayers lists the Conv, Gemm and MatMul nodes of g whose weight is a
// float32 initializer, in graph order.
func WeightLayers(g *graph.Graph) []WeightLayer {
	var out []WeightLayer
	for _, n := range g.Nodes {
		if l, ok := AsWeightLayer(g, n); ok {
			out = append(out, l)
		}
	}
	return out
}

// AsWeightLayer recognises one weight layer (see WeightLayer).
func AsWeightLayer(g *graph.Graph, n *graph.Node) (WeightLayer, bool) {
	if graph.NormalizeDomain(n.Domain) != "" || len(n.Inputs) < 2 || len(n.Outputs) != 1 {
		return WeightLayer{}, false
	}
	w := ConstF32(g, n.Inputs[1])
	if w == nil {
		return WeightLayer{}, false
	}
	l := WeightLayer{Node: n, Weight: n.Inputs[1]}
	switch n.OpType {
	case "Conv":
		if w.Rank() < 3 {
			return WeightLayer{}, false
		}
	case "Gemm":
		if w.Rank() != 2 || Int(n, "transA", 0) != 0 {
			return WeightLayer{}, false
		}
		if Int(n, "transB", 0) == 0 {
			l.Axis = 1
		}
	case "MatMul":
		if w.Rank() != 2 {
			return WeightLayer{}, false
		}
		l.Axis = 1
	default:
		return WeightLayer{}, false
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" && n.OpType != "MatMul" {
		if b := ConstF32(g, n.Inputs[2]); b != nil && b.Rank() == 1 && b.Len() == w.Shape[l.Axis] {
			l.Bias = n.Inputs[2]
		}
	}
	return l, true
}
