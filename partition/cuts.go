package partition

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/edgedl/edgedl/graph"
)

// Cut splits a graph's runtime nodes into a head, closed under
// predecessors, and the rest (the tail). The head runs on the tier nearer
// the data; the crossing tensors are what it sends to the tail.
type Cut struct {
	// Index is the cut's number among DAG.Cuts: the head is the first
	// Index runtime nodes in the DAG's topological order. It is -1 for a
	// cut that is not such a prefix (one found by the min-cut planner).
	Index int
	// After names the last head node of a prefix cut ("(input)" for the
	// empty head); for other cuts it is "(min-cut)".
	After string
	// Head lists the head's runtime nodes as indices into Graph.Nodes,
	// ascending. Constant nodes are in no head: Split copies them where
	// they are read.
	Head []int
	// Crossing lists the tensors the head sends to the tail: values made
	// by the head, or graph inputs, that a tail node reads or that are
	// graph outputs. Graph inputs come first in graph order, then node
	// outputs in topological order.
	Crossing []string
	// Bytes is the crossing tensors' size as the runtime holds them, or -1
	// if the DAG has no sizes (see DAG.SetSizes).
	Bytes int64
}

// Cuts returns the topological-prefix cuts of g; see DAG.Cuts.
func Cuts(g *graph.Graph) []Cut { return NewDAG(g).Cuts() }

// Cuts enumerates the topological-prefix cuts: for k = 0..len(Nodes), the
// head holds the first k runtime nodes of d.Nodes. Cut 0 sends the graph
// inputs (everything runs remotely); cut len(Nodes) has the whole graph in
// the head and "sends" the graph outputs (everything runs locally). The
// numbering is canonical: it depends only on the graph's node order, which
// graph.Validate keeps stable.
//
// These are the cuts a layer-wise planner (Neurosurgeon) considers, and
// every one is valid on any DAG: a prefix of a topological order is closed
// under predecessors, so skip connections and parallel branches (ResNet,
// Inception, SqueezeNet Fire modules, MobileNetV2 residuals) simply appear
// as several crossing tensors. The family is linear in size but does not
// contain every closed head set: a cut through the middle of two parallel
// branches at once, with one branch further along than the prefix order
// allows, is not enumerated. MinCutPlan searches all closed head sets.
func (d *DAG) Cuts() []Cut {
	n := len(d.Nodes)
	cuts := make([]Cut, n+1)
	for k := 0; k <= n; k++ {
		c := Cut{Index: k, After: "(input)", Bytes: -1}
		if k > 0 {
			c.After = d.Nodes[k-1].Name
		}
		c.Head = make([]int, k)
		for i := 0; i < k; i++ {
			c.Head[i] = d.Nodes[i].GraphIndex
		}
		var bytes int64
		for i := range d.Values {
			v := &d.Values[i]
			if v.Producer < k && d.last(v) >= k {
				c.Crossing = append(c.Crossing, v.Name)
				bytes += v.Size.Bytes
			}
		}
		if d.sized {
			c.Bytes = bytes
		}
		slices.Sort(c.Head)
		cuts[k] = c
	}
	return cuts
}

// Cut returns the cut whose head is the given set of DAG nodes (indexed by
// node ID), which must be closed under predecessors. If the set is a
// prefix of d.Nodes the cut carries that prefix's index.
func (d *DAG) Cut(head []bool) (Cut, error) {
	if len(head) != len(d.Nodes) {
		return Cut{}, fmt.Errorf("partition: head set has %d entries for %d nodes", len(head), len(d.Nodes))
	}
	if !d.Closed(head) {
		for id, in := range head {
			if in {
				for _, p := range d.Nodes[id].Preds {
					if !head[p] {
						return Cut{}, fmt.Errorf("partition: head holds %s but not its predecessor %s", d.Nodes[id].Name, d.Nodes[p].Name)
					}
				}
			}
		}
	}
	k := 0
	for k < len(head) && head[k] {
		k++
	}
	prefix := true
	for i := k; i < len(head); i++ {
		prefix = prefix && !head[i]
	}
	c := Cut{Index: -1, After: "(min-cut)", Bytes: -1}
	if prefix {
		c.Index, c.After = k, "(input)"
		if k > 0 {
			c.After = d.Nodes[k-1].Name
		}
	}
	for id, in := range head {
		if in {
			c.Head = append(c.Head, d.Nodes[id].GraphIndex)
		}
	}
	slices.Sort(c.Head)
	var bytes int64
	for _, vid := range d.crossing(head) {
		c.Crossing = append(c.Crossing, d.Values[vid].Name)
		bytes += d.Values[vid].Size.Bytes
	}
	if d.sized {
		c.Bytes = bytes
	}
	return c, nil
}

// crossing lists the IDs of the values crossing from head to the rest.
func (d *DAG) crossing(head []bool) []int {
	var out []int
	for i := range d.Values {
		v := &d.Values[i]
		if v.Producer >= 0 && !head[v.Producer] {
			continue
		}
		cross := v.Output
		for _, c := range v.Consumers {
			cross = cross || !head[c]
		}
		if cross {
			out = append(out, i)
		}
	}
	return out
}

// HeadSet converts a cut's head (graph node indices) to a set indexed by
// DAG node ID.
func (d *DAG) HeadSet(c Cut) []bool {
	byGraph := make(map[int]int, len(d.Nodes))
	for _, n := range d.Nodes {
		byGraph[n.GraphIndex] = n.ID
	}
	head := make([]bool, len(d.Nodes))
	for _, gi := range c.Head {
		if id, ok := byGraph[gi]; ok {
			head[id] = true
		}
	}
	return head
}

// WriteCuts prints one line per cut: its index, the last head node, the
// crossing bytes ("?" when unknown) and the crossing tensors. It is the
// table of `edgedl plan MODEL --cuts`.
func WriteCuts(w io.Writer, cuts []Cut) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "cut\tafter\tbytes\tcrossing")
	for _, c := range cuts {
		idx := "-"
		if c.Index >= 0 {
			idx = fmt.Sprint(c.Index)
		}
		b := "?"
		if c.Bytes >= 0 {
			b = fmt.Sprint(c.Bytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", idx, c.After, b, strings.Join(c.Crossing, " "))
	}
	return tw.Flush()
}
