//go:build ort

package ortref

import (
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

func argmaxRows(t *tensor.Tensor) []int {
	n, c := t.Shape[0], t.Shape[1]
	out := make([]int, n)
	for i := 0; i < n; i++ {
		row := t.F32()[i*c : (i+1)*c]
		for j := range row {
			if row[j] > row[out[i]] {
				out[i] = j
			}
		}
	}
	return out
}

// The int8 QDQ model, run by edgedl in integer arithmetic, must match ONNX
// Runtime within 1e-2 relative L2 with the same argmax on every image.
func TestQDQMatchesORT(t *testing.T) {
	path := filepath.Join(testenv.Shared(t), "models", "quantized", "mnist_cnn_int8_qdq.onnx")
	dir, err := mnist.Dir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := mnist.Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Open(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	worst, mismatches := 0.0, 0
	const n, bs = 2000, 200
	for lo := 0; lo < n; lo += bs {
		x := set.Batch(lo, lo+bs)
		want, err := ref.Run([]*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.RunOrdered([]*tensor.Tensor{x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := conformance.RelL2(got[0], want[0])
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, e)
		ga, wa := argmaxRows(got[0]), argmaxRows(want[0])
		for i := range ga {
			if ga[i] != wa[i] {
				mismatches++
			}
		}
	}
	t.Logf("%d images: worst batch rel L2 vs ONNX Runtime %.3g, %d argmax mismatches", n, worst, mismatches)
	if worst > 1e-2 || mismatches > 0 {
		t.Errorf("rel L2 %.3g (limit 1e-2), %d argmax mismatches", worst, mismatches)
	}
}
