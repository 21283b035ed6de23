package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"

	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/models/embedded"
	"github.com/edgedl/edgedl/node"
	"github.com/edgedl/edgedl/tensor"
)

// Cut the embedded MNIST CNN for three tiers: the device runs the first
// convolution block, the edge the second, the cloud the classifier.
func ExampleSplitModel() {
	m, _ := embedded.MNISTModel()
	p, err := node.SplitModel(m, "3,6", 1)
	if err != nil {
		panic(err)
	}
	for _, piece := range []struct {
		tier string
		m    *graph.Model
	}{{"device", p.Device}, {"edge", p.Edge}, {"cloud", p.Cloud}} {
		g := piece.m.Graph
		fmt.Printf("%-6s %d nodes  %s -> %s\n", piece.tier, len(g.Nodes), g.Inputs[0].Name, g.Outputs[0].Name)
	}
	// Output:
	// device 3 nodes  input -> /MaxPool_output_0
	// edge   3 nodes  /MaxPool_output_0 -> /MaxPool_1_output_0
	// cloud  4 nodes  /MaxPool_1_output_0 -> logits
}

// A device and an edge node on one machine: the device runs the first
// block of the MNIST CNN, sends the pooled activation (int8, per channel)
// to the edge, which it uploads the rest of the model to on first use.
func ExampleDevice() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	edge, err := node.NewServer(node.ServerConfig{Name: "edge-1", Listen: "127.0.0.1:0", Token: "T", Logger: quiet})
	if err != nil {
		panic(err)
	}
	if err := edge.Start(); err != nil {
		panic(err)
	}
	defer edge.Close()

	m, _ := embedded.MNISTModel()
	d, err := node.NewDevice(node.DeviceConfig{Model: m, Split: "3", Edge: edge.Addr().String(), Token: "T",
		Codec: "int8c", Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer d.Close()

	x, labels, _ := embedded.MNISTSamples()
	for i := 0; i < 3; i++ {
		img := tensor.Float32s([]int{1, 1, 28, 28}, x.F32()[i*784:(i+1)*784])
		r, err := d.Infer(context.Background(), []*tensor.Tensor{img})
		if err != nil {
			panic(err)
		}
		fmt.Printf("digit %d: predicted %d, ran on %s, uploads %d\n", labels[i], argmax(r.Outputs[0].Tensor.F32()), r.Path, r.Uploads)
	}
	// Output:
	// digit 7: predicted 7, ran on device>edge, uploads 1
	// digit 2: predicted 2, ran on device>edge, uploads 0
	// digit 1: predicted 1, ran on device>edge, uploads 0
}

// What `edgedl serve --listen 127.0.0.1:8001 --tier edge --next 127.0.0.1:8002 --token T`
// does: serve until interrupted, then drain.
func ExampleListenAndServe() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := node.ListenAndServe(ctx, node.ServerConfig{
		Tier: "edge", Listen: "127.0.0.1:8001", HTTPListen: "127.0.0.1:8081",
		Next: "127.0.0.1:8002", Token: os.Getenv("EDGEDL_TOKEN"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
