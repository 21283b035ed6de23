package partition

import (
	"fmt"
	"sort"
	"strings"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// DAG is the planner's view of a graph: the nodes that run for every
// inference ("runtime nodes"), in a topological order, and the runtime values
// they exchange. Constants are left out: initializers, and the outputs of
// nodes whose inputs are all constant (Constant, ConstantOfShape weights,
// shape arithmetic on initializers). Such nodes never need to run at
// inference time and their values never cross a link: Split copies them
// into every piece that reads them.
//
// A DAG is built once per graph (NewDAG) and then read concurrently; only
// SetSizes writes to it.
type DAG struct {
	// Graph is the graph the DAG describes (not copied).
	Graph *graph.Graph
	// Nodes are the runtime nodes in topological order: the graph's own
	// order where it is already topological (as after graph.Validate),
	// otherwise Kahn's order taking the lowest graph index first.
	Nodes []Node
	// Values are the runtime values: the graph inputs first, in graph
	// order, then each node's outputs in node order.
	Values []Value

	valueID   map[string]int
	nodeName  map[string]int // graph node name -> DAG node
	consts    map[string]bool
	constSize map[string]int64
	// ConstOutputs lists graph outputs that are constants (computed by
	// whichever piece produces the graph outputs).
	ConstOutputs []string
	sized        bool
	missing      []string
	inputBytes   int64
	// Set by SetSizes: constants numbered, per node the constants it
	// reads, and per node the bytes of the constants it is the first
	// (in topological order) to read.
	constBytesByID []int64
	nodeConsts     [][]int
	firstWeights   []int64
}

// Node is one runtime node of a DAG.
type Node struct {
	// ID is the node's position in DAG.Nodes (its topological rank).
	ID int
	// GraphIndex is the node's index in Graph.Nodes.
	GraphIndex int
	// Name is the graph node's name, or its first output's name when it
	// has none (value names are unique, so this names the node).
	Name string
	Op   string
	// Inputs are the distinct runtime values the node reads (including the
	// outer-scope reads of its subgraphs), by value ID, ascending.
	Inputs []int
	// Outputs are the runtime values it writes, by value ID.
	Outputs []int
	// Preds are the distinct nodes producing its inputs, ascending.
	Preds []int
	// Consts are the distinct constant values it reads (weights).
	Consts []string
}

// Value is one runtime value of a DAG.
type Value struct {
	ID   int
	Name string
	// Producer is the DAG node writing the value, or -1 for a graph input.
	Producer int
	// Consumers are the DAG nodes reading it, ascending, distinct.
	Consumers []int
	// Output marks a graph output.
	Output bool
	// Size is set by DAG.SetSizes.
	Size TensorSize
}

// last is the highest topological rank at which v is still needed: its last
// consumer, len(Nodes) for a graph output, or -1 for a value nobody reads.
func (d *DAG) last(v *Value) int {
	if v.Output {
		return len(d.Nodes)
	}
	if len(v.Consumers) == 0 {
		return -1
	}
	return v.Consumers[len(v.Consumers)-1]
}

// randomOps never fold: their outputs differ from run to run.
var randomOps = map[string]bool{
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true,
	"RandomUniformLike": true, "Multinomial": true, "Bernoulli": true,
}

// NewDAG analyses g, which should be valid (graph.Validate). Names read but
// defined nowhere are treated as constants (they cannot cross a link).
func NewDAG(g *graph.Graph) *DAG {
	d := &DAG{Graph: g, valueID: map[string]int{}, nodeName: map[string]int{}, consts: map[string]bool{}}
	inputs := map[string]bool{}
	for _, v := range g.Inputs {
		inputs[v.Name] = true
	}
	for k := range g.Initializers {
		if !inputs[k] {
			d.consts[k] = true
		}
	}
	defined := map[string]bool{}
	for k := range inputs {
		defined[k] = true
	}
	for k := range d.consts {
		defined[k] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				defined[o] = true
			}
		}
	}
	// Constness is a fixpoint over the node list: one pass in topological
	// order, a few more if the list is not sorted.
	constNode := make([]bool, len(g.Nodes))
	for changed := true; changed; {
		changed = false
		for i, n := range g.Nodes {
			if constNode[i] || !isConstNode(n, d.consts, defined) {
				continue
			}
			constNode[i], changed = true, true
			for _, o := range n.Outputs {
				if o != "" {
					d.consts[o] = true
				}
			}
		}
	}
	runtimeNode := make([]bool, len(g.Nodes))
	for i := range runtimeNode {
		runtimeNode[i] = !constNode[i]
	}
	// Topological order of runtime nodes (stable).
	order := topoOrder(g, runtimeNode)
	for _, v := range g.Inputs {
		d.addValue(v.Name, -1)
	}
	for id, gi := range order {
		n := g.Nodes[gi]
		name := n.Name
		if name == "" {
			for _, o := range n.Outputs {
				if o != "" {
					name = o
					break
				}
			}
		}
		d.Nodes = append(d.Nodes, Node{ID: id, GraphIndex: gi, Name: name, Op: n.OpType})
		if n.Name != "" {
			d.nodeName[n.Name] = id
		}
		for _, o := range n.Outputs {
			if o != "" {
				d.Nodes[id].Outputs = append(d.Nodes[id].Outputs, d.addValue(o, id))
			}
		}
	}
	for id := range d.Nodes {
		nd := &d.Nodes[id]
		n := g.Nodes[nd.GraphIndex]
		seenV := map[int]bool{}
		seenC := map[string]bool{}
		for _, in := range n.AllInputs() {
			if in == "" {
				continue
			}
			if vid, ok := d.valueID[in]; ok {
				if !seenV[vid] {
					seenV[vid] = true
					nd.Inputs = append(nd.Inputs, vid)
				}
			} else if !seenC[in] {
				seenC[in] = true
				nd.Consts = append(nd.Consts, in)
			}
		}
		sort.Ints(nd.Inputs)
		preds := map[int]bool{}
		for _, vid := range nd.Inputs {
			v := &d.Values[vid]
			v.Consumers = append(v.Consumers, id)
			if v.Producer >= 0 && !preds[v.Producer] {
				preds[v.Producer] = true
				nd.Preds = append(nd.Preds, v.Producer)
			}
		}
		sort.Ints(nd.Preds)
	}
	seenOut := map[string]bool{}
	for _, o := range g.Outputs {
		if vid, ok := d.valueID[o.Name]; ok {
			d.Values[vid].Output = true
		} else if !seenOut[o.Name] {
			d.ConstOutputs = append(d.ConstOutputs, o.Name)
		}
		seenOut[o.Name] = true
	}
	return d
}

