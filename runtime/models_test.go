package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/conformance"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/internal/testenv"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// runSets runs every test_data_set_* of a model folder and returns the
// worst relative L2 error over all outputs.
func runSets(t *testing.T, dir string, threads int) float64 {
	t.Helper()
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		t.Fatalf("%s: no test sets", dir)
	}
	worst := 0.0
	for _, set := range sets {
		var ins []*tensor.Tensor
		for i := range s.Inputs() {
			x, err := onnx.ReadTensor(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
			if err != nil {
				t.Fatal(err)
			}
			ins = append(ins, x)
		}
		outs, err := s.RunOrdered(ins, nil)
		if err != nil {
			t.Fatalf("%s: %v", set, err)
		}
		for i := range outs {
			want, err := onnx.ReadTensor(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				t.Fatal(err)
			}
			e, err := conformance.RelL2(outs[i], want)
			if err != nil {
				t.Fatalf("%s output %d: %v", set, i, err)
			}
			if e > worst {
				worst = e
			}
		}
	}
	return worst
}

// TestSharedModels checks every reference model against ONNX Runtime's
// stored outputs: relative L2 error <= 1e-4, at 1 and 2 threads.
func TestSharedModels(t *testing.T) {
	root := filepath.Join(testenv.Shared(t), "models")
	for _, name := range []string{"mnist_cnn", "mnist_2nn", "mobilenet_v2", "squeezenet1_1"} {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(t *testing.T) {
				e := runSets(t, filepath.Join(root, name), threads)
				t.Logf("worst rel L2 %.3g", e)
				if e > 1e-4 {
					t.Errorf("rel L2 %.3g > 1e-4", e)
				}
			})
		}
	}
}

// TestZooLight loads and runs the ONNX model-zoo "light" graphs (weights
// built by ConstantOfShape) and compares with the stored outputs.
func TestZooLight(t *testing.T) {
	if testing.Short() {
		t.Skip("zoo models take a while; skipped in -short mode")
	}
	root := filepath.Join(testenv.Shared(t), "models", "onnx-zoo-light")
	dirs, _ := filepath.Glob(filepath.Join(root, "*"))
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "test_data_set_0")); err != nil {
			// vgg19 ships without a test set: it must at least compile.
			t.Run(filepath.Base(dir), func(t *testing.T) {
				m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
				if err != nil {
					t.Fatal(err)
				}
				s, err := runtime.Compile(m, runtime.Options{Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
			})
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			e := runSets(t, dir, 2)
			t.Logf("worst rel L2 %.3g", e)
			if e > 1e-4 {
				t.Errorf("rel L2 %.3g > 1e-4", e)
			}
		})
	}
}

// accuracy classifies the whole MNIST test set with a model.
func accuracy(t *testing.T, path string) float64 {
	t.Helper()
	dir, err := mnist.Dir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := mnist.Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	correct := 0
	const bs = 500
	for lo := 0; lo < set.Len(); lo += bs {
		hi := min(lo+bs, set.Len())
		outs, err := s.RunOrdered([]*tensor.Tensor{set.Batch(lo, hi)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		logits := outs[0].F32()
		for i := 0; i < hi-lo; i++ {
			row := logits[i*10 : i*10+10]
			best := 0
			for j := range row {
				if row[j] > row[best] {
					best = j
				}
			}
			if best == int(set.Labels[lo+i]) {
				correct++
			}
		}
	}
	return float64(correct) / float64(set.Len())
}

// TestMNISTAccuracy: the fp32 CNN must match ONNX Runtime's 99.00% and the
// int8 QDQ model must reach >= 98.8% (ONNX Runtime: 98.95%).
func TestMNISTAccuracy(t *testing.T) {
	root := filepath.Join(testenv.Shared(t), "models")
	if testing.Short() {
		t.Skip("full MNIST test set; skipped in -short mode")
	}
	acc := accuracy(t, filepath.Join(root, "mnist_cnn", "model.onnx"))
	t.Logf("mnist_cnn fp32: %.2f%%", 100*acc)
	if acc < 0.9899 {
		t.Errorf("mnist_cnn accuracy %.4f, ONNX Runtime gets 0.9900", acc)
	}
	acc = accuracy(t, filepath.Join(root, "quantized", "mnist_cnn_int8_qdq.onnx"))
	t.Logf("mnist_cnn int8 QDQ: %.2f%%", 100*acc)
	if acc < 0.988 {
		t.Errorf("QDQ accuracy %.4f < 0.988", acc)
	}
}

// TestQDQRunsInInteger checks that the optimizer turns ONNX Runtime's QDQ
// model into integer kernels: no float Conv or Gemm is left to execute.
func TestQDQRunsInInteger(t *testing.T) {
	path := filepath.Join(testenv.Shared(t), "models", "quantized", "mnist_cnn_int8_qdq.onnx")
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in, err := s.SyntheticInputs(runtime.SyntheticOptions{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.InferShapes(in)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range info.Nodes {
		ops[n.Op]++
	}
	if ops["QConv"] != 2 || ops["QGemm"] != 2 || ops["Conv"] != 0 || ops["Gemm"] != 0 || ops["DequantizeLinear"] != 1 {
		t.Errorf("executed ops after the QDQ rewrite: %v", ops)
	}
}
