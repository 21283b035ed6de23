package graph

import (
	"fmt"
	"sort"
)

// Validate checks that every value is defined once, every input is defined
// before use (by a graph input, an initializer, an earlier node or, for
// subgraphs, an outer scope), and that the graph outputs exist. If the nodes
// are not in topological order but form a DAG they are re-ordered; a cycle is
// an error naming a node on it.
func (g *Graph) Validate() error { return g.validate(nil) }

func (g *Graph) validate(outer map[string]bool) error {
	defined := map[string]bool{}
	for k := range outer {
		defined[k] = true
	}
	local := map[string]string{}
	for _, v := range g.Inputs {
		if v.Name == "" {
			return fmt.Errorf("graph %q: an input has no name", g.Name)
		}
		local[v.Name] = "graph input"
	}
	for k := range g.Initializers {
		local[k] = "initializer"
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if prev, dup := local[o]; dup && prev != "initializer" && prev != "graph input" {
				return fmt.Errorf("graph %q: value %q is produced twice (%s and %s)", g.Name, o, prev, n.Label())
			}
			local[o] = n.Label()
		}
	}
	if err := g.TopoSort(outer); err != nil {
		return err
	}
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	for k := range g.Initializers {
		defined[k] = true
	}
	for _, n := range g.Nodes {
		if n.OpType == "" {
			return fmt.Errorf("graph %q: node %q has no op_type", g.Name, n.Name)
		}
		for _, in := range n.Inputs {
			if in != "" && !defined[in] {
				return fmt.Errorf("graph %q: %s reads %q, which nothing defines (missing initializer or input?)", g.Name, n.Label(), in)
			}
		}
		for _, a := range n.Attrs {
			subs := a.Graphs
			if a.Graph != nil {
				subs = append([]*Graph{a.Graph}, subs...)
			}
			for _, sg := range subs {
				if err := sg.validate(defined); err != nil {
					return fmt.Errorf("%s attribute %q: %w", n.Label(), a.Name, err)
				}
			}
		}
		for _, o := range n.Outputs {
			if o != "" {
				defined[o] = true
			}
		}
	}
	for _, o := range g.Outputs {
		if !defined[o.Name] {
			return fmt.Errorf("graph %q: output %q is never produced", g.Name, o.Name)
		}
	}
	return nil
}

// TopoSort orders g.Nodes so that producers come before consumers, keeping
// the original order where it is already valid (Kahn's algorithm with a
// stable queue). Names in outer, graph inputs and initializers count as
// available. It reports a cycle, naming one node on it.
func (g *Graph) TopoSort(outer map[string]bool) error {
	prod := g.Producers()
	n := len(g.Nodes)
	indeg := make([]int, n)
	succ := make([][]int, n)
	for i, node := range g.Nodes {
		seen := map[int]bool{}
		for _, in := range node.AllInputs() {
			if in == "" {
				continue
			}
			p, ok := prod[in]
			if !ok {
				continue // graph input, initializer, outer scope, or undefined (reported later)
			}
			if _, isInit := g.Initializers[in]; isInit {
				continue
			}
			if p == i {
				return fmt.Errorf("graph %q: %s reads its own output %q (cycle)", g.Name, node.Label(), in)
			}
			if !seen[p] {
				seen[p] = true
				indeg[i]++
				succ[p] = append(succ[p], i)
			}
		}
	}
	order := make([]int, 0, n)
	ready := []int{}
	for i := 0; i < n; i++ {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		sort.Ints(ready)
		i := ready[0]
		ready = ready[1:]
		order = append(order, i)
		for _, s := range succ[i] {
			indeg[s]--
			if indeg[s] == 0 {
				ready = append(ready, s)
			}
		}
	}
	if len(order) != n {
		for i := 0; i < n; i++ {
			if indeg[i] > 0 {
				return fmt.Errorf("graph %q: cycle through %s", g.Name, g.Nodes[i].Label())
			}
		}
	}
	sorted := make([]*Node, n)
	for k, i := range order {
		sorted[k] = g.Nodes[i]
	}
	g.Nodes = sorted
	return nil
}
