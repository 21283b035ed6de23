package qat_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/compress/qat"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

// Quantisation-aware fine-tuning of a small CNN with BatchNormalization:
// prepare (calibrate, place the fake quantisers), train, export to QDQ,
// and see that the runtime runs the exported layers as integer kernels.
func ExamplePrepare() {
	m := testmodels.CNN(1, true) // Conv-BN-Relu-MaxPool-Conv-Relu-Flatten-Gemm-Relu-Gemm (BN is folded)
	var calib []compress.Batch
	var x []float32
	for _, in := range testmodels.Inputs(m, 1, 4, 8, true) {
		calib = append(calib, compress.Batch{Inputs: in})
		x = append(x, in[0].F32()...)
	}
	labels := make([]int, 32)
	for i := range labels {
		labels[i] = i % 3
	}
	ds, _ := data.NewInMemory(x, []int{2, 8, 8}, labels)

	q, err := qat.Prepare(m, calib, qat.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("fake-quantised activations:", q.Activations())
	fmt.Println("fake-quantised weights:", q.Weights())
	p, _ := q.Compile(train.Options{Threads: 1})
	defer p.Close()
	if _, err := train.Fit(context.Background(), p, ds, train.Config{Epochs: 2, Batch: 8, LR: 0.01}, train.Callbacks{}); err != nil {
		fmt.Println(err)
		return
	}
	qdq, err := q.Export(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := runtime.Compile(qdq, runtime.Options{Threads: 1})
	defer s.Close()
	info, _ := s.InferShapes(calib[0].Inputs)
	var ops []string
	for _, n := range info.Nodes {
		ops = append(ops, n.Op)
	}
	fmt.Println("runs:", ops)
	// Output:
	// fake-quantised activations: [f2_out r1_out r2_out r3_out x]
	// fake-quantised weights: [c1.w_bnfold c2.w f1.w f2.w]
	// runs: [QuantizeLinear QConv MaxPool QConv Flatten QGemm QGemm DequantizeLinear]
}
