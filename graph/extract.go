package graph

import (
	"fmt"
)

// Extract returns the subgraph that computes outputs from inputs: the nodes
// on which the outputs depend, stopping at the named inputs, with the
// initializers those nodes read (shared, not copied). types supplies
// ValueInfo for the new graph's inputs and outputs where g itself does not
// declare them (e.g. shapes measured by a profiling run); it may be nil.
//
// It fails if an output depends on a runtime value that is neither among
// inputs nor computable inside the cut (a cut that does not separate the
// graph).
func (g *Graph) Extract(name string, inputs, outputs []string, types map[string]ValueInfo) (*Graph, error) {
	prod := g.Producers()
	isInput := map[string]bool{}
	for _, in := range inputs {
		isInput[in] = true
	}
	declared := map[string]ValueInfo{}
	for k, v := range g.ValueInfo {
		declared[k] = v
	}
	for _, v := range g.Inputs {
		declared[v.Name] = v
	}
	for _, v := range g.Outputs {
		declared[v.Name] = v
	}
	for k, v := range types {
		declared[k] = v
	}
	need := make([]bool, len(g.Nodes))
	usedInit := map[string]bool{}
	stack := append([]string{}, outputs...)
	seen := map[string]bool{}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		if isInput[v] {
			continue
		}
		if _, ok := g.Initializers[v]; ok {
			usedInit[v] = true
			continue
		}
		p, ok := prod[v]
		if !ok {
			return nil, fmt.Errorf("graph: extract %q: value %q is needed but is neither a cut input nor computed inside the cut", name, v)
		}
		if !need[p] {
			need[p] = true
			stack = append(stack, g.Nodes[p].AllInputs()...)
		}
	}
	sub := &Graph{Name: name, ValueInfo: map[string]ValueInfo{}}
	for i, n := range g.Nodes {
		if need[i] {
			sub.Nodes = append(sub.Nodes, n)
			for _, o := range n.Outputs {
				if vi, ok := g.ValueInfo[o]; ok {
					sub.ValueInfo[o] = vi
				}
			}
		}
	}
	for _, k := range g.InitOrder {
		if usedInit[k] {
			sub.AddInitializer(k, g.Initializers[k])
		}
	}
	for k := range usedInit { // initializers missing from InitOrder
		if _, ok := sub.Initializers[k]; !ok {
			sub.AddInitializer(k, g.Initializers[k])
		}
	}
	for _, in := range inputs {
		vi, ok := declared[in]
		if !ok {
			vi = ValueInfo{Kind: KindTensor}
		}
		vi.Name = in
		sub.Inputs = append(sub.Inputs, vi)
	}
	for _, out := range outputs {
		vi, ok := declared[out]
		if !ok {
			vi = ValueInfo{Kind: KindTensor}
		}
		vi.Name = out
		sub.Outputs = append(sub.Outputs, vi)
		delete(sub.ValueInfo, out)
	}
	if err := sub.Validate(); err != nil {
		return nil, err
	}
	return sub, nil
}
