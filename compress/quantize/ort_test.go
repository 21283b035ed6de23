//go:build ort

package quantize

import (
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/bench/ortref"
	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// agreement runs a saved model with edgedl and ONNX Runtime on the same
// batches: relative L2 of the outputs and argmax mismatches.
func agreement(t *testing.T, path string, data []compress.Batch) (worst float64, mismatches int) {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ref, err := ortref.Open(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, b := range data {
		want, err := ref.Run(b.Inputs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.RunOrdered(b.Inputs, nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := compress.RelL2(got[0], want[0])
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, e)
		if got[0].Rank() == 2 {
			ga, _ := compress.Argmax(got[0])
			wa, _ := compress.Argmax(want[0])
			for i := range ga {
				if ga[i] != wa[i] {
					mismatches++
				}
			}
		}
	}
	return worst, mismatches
}

// ONNX Runtime loads every model this package writes for mnist_cnn and gets
// the same accuracy as edgedl on the 10,000 test images.
func TestORTAgreesMNIST(t *testing.T) {
	m, _ := loadShared(t, "mnist_cnn")
	m2, _ := loadShared(t, "mnist_2nn")
	calib, test := mnistSets(t)
	dir := outDir(t)
	type variant struct {
		name  string
		build func() (*graph.Model, error)
		limit float64 // worst batch rel L2 between the engines
	}
	variants := []variant{
		{"mnist_cnn_int8_qdq", func() (*graph.Model, error) { return Static(m, calib, Options{Logger: quiet}) }, 1e-2},
		{"mnist_cnn_int8_qdq_uint8act_entropy", func() (*graph.Model, error) {
			return Static(m, calib, Options{Logger: quiet, Activations: tensor.Uint8, Method: Entropy})
		}, 1e-2},
		{"mnist_cnn_int8_dynamic", func() (*graph.Model, error) { return Dynamic(m, DynamicOptions{Logger: quiet}) }, 1e-4},
		{"mnist_2nn_int8_dynamic", func() (*graph.Model, error) { return Dynamic(m2, DynamicOptions{Logger: quiet}) }, 1e-5},
		{"mnist_cnn_fp16", func() (*graph.Model, error) { return Float16(m, Float16Options{Logger: quiet}) }, 1e-5},
	}
	for _, v := range variants {
		q, err := v.build()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, v.name+".onnx")
		if err := onnx.Save(path, q); err != nil {
			t.Fatal(err)
		}
		s, err := runtime.Compile(q, runtime.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		ours, err := compress.Accuracy(s, test)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := compress.ORTAccuracy(path, test, 2)
		if err != nil {
			t.Fatal(err)
		}
		worst, mism := agreement(t, path, test)
		t.Logf("%-36s edgedl %.2f%%, ONNX Runtime %.2f%%; worst batch rel L2 %.2g, %d argmax mismatches of %d",
			v.name, 100*ours, 100*theirs, worst, mism, 10000)
		if ours != theirs || worst > v.limit {
			t.Errorf("%s: accuracy %.4f vs %.4f, rel L2 %.3g (limit %g)", v.name, ours, theirs, worst, v.limit)
		}
	}
}

// ONNX Runtime runs the QDQ mobilenet_v2 and agrees with edgedl's integer
// kernels; latencies of both are logged.
func TestORTAgreesMobileNetV2(t *testing.T) {
	m, _ := loadShared(t, "mobilenet_v2")
	calib, err := compress.RandomNormal(m, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Static(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(outDir(t), "mobilenet_v2_int8_qdq.onnx")
	if err := onnx.Save(path, q); err != nil {
		t.Fatal(err)
	}
	test, _ := compress.RandomNormal(m, 4, 2)
	worst, _ := agreement(t, path, test)
	s, err := runtime.Compile(q, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ours, err := compress.Latency(s, test[0].Inputs, 20)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := compress.ORTLatency(path, test[0].Inputs, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("QDQ mobilenet_v2: rel L2 edgedl vs ONNX Runtime %.2g; 1 thread: edgedl %.2f ms, ONNX Runtime %v", worst, ours.MedianMS, theirs)
	if worst > 2e-2 {
		t.Errorf("rel L2 %.3g", worst)
	}
}