func (d *DAG) addValue(name string, producer int) int {
	if id, ok := d.valueID[name]; ok {
		return id
	}
	id := len(d.Values)
	d.valueID[name] = id
	d.Values = append(d.Values, Value{ID: id, Name: name, Producer: producer})
	return id
}

// isConstNode reports whether every input of n is constant (or omitted) and
// n is deterministic: such a node is folded at compile time.
func isConstNode(n *graph.Node, consts, defined map[string]bool) bool {
	if randomOps[n.OpType] {
		return false
	}
	for _, in := range n.AllInputs() {
		if in != "" && !consts[in] && defined[in] {
			return false
		}
	}
	return true
}

// topoOrder lists the runtime nodes' graph indices so that producers come
// first, keeping graph order where it already is topological.
func topoOrder(g *graph.Graph, runtimeNode []bool) []int {
	prod := map[string]int{}
	for i, n := range g.Nodes {
		if runtimeNode[i] {
			for _, o := range n.Outputs {
				if o != "" {
					prod[o] = i
				}
			}
		}
	}
	n := len(g.Nodes)
	indeg := make([]int, n)
	succ := make([][]int, n)
	sorted := true
	for i, node := range g.Nodes {
		if !runtimeNode[i] {
			continue
		}
		seen := map[int]bool{}
		for _, in := range node.AllInputs() {
			p, ok := prod[in]
			if !ok || p == i || seen[p] {
				continue
			}
			seen[p] = true
			indeg[i]++
			succ[p] = append(succ[p], i)
			if p > i {
				sorted = false
			}
		}
	}
	var order []int
	if sorted {
		for i := range g.Nodes {
			if runtimeNode[i] {
				order = append(order, i)
			}
		}
		return order
	}
	// Kahn with the lowest index first (n is small; a linear scan will do).
	done := make([]bool, n)
	for {
		pick := -1
		for i := 0; i < n; i++ {
			if runtimeNode[i] && !done[i] && indeg[i] == 0 {
				pick = i
				break
			}
		}
		if pick < 0 {
			break
		}
		done[pick] = true
		order = append(order, pick)
		for _, s := range succ[pick] {
			indeg[s]--
		}
	}
	for i := 0; i < n; i++ { // a cycle: keep the rest in graph order
		if runtimeNode[i] && !done[i] {
			order = append(order, i)
		}
	}
	return order
}

