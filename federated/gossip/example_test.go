package gossip_test

import (
	"fmt"

	"github.com/edgedl/edgedl/federated/gossip"
)

// Gossip averaging on a ring of four: every node ends at the global mean.
func ExampleMetropolisHastings() {
	w := gossip.MetropolisHastings(gossip.Ring(4))
	for _, e := range w.Row(0) {
		fmt.Printf("W[0][%d] = %.3f\n", e.J, e.W)
	}
	xs := [][]float32{{0}, {4}, {8}, {12}}
	dst := [][]float32{{0}, {0}, {0}, {0}}
	for range 40 {
		_ = w.Mix(dst, xs)
		xs, dst = dst, xs
	}
	fmt.Printf("%.3f %.3f %.3f %.3f\n", xs[0][0], xs[1][0], xs[2][0], xs[3][0])
	// Output:
	// W[0][0] = 0.333
	// W[0][1] = 0.333
	// W[0][3] = 0.333
	// 6.000 6.000 6.000 6.000
}
