package partition

import (
	"fmt"
	"maps"
	"slices"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
)

// Split cuts m into a head model, which computes the cut's crossing
// tensors from the graph inputs, and a tail model, which computes the graph
// outputs from the crossing tensors. See SplitN.
func Split(m *graph.Model, cut Cut, types map[string]graph.ValueInfo) (head, tail *graph.Model, err error) {
	ms, err := SplitN(m, []Cut{cut}, types)
	if err != nil {
		return nil, nil, err
	}
	return ms[0], ms[1], nil
}

// SplitN cuts m at nested cuts (each head contains the previous one, as for
// device -> edge -> cloud) into len(cuts)+1 standalone models: piece i reads
// the crossing tensors of cut i-1 (the graph inputs for i = 0) and writes
// those of cut i (the graph outputs for the last piece). Running the pieces
// in sequence, each on the previous one's outputs, computes what m
// computes. A tensor needed beyond the next tier is passed through (it is
// both an input and an output of the middle piece); an empty piece is a
// pass-through model with no nodes.
//
// Each piece is built with graph.Extract: it holds the runtime nodes of its
// part, plus copies of the constant nodes and the initializers it reads
// (the ConstantOfShape weights of the zoo models among them). Pieces share
// node structs and initializer tensors with m; do not mutate them. types
// gives the value types of the crossing tensors so that pieces declare
// their inputs and outputs (see TypesFromShapes); the graph's own
// declarations are used first. The opsets and metadata of m are copied.
//
// SplitN checks that each cut's head is closed under predecessors, that
// the heads are nested and that the cut's crossing list is current for m.
func SplitN(m *graph.Model, cuts []Cut, types map[string]graph.ValueInfo) ([]*graph.Model, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("partition: split: nil model")
	}
	g := m.Graph
	d := NewDAG(g)
	heads := make([][]bool, len(cuts))
	for i, c := range cuts {
		heads[i] = d.HeadSet(c)
		if len(c.Head) != count(heads[i]) {
			return nil, fmt.Errorf("partition: split: cut %d names graph nodes that are not runtime nodes of %q", i, g.Name)
		}
		fresh, err := d.Cut(heads[i])
		if err != nil {
			return nil, fmt.Errorf("partition: split: cut %d: %w", i, err)
		}
		if !slices.Equal(fresh.Crossing, c.Crossing) {
			return nil, fmt.Errorf("partition: split: cut %d crosses %v, but its head crosses %v in %q (stale cut?)", i, c.Crossing, fresh.Crossing, g.Name)
		}
		if i > 0 {
			for id := range heads[i] {
				if heads[i-1][id] && !heads[i][id] {
					return nil, fmt.Errorf("partition: split: cut %d does not contain cut %d (node %s)", i, i-1, d.Nodes[id].Name)
				}
			}
		}
	}
	var graphIn, graphOut []string
	for _, v := range g.Inputs {
		graphIn = append(graphIn, v.Name)
	}
	for _, v := range g.Outputs {
		graphOut = append(graphOut, v.Name)
	}
	owner := map[*graph.Node]int{} // runtime node -> piece, to catch overlaps
	runtimeNode := map[*graph.Node]bool{}
	for _, n := range d.Nodes {
		runtimeNode[g.Nodes[n.GraphIndex]] = true
	}
	pieces := make([]*graph.Model, len(cuts)+1)
	for i := range pieces {
		in, out := graphIn, graphOut
		if i > 0 {
			in = cuts[i-1].Crossing
		}
		if i < len(cuts) {
			out = cuts[i].Crossing
		}
		name := fmt.Sprintf("%s_part%d", g.Name, i)
		sub, err := g.Extract(name, in, out, types)
		if err != nil {
			return nil, fmt.Errorf("partition: split piece %d: %w", i, err)
		}
		for _, n := range sub.Nodes {
			if !runtimeNode[n] {
				continue
			}
			if j, dup := owner[n]; dup {
				return nil, fmt.Errorf("partition: split: %s is in pieces %d and %d", n.Label(), j, i)
			}
			owner[n] = i
		}
		pieces[i] = &graph.Model{
			Graph:           sub,
			Opsets:          maps.Clone(m.Opsets),
			IRVersion:       m.IRVersion,
			ProducerName:    m.ProducerName,
			ProducerVersion: m.ProducerVersion,
			Doc:             m.Doc,
			Metadata:        maps.Clone(m.Metadata),
		}
	}
	return pieces, nil
}

func count(b []bool) int {
	n := 0
	for _, x := range b {
		if x {
			n++
		}
	}
	return n
}

// TypesFromShapes turns a traced run into value types for Split: every
// tensor a node read or wrote, and the graph inputs and outputs, with the
// dtype and the concrete shape it had. Trace an unoptimized session
// (runtime.Options{NoOptimize: true}) so that every value of the model is
// seen; the optimizer renames the outputs it fuses.
func TypesFromShapes(si *runtime.ShapeInfo) map[string]graph.ValueInfo {
	types := map[string]graph.ValueInfo{}
	add := func(t runtime.TensorInfo) {
		if t.Name == "" || t.Shape == nil {
			return
		}
		vi := graph.ValueInfo{Name: t.Name, Kind: graph.KindTensor, DType: t.DType, HasShape: true,
			Shape: make([]graph.Dim, len(t.Shape))}
		for i, d := range t.Shape {
			vi.Shape[i] = graph.Dim{Value: int64(d)}
		}
		types[t.Name] = vi
	}
	forEachInfo(si.Inputs, si.Outputs, si.Nodes, add)
	return types
}

func forEachInfo(ins, outs []runtime.TensorInfo, nodes []runtime.NodeInfo, f func(runtime.TensorInfo)) {
	for _, t := range ins {
		f(t)
	}
	for _, t := range outs {
		f(t)
	}
	for i := range nodes {
		for _, t := range nodes[i].Inputs {
			f(t)
		}
		for _, t := range nodes[i].Outputs {
			f(t)
		}
	}
}

// SizesFromShapes collects the size of every tensor a traced run saw.
// Constants that a kernel pre-packed at compile time show no size there;
// DAG.SetSizes sizes those from the graph.
func SizesFromShapes(si *runtime.ShapeInfo) Sizes {
	return sizesFrom(si.Inputs, si.Outputs, si.Nodes)
}

// SizesFromReport collects the tensor sizes a profile recorded.
func SizesFromReport(rep *runtime.ProfileReport) Sizes {
	nodes := make([]runtime.NodeInfo, len(rep.Nodes))
	for i := range rep.Nodes {
		nodes[i] = rep.Nodes[i].NodeInfo
	}
	return sizesFrom(rep.Inputs, rep.Outputs, nodes)
}

func sizesFrom(ins, outs []runtime.TensorInfo, nodes []runtime.NodeInfo) Sizes {
	s := Sizes{}
	forEachInfo(ins, outs, nodes, func(t runtime.TensorInfo) {
		if t.Name == "" || t.Shape == nil {
			return
		}
		e := int64(1)
		for _, d := range t.Shape {
			e *= int64(d)
		}
		if old, ok := s[t.Name]; ok && old.Bytes >= t.Bytes {
			return
		}
		s[t.Name] = TensorSize{DType: t.DType, Elems: e, Bytes: t.Bytes}
	})
	return s
}