// IsConst reports whether the named value is a constant of the graph.
func (d *DAG) IsConst(name string) bool { return d.consts[name] }

// ValueID returns the ID of a runtime value.
func (d *DAG) ValueID(name string) (int, bool) {
	id, ok := d.valueID[name]
	return id, ok
}

// NodeByName returns the DAG node with the given graph node name, or,
// failing that, the node producing the named value.
func (d *DAG) NodeByName(name string) (int, bool) {
	if id, ok := d.nodeName[name]; ok {
		return id, true
	}
	if vid, ok := d.valueID[name]; ok && d.Values[vid].Producer >= 0 {
		return d.Values[vid].Producer, true
	}
	return 0, false
}

// TensorSize is the element type and count of a value.
type TensorSize struct {
	DType tensor.DType
	Elems int64
	// Bytes is the size of the element data as the runtime holds it.
	Bytes int64
}

// Sizes maps value names to their sizes, as measured by a traced run (see
// SizesFromShapes) or declared.
type Sizes map[string]TensorSize

// sameShapeOps produce an output with the shape and type of their first
// input: used to size values that the optimizer fused away (a Conv output
// followed by BatchNormalization or Relu) from their neighbours.
var sameShapeOps = map[string]bool{
	"Relu": true, "Clip": true, "BatchNormalization": true, "Sigmoid": true,
	"HardSwish": true, "HardSigmoid": true, "LeakyRelu": true, "Identity": true,
	"Dropout": true, "Tanh": true, "Elu": true, "Selu": true, "Gelu": true,
	"Softplus": true, "PRelu": true, "LRN": true, "InstanceNormalization": true,
}

// elementwiseOps broadcast their inputs to their output: a runtime input
// of unknown size is taken to be the output's size. This sizes the
// branch that a fused residual block (Conv -> Add -> Relu in one kernel)
// hides from a profile; a broadcast runtime input would be over-counted.
var elementwiseOps = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Sum": true, "Max": true, "Min": true, "Mean": true,
}

