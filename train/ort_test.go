//go:build ort

package train_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/bench/ortref"
	"github.com/edgedl/edgedl/conformance"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// MNIST models trained here and exported the way `edgedl train` exports
// them (Program.Export, onnx.Save) load in ONNX Runtime, which computes
// the same logits as edgedl's engine on 500 test images and the same
// predictions. Run with: bash scripts/setup-ort.sh && go test -tags ort
// ./train -run ORT.
func TestTrainedModelsRunInORT(t *testing.T) {
	dir, err := data.MNISTDir()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	tr, err := data.MNIST(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	te, err := data.MNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	trainSet := &data.Subset{Data: tr, Indices: data.Permutation(tr.Len(), 1, 0)[:3000]}
	var b data.Batch
	b.Fill(te, data.Permutation(te.Len(), 1, 1)[:500])
	x := b.X
	for _, name := range []string{"mnist-2nn", "dp-cnn", "lenet-5", "mnist-cnn"} {
		t.Run(name, func(t *testing.T) {
			m, err := arch.Build(name, 3)
			if err != nil {
				t.Fatal(err)
			}
			p, err := train.Compile(m, train.Options{Threads: 2, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			cfg := train.Config{Epochs: 1, Batch: 32, LR: 0.05, Optimizer: &train.SGD{Momentum: 0.9}, Seed: 3}
			if name == "dp-cnn" { // DP-SGD as `edgedl train --dp-clip --dp-noise` runs it
				cfg.PerExampleClip, cfg.NoiseMultiplier, cfg.PoissonSampling = 1, 0.5, true
			}
			if _, err := train.Fit(context.Background(), p, trainSet, cfg, train.Callbacks{}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), name+".onnx")
			if err := onnx.Save(path, p.Export()); err != nil {
				t.Fatal(err)
			}
			loaded, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := runtime.Compile(loaded, runtime.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ours, err := s.RunOrdered([]*tensor.Tensor{x}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ort, err := ortref.Open(path, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer ort.Close()
			theirs, err := ort.Run([]*tensor.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			e, err := conformance.RelL2(ours[0], theirs[0])
			if err != nil {
				t.Fatal(err)
			}
			accOurs, accORT, differ := 0, 0, 0
			a, o := ours[0].F32(), theirs[0].F32()
			for i, label := range b.Labels {
				pa, gap := argmax(a[i*10 : (i+1)*10])
				po, _ := argmax(o[i*10 : (i+1)*10])
				if pa == label {
					accOurs++
				}
				if po == label {
					accORT++
				}
				if pa != po && gap > 1e-4 { // a tie within rounding may break either way
					differ++
				}
			}
			t.Logf("%s: rel L2 %.2g between edgedl and ORT logits; accuracy %d/500 (edgedl), %d/500 (ORT)", name, e, accOurs, accORT)
			if e > 1e-5 || differ > 0 {
				t.Errorf("edgedl and ORT disagree: rel L2 %g, %d predictions differ", e, differ)
			}
			// The model must have learned, or the comparison says little
			// (chance is 50/500; 94 noisy DP-SGD steps learn less).
			if floor := map[bool]int{false: 400, true: 250}[cfg.PerExampleClip > 0]; accOurs < floor {
				t.Errorf("accuracy %d/500 after one epoch on 3,000 images, want at least %d", accOurs, floor)
			}
		})
	}
}

// A model file written by `edgedl train` (EDGEDL_ORT_MODEL=F.onnx; skipped
// without it) computes the same logits in ONNX Runtime as in edgedl on all
// 10,000 MNIST test images, and both reach the same accuracy:
//
//	edgedl train dp-cnn --dataset mnist ... --out /tmp/dp.onnx
//	EDGEDL_ORT_MODEL=/tmp/dp.onnx go test -tags ort ./train -run ExportedModel -v
func TestExportedModelInORT(t *testing.T) {
	path := os.Getenv("EDGEDL_ORT_MODEL")
	if path == "" {
		t.Skip("set EDGEDL_ORT_MODEL to a model written by edgedl train")
	}
	dir, err := data.MNISTDir()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	te, err := data.MNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ort, err := ortref.Open(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ort.Close()
	accOurs, accORT, differ := 0, 0, 0
	var worst float64
	idx := make([]int, 0, 500)
	for lo := 0; lo < te.Len(); lo += 500 {
		idx = idx[:0]
		for i := lo; i < min(lo+500, te.Len()); i++ {
			idx = append(idx, i)
		}
		var b data.Batch
		b.Fill(te, idx)
		ours, err := s.RunOrdered([]*tensor.Tensor{b.X}, nil)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := ort.Run([]*tensor.Tensor{b.X})
		if err != nil {
			t.Fatal(err)
		}
		e, err := conformance.RelL2(ours[0], theirs[0])
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, e)
		k := ours[0].Shape[1]
		a, o := ours[0].F32(), theirs[0].F32()
		for i, label := range b.Labels {
			pa, gap := argmax(a[i*k : (i+1)*k])
			po, _ := argmax(o[i*k : (i+1)*k])
			if pa == label {
				accOurs++
			}
			if po == label {
				accORT++
			}
			if pa != po && gap > 1e-4 {
				differ++
			}
		}
	}
	t.Logf("%s: worst rel L2 %.2g per 500-image batch; accuracy %.2f%% (edgedl), %.2f%% (ORT) on %d test images",
		path, worst, 100*float64(accOurs)/float64(te.Len()), 100*float64(accORT)/float64(te.Len()), te.Len())
	if worst > 1e-5 || differ > 0 {
		t.Errorf("edgedl and ORT disagree: rel L2 up to %g, %d predictions differ", worst, differ)
	}
}

// argmax returns the index of the largest value and its margin over the
// runner-up.
func argmax(v []float32) (int, float64) {
	best, second := 0, math.Inf(-1)
	for i, x := range v[1:] {
		if x > v[best] {
			second, best = float64(v[best]), i+1
		} else if float64(x) > second {
			second = float64(x)
		}
	}
	return best, float64(v[best]) - second
}
