package simulate_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/edgedl/edgedl/federated/simulate"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// blobs is a two-class problem in four dimensions.
func blobs(n int, seed uint64) *data.InMemory {
	r := rand.New(rand.NewPCG(seed, 1))
	x, y := make([]float32, 4*n), make([]int, n)
	for i := range n {
		y[i] = i % 2
		for j := range 4 {
			x[4*i+j] = float32(2*y[i]-1) + float32(r.NormFloat64())
		}
	}
	ds, _ := data.NewInMemory(x, []int{4}, y)
	return ds
}

// Twenty clients, half of them selected per round, sending 4-bit QSGD
// updates. An update message of this 114-parameter model is 127 bytes: 57
// of quantised levels, a norm, the codec's header, and the request's other
// fields (client, round, samples, the client's loss and accuracy); dense
// float32 would take 456 bytes for the parameters alone.
func ExampleRun() {
	cfg := simulate.Config{
		Model: arch.MLP("mlp", []int{4}, []int{16}, 2, 1), Train: blobs(400, 1), Test: blobs(200, 2),
		Clients: 20, Fraction: 0.5, Rounds: 5, LocalEpochs: 2, Batch: 5, LR: 0.1,
		Algorithm: "fedavg", Compress: "qsgd:4", Threads: 1, Seed: 1,
	}
	recs, err := simulate.Run(context.Background(), cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	last := recs[len(recs)-1]
	fmt.Printf("%d rounds, %d clients each, accuracy above 90%%: %v\n", len(recs), last.Arrived, *last.Accuracy > 0.9)
	params := 4*16 + 16 + 16*2 + 2
	fmt.Printf("uplink per update: %d bytes for %d parameters\n", last.BytesUp/int64(last.Arrived), params)
	// Output:
	// 5 rounds, 10 clients each, accuracy above 90%: true
	// uplink per update: 127 bytes for 114 parameters
}