// SetSizes records the size of every runtime value and of every constant a
// runtime node reads (its weights). Values missing from s are sized from
// the graph's declared static shapes, or from a same-shape neighbour (the
// input or output of Relu, Clip, BatchNormalization..., the output of an
// elementwise Add or Mul for its unknown inputs), which covers the
// values a fused profile does not see. Constants come from the
// initializers, Constant and ConstantOfShape nodes, or s. It returns an
// error naming the runtime values it could not size (they count as 0
// bytes); the DAG is usable regardless.
func (d *DAG) SetSizes(s Sizes) error {
	g := d.Graph
	known := make([]bool, len(d.Values))
	for i := range d.Values {
		v := &d.Values[i]
		if ts, ok := s[v.Name]; ok {
			v.Size, known[i] = ts, true
			continue
		}
		if ts, ok := declaredSize(d.declared(v.Name)); ok {
			v.Size, known[i] = ts, true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, nd := range d.Nodes {
			n := g.Nodes[nd.GraphIndex]
			if elementwiseOps[n.OpType] && len(n.Outputs) > 0 {
				if out, ok := d.valueID[n.Outputs[0]]; ok && known[out] {
					for _, name := range n.Inputs {
						if in, ok := d.valueID[name]; ok && !known[in] {
							d.Values[in].Size, known[in], changed = d.Values[out].Size, true, true
						}
					}
				}
			}
			if !sameShapeOps[n.OpType] || len(n.Inputs) == 0 || len(n.Outputs) == 0 {
				continue
			}
			in, ok1 := d.valueID[n.Inputs[0]]
			out, ok2 := d.valueID[n.Outputs[0]]
			if !ok1 || !ok2 {
				continue
			}
			if known[in] && !known[out] {
				d.Values[out].Size, known[out], changed = d.Values[in].Size, true, true
			} else if known[out] && !known[in] {
				d.Values[in].Size, known[in], changed = d.Values[out].Size, true, true
			}
		}
	}
	d.missing = d.missing[:0]
	for i := range d.Values {
		if !known[i] && (len(d.Values[i].Consumers) > 0 || d.Values[i].Output) {
			d.missing = append(d.missing, d.Values[i].Name)
		}
	}
	d.constSize = map[string]int64{}
	constProd := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if d.consts[o] {
				constProd[o] = n
			}
		}
	}
	for _, nd := range d.Nodes {
		for _, c := range nd.Consts {
			if _, done := d.constSize[c]; !done {
				d.constSize[c] = d.constBytes(c, s, constProd, 0)
			}
		}
	}
	d.constBytesByID = d.constBytesByID[:0]
	d.nodeConsts = make([][]int, len(d.Nodes))
	d.firstWeights = make([]int64, len(d.Nodes))
	cid := map[string]int{}
	for id, nd := range d.Nodes {
		for _, c := range nd.Consts {
			j, ok := cid[c]
			if !ok {
				j = len(d.constBytesByID)
				cid[c] = j
				d.constBytesByID = append(d.constBytesByID, d.constSize[c])
				d.firstWeights[id] += d.constSize[c]
			}
			d.nodeConsts[id] = append(d.nodeConsts[id], j)
		}
	}
	d.inputBytes = 0
	for i := range d.Values {
		if d.Values[i].Producer < 0 {
			d.inputBytes += d.Values[i].Size.Bytes
		}
	}
	d.sized = true
	if len(d.missing) > 0 {
		more := ""
		if len(d.missing) > 3 {
			more = fmt.Sprintf(" and %d more", len(d.missing)-3)
		}
		return fmt.Errorf("partition: no size for %s%s (trace a run with runtime.Options{NoOptimize: true})",
			strings.Join(d.missing[:min(3, len(d.missing))], ", "), more)
	}
	return nil
}

// Sized reports whether SetSizes was called.
func (d *DAG) Sized() bool { return d.sized }

func (d *DAG) declared(name string) (graph.ValueInfo, bool) {
	g := d.Graph
	for _, v := range g.Inputs {
		if v.Name == name {
			return v, true
		}
	}
	for _, v := range g.Outputs {
		if v.Name == name {
			return v, true
		}
	}
	vi, ok := g.ValueInfo[name]
	return vi, ok
}

func declaredSize(vi graph.ValueInfo, ok bool) (TensorSize, bool) {
	if !ok || vi.Kind != graph.KindTensor || !vi.HasShape || vi.DType.Size() == 0 {
		return TensorSize{}, false
	}
	n := int64(1)
	for _, dim := range vi.Shape {
		if !dim.Known() {
			return TensorSize{}, false
		}
		n *= dim.Value
	}
	return TensorSize{DType: vi.DType, Elems: n, Bytes: n * int64(vi.DType.Size())}, true
}

