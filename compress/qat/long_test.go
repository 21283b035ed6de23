package qat

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/quantize"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

// TestLongQATMNISTCNN fine-tunes the shared mnist_cnn (99.0%) with
// quantisation-aware training and compares, on the 10,000 MNIST test
// images, the float model, post-training quantisation (min-max, the same
// 1,000 calibration images) and the QAT model exported to QDQ; both QDQ
// models must run as integer kernels and QAT must not be worse than PTQ.
// Minutes on two cores, so it runs only with EDGEDL_LONG=1:
//
//	EDGEDL_LONG=1 go test ./compress/qat -run TestLongQATMNISTCNN -v -timeout 1h
//
// EDGEDL_QAT_N (training images, default 60000) and EDGEDL_QAT_EPOCHS
// (default 1) change the run; EDGEDL_COMPRESS_OUT keeps the QDQ files;
// EDGEDL_QAT_CONTROL=1 adds the control: the same fine-tuning in float,
// then post-training quantisation.
func TestLongQATMNISTCNN(t *testing.T) {
	if os.Getenv("EDGEDL_LONG") != "1" {
		t.Skip("set EDGEDL_LONG=1 to fine-tune mnist_cnn with QAT")
	}
	m, err := onnx.Load(filepath.Join(testenv.Shared(t), "models", "mnist_cnn", "model.onnx"))
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
	te, err := data.MNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	n := testenv.Int("EDGEDL_QAT_N", full.Len())
	epochs := testenv.Int("EDGEDL_QAT_EPOCHS", 1)
	var tr data.Dataset = full
	if n < full.Len() {
		tr = &data.Subset{Data: full, Indices: data.Permutation(full.Len(), 7, 0)[:n]}
	}
	calib := batches(&data.Subset{Data: full, Indices: seq(1000)}, 250)
	test := batches(te, 1000)

	ptq, err := quantize.Static(m, calib, quantize.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	q, err := Prepare(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p, err := q.Compile(train.Options{Threads: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	steps := int64(epochs * ((tr.Len() + 63) / 64))
	hist, err := train.Fit(context.Background(), p, tr, train.Config{Epochs: epochs, Batch: 64,
		Optimizer: &train.SGD{Momentum: 0.9}, Schedule: train.CosineLR{Base: 1e-3, Steps: steps}, Seed: 1},
		train.Callbacks{Epoch: func(e train.EpochMetrics) error {
			t.Logf("QAT epoch %d: loss %.4f, train acc %.4f, %.0f samples/s", e.Epoch+1, e.TrainLoss, e.TrainAcc, e.SamplesPerSec)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	_ = hist
	qm, err := q.Export(p)
	if err != nil {
		t.Fatal(err)
	}
	_, fqAcc, err := p.Evaluate(te, 500, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if d := os.Getenv("EDGEDL_COMPRESS_OUT"); d != "" {
		out = d
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var acc [3]float64
	var size [3]int64
	for i, v := range []struct {
		name string
		m    *graph.Model
	}{{"mnist_cnn_fp32.onnx", m}, {"mnist_cnn_ptq_int8.onnx", ptq}, {"mnist_cnn_qat_int8.onnx", qm}} {
		path := filepath.Join(out, v.name)
		if err := onnx.Save(path, v.m); err != nil {
			t.Fatal(err)
		}
		size[i], _ = compress.FileSize(path)
		r, err := compress.Measure(v.name, v.m, test, compress.MeasureOptions{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		acc[i] = r.Accuracy
		if i > 0 {
			ops := executedOps(t, v.m, test[0].Inputs[0])
			if ops["QConv"] != 2 || ops["QGemm"] != 2 || ops["Conv"] != 0 || ops["Gemm"] != 0 {
				t.Errorf("%s executed %v: want 2 QConv and 2 QGemm", v.name, ops)
			}
		}
	}
	t.Logf("mnist_cnn on the 10,000 test images: fp32 %.2f%% (%d bytes); PTQ int8 %.2f%% (%d bytes); "+
		"QAT int8 (%d epoch(s) on %d images) %.2f%% (%d bytes; the fake-quant program: %.2f%%)",
		100*acc[0], size[0], 100*acc[1], size[1], epochs, tr.Len(), 100*acc[2], size[2], 100*fqAcc)
	if acc[2] < acc[1] {
		t.Errorf("QAT accuracy %.4f is below PTQ's %.4f", acc[2], acc[1])
	}
	if os.Getenv("EDGEDL_QAT_CONTROL") != "1" {
		return
	}
	// Control: the same fine-tuning in float, then PTQ, separates what QAT
	// gains from what the extra epoch of training gains.
	fp, err := train.Compile(m, train.Options{Threads: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	if _, err := train.Fit(context.Background(), fp, tr, train.Config{Epochs: epochs, Batch: 64,
		Optimizer: &train.SGD{Momentum: 0.9}, Schedule: train.CosineLR{Base: 1e-3, Steps: steps}, Seed: 1},
		train.Callbacks{}); err != nil {
		t.Fatal(err)
	}
	ft := fp.Export()
	ftq, err := quantize.Static(ft, calib, quantize.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var cacc [2]float64
	for i, mm := range []*graph.Model{ft, ftq} {
		r, err := compress.Measure("control", mm, test, compress.MeasureOptions{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		cacc[i] = r.Accuracy
	}
	t.Logf("control: the same fine-tuning in float %.2f%%, then PTQ int8 %.2f%% (QAT int8 %.2f%%)", 100*cacc[0], 100*cacc[1], 100*acc[2])
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
