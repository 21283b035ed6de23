package flnet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/edgedl/edgedl/federated/flnet"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// blobs is a two-class problem in four dimensions: class c is centred on
// (2c-1)·(1, 1, 1, 1).
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

// A coordinator and two clients in one process: the clients talk to the
// coordinator's Service through LocalConn (the same calls as over gRPC),
// and the coordinator runs on a clock the example advances.
func Example() {
	model := arch.MLP("mlp", []int{4}, []int{8}, 2, 1)
	coord, _ := flnet.NewCoordinator(flnet.Config{
		Model: model, Rounds: 3, Fraction: 1, MinClients: 2, RoundTimeout: time.Minute, Seed: 1,
		Train: flnet.TrainConfig{LocalEpochs: 2, Batch: 8, LR: 0.1, Compression: "qsgd:8"},
	})
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := flnet.NewService(coord, flnet.ServiceConfig{
		Tokens: []string{"t0k3n"}, Now: func() time.Time { return now },
		OnRound: func(r flnet.RoundResult) {
			fmt.Printf("round %d: %d of %d clients, aggregated %v\n", r.Round, r.Arrived, r.Selected, r.Aggregated)
		},
	})
	ctx := context.Background()
	var clients []*flnet.Client
	for i := range 2 {
		c := &flnet.Client{Conn: &flnet.LocalConn{Service: svc, Token: "t0k3n"}, Name: fmt.Sprintf("device-%d", i),
			Data: blobs(64, uint64(i)), Threads: 1}
		if err := c.Register(ctx); err != nil { // compiles the coordinator's model
			fmt.Println(err)
			return
		}
		defer c.Close()
		clients = append(clients, c)
	}
	for !svc.Done() {
		svc.Tick() // opens a round
		for _, c := range clients {
			task, _ := c.Next(ctx)
			update, _, err := c.Train(ctx, task)
			if err != nil {
				fmt.Println(err)
				return
			}
			now = now.Add(time.Second)
			if _, err := c.Submit(ctx, update); err != nil {
				fmt.Println(err)
			}
		}
	}
	p, _ := train.Compile(model, train.Options{Threads: 1})
	defer p.Close()
	p.SetParams(coord.Global())
	_, acc, _ := p.Evaluate(blobs(200, 9), 100, nil)
	fmt.Println("accuracy above 90%:", acc > 0.9)
	// Output:
	// round 0: 2 of 2 clients, aggregated true
	// round 1: 2 of 2 clients, aggregated true
	// round 2: 2 of 2 clients, aggregated true
	// accuracy above 90%: true
}

func ExampleParseCompression() {
	for _, s := range []string{"", "qsgd:4", "topk:0.01+zstd", "dgc:0.01:0.5", "sign"} {
		c, _ := flnet.ParseCompression(s)
		fmt.Printf("%q -> %s (error feedback: %v)\n", s, c, c.Stateful())
	}
	_, err := flnet.ParseCompression("qsgd:1")
	fmt.Println(err)
	// Output:
	// "" -> none (error feedback: false)
	// "qsgd:4" -> qsgd:4 (error feedback: false)
	// "topk:0.01+zstd" -> topk:0.01+zstd (error feedback: true)
	// "dgc:0.01:0.5" -> dgc:0.01:0.5 (error feedback: true)
	// "sign" -> sign (error feedback: true)
	// flnet: compression "qsgd:1": bits must be an integer in 2..16 (want none, qsgd:BITS[:BUCKET], topk:FRACTION, dgc:FRACTION[:MOMENTUM] or sign, optionally +zstd)
}