// constBytes sizes a constant: an initializer, the tensor of a Constant
// node, the shape of a ConstantOfShape, a traced size, or an Identity of
// one of those.
func (d *DAG) constBytes(name string, s Sizes, prod map[string]*graph.Node, depth int) int64 {
	if t, ok := d.Graph.Initializers[name]; ok && t != nil {
		return int64(t.Bytes())
	}
	if ts, ok := s[name]; ok && ts.Bytes > 0 {
		return ts.Bytes
	}
	n := prod[name]
	if n == nil || depth > 8 {
		return 0
	}
	switch n.OpType {
	case "Constant":
		if a := n.Attrs["value"]; a != nil && a.Tensor != nil {
			return int64(a.Tensor.Bytes())
		}
	case "ConstantOfShape":
		dt := tensor.Float32
		if a := n.Attrs["value"]; a != nil && a.Tensor != nil {
			dt = a.Tensor.DType
		}
		if len(n.Inputs) > 0 {
			if t, ok := d.Graph.Initializers[n.Inputs[0]]; ok && t != nil {
				e := int64(1)
				for _, x := range t.Int64Values() {
					e *= x
				}
				return e * int64(dt.Size())
			}
		}
	case "Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose":
		if len(n.Inputs) > 0 {
			return d.constBytes(n.Inputs[0], s, prod, depth+1)
		}
	}
	return 0
}

// InputBytes is the size of the graph inputs (after SetSizes).
func (d *DAG) InputBytes() int64 { return d.inputBytes }

// WeightBytes is the size of the constants read by the nodes in head
// (indexed by DAG node ID), each counted once: the weights a device piece
// holds. Sizes come from SetSizes.
func (d *DAG) WeightBytes(head []bool) int64 {
	if !d.sized {
		return 0
	}
	seen := make([]bool, len(d.constBytesByID))
	var b int64
	for id, in := range head {
		if !in {
			continue
		}
		for _, c := range d.nodeConsts[id] {
			if !seen[c] {
				seen[c] = true
				b += d.constBytesByID[c]
			}
		}
	}
	return b
}

// PeakBytes is the peak activation memory of running the nodes in head in
// topological order: the graph inputs, and every value from the step that
// makes it until its last reader in head has run (or to the end, for values
// that cross to the next tier). A step holds its inputs and outputs at once.
func (d *DAG) PeakBytes(head []bool) int64 {
	peak := d.inputBytes // the device holds the input at the start
	var live int64
	lastIn := make([]int, len(d.Values)) // last head reader, or -2 for "to the end"
	for i := range d.Values {
		v := &d.Values[i]
		lastIn[i] = -1
		if v.Output {
			lastIn[i] = -2
		}
		for _, c := range v.Consumers {
			if head[c] {
				if lastIn[i] != -2 {
					lastIn[i] = c
				}
			} else {
				lastIn[i] = -2
			}
		}
	}
	for i := range d.Values {
		if d.Values[i].Producer < 0 && lastIn[i] != -1 {
			live += d.Values[i].Size.Bytes
		}
	}
	for id, in := range head {
		if !in {
			continue
		}
		for _, o := range d.Nodes[id].Outputs {
			live += d.Values[o].Size.Bytes
		}
		peak = max(peak, live)
		for _, vid := range d.Nodes[id].Inputs {
			if lastIn[vid] == id {
				live -= d.Values[vid].Size.Bytes
			}
		}
		for _, o := range d.Nodes[id].Outputs {
			if lastIn[o] == -1 {
				live -= d.Values[o].Size.Bytes
			}
		}
	}
	return peak
}

// Closed reports whether head (indexed by DAG node ID) contains the
// predecessors of each of its nodes, i.e. is a valid head set.
func (d *DAG) Closed(head []bool) bool {
	for id, in := range head {
		if !in {
			continue
		}
		for _, p := range d.Nodes[id].Preds {
			if !head[p] {
				return false
			}
		}
	}
	return true
}
