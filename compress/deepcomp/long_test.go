package deepcomp

import (
	"context"
	"os"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// The Deep Compression replication on LeNet-300-100 (Han et al.: 40x,
// error 1.64% -> 1.58%): train the baseline, compress, and check the
// issue's targets, >= 35x smaller than the float32 weights with at most
// 0.1 point more test error. About 3 minutes on 2 cores:
//
//	EDGEDL_LONG=1 go test ./compress/deepcomp -run LongLeNet300 -v -timeout 30m
func TestLongLeNet300(t *testing.T) {
	if os.Getenv("EDGEDL_LONG") == "" {
		t.Skip("set EDGEDL_LONG=1 (minutes of training)")
	}
	dir, err := mnist.Dir()
	if err != nil {
		t.Skip(err)
	}
	tr, err := data.MNIST(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	te, err := data.MNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := mnist.Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	test, err := compress.MNIST(ts, 0, ts.Len(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	acc := func(m *graph.Model) float64 {
		s, err := runtime.Compile(m, runtime.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a, err := compress.Accuracy(s, test)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ctx := context.Background()
	base, _, err := Retrain(ctx, arch.LeNet300100(1), tr, FineTune{Epochs: 20, LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4, Seed: 1}, nil, "baseline")
	if err != nil {
		t.Fatal(err)
	}
	baseAcc := acc(base)
	res, err := Compress(ctx, base, tr, Config{Sparsity: 0.92, Steps: 3, Scope: prune.Global, Bits: 5, ConvBits: 8,
		Tune: FineTune{Epochs: 3, LR: 0.005, Momentum: 0.9, Seed: 1, Eval: te}, ShareLR: 1e-4,
		Stage: func(s Stage) { t.Logf("%s: sparsity %.3f, test accuracy %.2f%%", s.Name, s.Sparsity, 100*s.EvalAcc) }})
	if err != nil {
		t.Fatal(err)
	}
	got := acc(res.Model)
	ratio := float64(res.WeightBytes) / float64(len(res.Container))
	t.Logf("baseline %.2f%%, compressed %.2f%%; %d bytes of float32 weights -> %d bytes (%.1fx)",
		100*baseAcc, 100*got, res.WeightBytes, len(res.Container), ratio)
	if ratio < 35 {
		t.Errorf("%.1fx smaller, want >= 35x", ratio)
	}
	if got < baseAcc-0.001 {
		t.Errorf("test error rose by %.2f points, want <= 0.1", 100*(baseAcc-got))
	}
}
