package distill

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// TestLongDistillMNIST is the figure: a mnist-2nn student
// (784-200-200-10) distilled from the shared mnist_cnn (99.0%) against the
// same student trained on the labels alone, with the same epochs, batch,
// learning-rate schedule, initial weights and shuffling, on a random
// subset of the MNIST training set; both scored on the 10,000 test images.
// Minutes on two cores, so it runs only with EDGEDL_LONG=1:
//
//	EDGEDL_LONG=1 go test ./compress/distill -run TestLongDistillMNIST -v -timeout 1h
//
// EDGEDL_DISTILL_N (training samples, default 10000), EDGEDL_DISTILL_EPOCHS
// (default 10), EDGEDL_DISTILL_SEEDS (default 3), EDGEDL_DISTILL_HIDDEN
// (student hidden width, default 200: mnist-2nn), EDGEDL_DISTILL_T
// (default 4) and EDGEDL_DISTILL_ALPHA (default 0.9) change the run.
func TestLongDistillMNIST(t *testing.T) {
	if os.Getenv("EDGEDL_LONG") != "1" {
		t.Skip("set EDGEDL_LONG=1 to distil mnist_cnn into mnist-2nn")
	}
	n := testenv.Int("EDGEDL_DISTILL_N", 10000)
	epochs := testenv.Int("EDGEDL_DISTILL_EPOCHS", 10)
	seeds := testenv.Int("EDGEDL_DISTILL_SEEDS", 3)
	hidden := testenv.Int("EDGEDL_DISTILL_HIDDEN", 200)
	temp := testenv.Float("EDGEDL_DISTILL_T", 4)
	alpha := testenv.Float("EDGEDL_DISTILL_ALPHA", 0.9)
	tm, err := onnx.Load(filepath.Join(testenv.Shared(t), "models", "mnist_cnn", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := data.MNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	full, err := data.MNIST(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	test, err := data.MNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	var trainSet data.Dataset = full
	if n < full.Len() {
		trainSet = &data.Subset{Data: full, Indices: data.Permutation(full.Len(), 2026, 0)[:n]}
	}
	teacher, err := NewONNXTeacher(tm, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Close()
	ctx := context.Background()
	targets, err := SoftTargets(ctx, teacher, trainSet, 500)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := train.Compile(tm, train.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, tacc, err := tp.Evaluate(test, 500, nil)
	tp.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("teacher mnist_cnn: %.2f%% on the 10,000 test images; transfer set: %d training images", 100*tacc, n)

	steps := int64(epochs * ((n + 63) / 64))
	cfgFor := func(seed uint64) train.Config {
		return train.Config{Epochs: epochs, Batch: 64, Optimizer: &train.SGD{Momentum: 0.9},
			Schedule: train.CosineLR{Base: 0.05, Steps: steps}, Seed: seed}
	}
	var sumBase, sumKD float64
	for s := 1; s <= seeds; s++ {
		seed := uint64(s)
		// labels alone
		p, err := train.Compile(newStudent(hidden, seed), train.Options{Threads: 2, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := train.Fit(ctx, p, trainSet, cfgFor(seed), train.Callbacks{}); err != nil {
			t.Fatal(err)
		}
		_, base, err := p.Evaluate(test, 500, nil)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		// distilled
		out, _, err := Distill(ctx, newStudent(hidden, seed), nil, targets, Config{Temperature: temp, Alpha: alpha, Threads: 2,
			Train: cfgFor(seed)}, train.Callbacks{})
		if err != nil {
			t.Fatal(err)
		}
		p, err = train.Compile(out, train.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		_, kd, err := p.Evaluate(test, 500, nil)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: student 784-%d-%d-10, %d epochs on %d images: labels alone %.2f%%, distilled (T=%g, alpha=%g) %.2f%%",
			seed, hidden, hidden, epochs, n, 100*base, temp, alpha, 100*kd)
		sumBase += base
		sumKD += kd
	}
	mb, mk := sumBase/float64(seeds), sumKD/float64(seeds)
	t.Logf("mean over %d seeds: labels alone %.2f%%, distilled %.2f%% (%+.2f points)", seeds, 100*mb, 100*mk, 100*(mk-mb))
	if mk <= mb {
		t.Errorf("the distilled student (%.4f) does not beat the one trained on labels (%.4f)", mk, mb)
	}
}

// newStudent is a freshly initialised 784-hidden-hidden-10 MLP (with 200,
// arch.MNIST2NN's weights for the same seed).
func newStudent(hidden int, seed uint64) *graph.Model {
	return arch.MLP(fmt.Sprintf("mnist-%d-%d", hidden, hidden), []int{1, 28, 28}, []int{hidden, hidden}, 10, seed)
}
