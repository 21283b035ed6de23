package train_test

import (
	"context"
	"fmt"

	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// Train the 1-D CNN on ItalyPowerDemand (sktime .ts files) and export it.
func Example() {
	tr, te, err := data.LoadTS("/work/shared/datasets/iot/ItalyPowerDemand")
	if err != nil {
		fmt.Println(err)
		return
	}
	m := arch.TimeSeriesCNN(tr.Shape()[0], tr.Shape()[1], data.NumClasses(tr), 1)
	p, err := train.Compile(m, train.Options{Threads: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	_, err = train.Fit(context.Background(), p, tr, train.Config{
		Epochs: 30, Batch: 16, LR: 0.01, Optimizer: &train.Adam{}, Seed: 1,
	}, train.Callbacks{})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, acc, _ := p.Evaluate(te, 256, nil)
	fmt.Println("test accuracy above 90%:", acc > 0.9)
	exported := p.Export() // save with onnx.Save; runtime.Compile runs it
	fmt.Println(exported.Graph.Outputs[0].Name)
	// Output:
	// test accuracy above 90%: true
	// logits
}

// Federated aggregation works on flat parameter vectors.
func ExampleProgram_Params() {
	p, _ := train.Compile(arch.MNIST2NN(1), train.Options{Threads: 1})
	defer p.Close()
	w := p.Params()
	fmt.Println(len(w), p.NumParams())
	for i := range w {
		w[i] *= 0.5 // e.g. a weighted average of client updates
	}
	if err := p.SetParams(w); err != nil {
		fmt.Println(err)
	}
	// Output: 199210 199210
}
