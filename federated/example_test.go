package federated_test

import (
	"errors"
	"fmt"

	"github.com/edgedl/edgedl/federated"
)

// One FedAvg round: three clients reply, one with a NaN that the validator
// refuses; the others are averaged by sample count.
func ExampleServer() {
	population := []federated.ClientID{1, 2, 3}
	srv := &federated.Server{
		Aggregator: federated.FedAvg{},
		Validator:  federated.NewValidator(2, population),
	}
	global := []float32{1, 1}
	selected := federated.SelectClients(population, 1.0, 0, 42, srv.Round)
	fmt.Println("selected:", selected)

	nan := float32(0)
	nan /= nan
	updates := []federated.Update{
		{Client: 1, Round: 0, Samples: 10, Params: []float32{0.5, 0}},
		{Client: 2, Round: 0, Samples: 30, Kind: federated.KindWeights, Params: []float32{2, 1}},
		{Client: 3, Round: 0, Samples: 5, Params: []float32{nan, 0}},
	}
	rep, err := srv.Step(global, updates)
	fmt.Println(global, rep.Accepted, err)
	for _, r := range rep.Rejected {
		fmt.Println("refused:", r, errors.Is(r, federated.ErrNonFinite))
	}
	// Output:
	// selected: [1 2 3]
	// [1.875 1] [1 2] <nil>
	// refused: federated: update from client 3 for round 0 refused: non-finite value: parameter 0 is NaN true
}

// FedAdam as the server optimizer: the aggregated delta is a pseudo-gradient.
func ExampleNewFedAdam() {
	srv := &federated.Server{Optimizer: federated.NewFedAdam(0.1)}
	global := []float32{0}
	for round := uint64(0); round < 3; round++ {
		_, _ = srv.Step(global, []federated.Update{{Round: round, Samples: 1, Params: []float32{1}}})
		fmt.Printf("round %d: %.4f\n", round, global[0])
	}
	// Output:
	// round 0: 0.0990
	// round 1: 0.2327
	// round 2: 0.3891
}

// Krum ignores a Byzantine client far from the honest ones.
func ExampleKrum() {
	ups := []federated.Update{
		{Client: 1, Params: []float32{1.0}},
		{Client: 2, Params: []float32{1.1}},
		{Client: 3, Params: []float32{0.9}},
		{Client: 4, Params: []float32{1.05}},
		{Client: 5, Params: []float32{-100}}, // Byzantine
	}
	sel, _ := federated.Krum{F: 1, M: 3}.Select(ups)
	dst := make([]float32, 1)
	_ = federated.Krum{F: 1, M: 3}.Aggregate(dst, ups)
	fmt.Println(sel, dst)
	// Output: [3 0 1] [1.05]
}

// FedAsync mixes each arriving update at once, discounting stale ones.
func ExampleFedAsync() {
	f := &federated.FedAsync{Alpha: 0.5, Staleness: federated.PolynomialStaleness{A: 0.5}}
	global := []float32{0}
	// A client that trained on version 0 arrives when the server is at 0,
	// then another that also trained on version 0 arrives one version late.
	a1, _ := f.Apply(global, federated.Update{Client: 1, Round: 0, Kind: federated.KindWeights, Params: []float32{1}})
	a2, _ := f.Apply(global, federated.Update{Client: 2, Round: 0, Kind: federated.KindWeights, Params: []float32{1}})
	fmt.Printf("alpha %.3f then %.3f, model %.3f, version %d\n", a1, a2, global[0], f.Version)
	// Output: alpha 0.500 then 0.354, model 0.677, version 2
}
