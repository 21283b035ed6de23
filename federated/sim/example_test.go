package sim_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/sim"
)

// Ten clients each pull the model towards their own value (0..9); FedAvg
// with 50% participation, a deadline, and heterogeneous device speeds keeps
// the model near their mean, 4.5, moving with each round's sample.
func ExampleRunSync() {
	var pop []federated.ClientID
	for i := range 10 {
		pop = append(pop, federated.ClientID(i))
	}
	train := func(c federated.ClientID, round uint64, global []float32, _ *rand.Rand) (federated.Update, error) {
		target := float32(c) // client c wants the model at c
		return federated.Update{Client: c, Round: round, Samples: 1, Params: []float32{0.5 * (target - global[0])}}, nil
	}
	srv := &federated.Server{}
	s, _ := sim.NewSync(sim.SyncConfig{Population: pop, Fraction: 0.5, Deadline: 3, Seed: 1}, srv)
	global := []float32{0}
	reports, _ := sim.RunSync(s, global, 20, train, sim.Heterogeneous(pop, 1, 0.5, 0.1, 0.1, 1), nil)
	last := reports[len(reports)-1]
	fmt.Printf("after %d rounds: model %.1f; last round %d selected, %d in time, %d late, %d dropped\n",
		len(reports), global[0], last.Selected, last.Arrived, last.Late, last.Missing)
	// Output: after 20 rounds: model 4.9; last round 5 selected, 5 in time, 0 late, 0 dropped
}
