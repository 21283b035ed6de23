package prune_test

import (
	"fmt"

	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/compress/prune"
)

// Filter pruning rewrites the graph: c1 loses half its filters and c2 the
// matching input channels; c2's removed filters take their column blocks
// out of f1's weight (through Relu and Flatten).
func ExampleChannels() {
	m := testmodels.CNN(1, false)
	p, rep, err := prune.Channels(m, prune.ChannelOptions{Ratio: 0.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range rep.Layers {
		fmt.Printf("%s: %d -> %d filters\n", l.Node, l.Before, l.After)
	}
	for _, w := range []string{"c1.w", "c2.w", "f1.w"} {
		fmt.Println(w, m.Graph.Initializers[w].Shape, "->", p.Graph.Initializers[w].Shape)
	}
	// Output:
	// c1: 8 -> 4 filters
	// c2: 6 -> 3 filters
	// c1.w [8 2 3 3] -> [4 2 3 3]
	// c2.w [6 8 3 3] -> [3 4 3 3]
	// f1.w [10 96] -> [10 48]
}

func ExampleMagnitude() {
	m := testmodels.CNN(1, false)
	_, stats, err := prune.Magnitude(m, prune.MagnitudeOptions{Sparsity: 0.75, Scope: prune.Global})
	if err != nil {
		fmt.Println(err)
		return
	}
	t := prune.Total(stats)
	fmt.Printf("%d of %d weights zero (%.0f%%)\n", t.Zeros, t.Elements, 100*t.Sparsity())
	// Output: 1175 of 1566 weights zero (75%)
}
