package train

import (
	"context"
	"os"
	"testing"

	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// TestLongMNIST trains the FedAvg architectures centrally on MNIST and
// checks the accuracy targets (mnist-cnn >= 99.0%, mnist-2nn >= 97.5%).
// It takes tens of minutes on two cores, so it runs only with
// EDGEDL_LONG=1:
//
//	EDGEDL_LONG=1 go test ./train -run TestLongMNIST -v -timeout 3h
func TestLongMNIST(t *testing.T) {
	if os.Getenv("EDGEDL_LONG") != "1" {
		t.Skip("set EDGEDL_LONG=1 to train on MNIST")
	}
	dir, err := data.MNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := data.MNIST(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	te, err := data.MNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		epochs int
		lr     float64
		want   float64
	}{
		{"mnist-2nn", 10, 0.05, 0.975},
		{"mnist-cnn", 5, 0.02, 0.99},
	} {
		if only := os.Getenv("EDGEDL_LONG_MODEL"); only != "" && only != c.name {
			continue
		}
		m, _ := arch.Build(c.name, 1)
		p, err := Compile(m, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		steps := int64(c.epochs * ((tr.Len() + 63) / 64))
		cfg := Config{Epochs: c.epochs, Batch: 64, Optimizer: &SGD{Momentum: 0.9},
			Schedule: CosineLR{Base: c.lr, Steps: steps}, Seed: 1, Eval: te}
		hist, err := Fit(context.Background(), p, tr, cfg, Callbacks{Epoch: func(m EpochMetrics) error {
			t.Logf("%s epoch %d: train loss %.4f acc %.4f, test loss %.4f acc %.4f, %.0f samples/s",
				c.name, m.Epoch+1, m.TrainLoss, m.TrainAcc, m.EvalLoss, m.EvalAcc, m.SamplesPerSec)
			return nil
		}})
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		if acc := hist[len(hist)-1].EvalAcc; acc < c.want {
			t.Errorf("%s: test accuracy %.4f, want >= %.3f", c.name, acc, c.want)
		}
	}
}
