//go:build ort

package ortref

import (
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/conformance"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
)

// The reference must reproduce its own stored outputs.
func TestORTMatchesStoredOutputs(t *testing.T) {
	dir := filepath.Join(testenv.Shared(t), "models", "mnist_cnn")
	s, err := Open(filepath.Join(dir, "model.onnx"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x, err := onnx.ReadTensor(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := onnx.ReadTensor(filepath.Join(dir, "test_data_set_0", "output_0.pb"))
	got, err := s.Run([]*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	e, err := conformance.RelL2(got[0], want)
	if err != nil || e > 1e-5 {
		t.Fatalf("rel L2 %g, %v", e, err)
	}
}
