package onnx_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
)

// FuzzDecodeModel feeds arbitrary bytes to the model decoder: it must return
// a model or an error, never panic, hang or allocate without bound.
func FuzzDecodeModel(f *testing.F) {
	b, _ := onnx.Encode(tinyModel())
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x3a, 0x02, 0x0a, 0x00})
	if seeds, _ := filepath.Glob("../../shared/models/mnist_2nn/model.onnx"); len(seeds) > 0 {
		if s, err := os.ReadFile(seeds[0]); err == nil {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := onnx.Decode(data, "")
		if err == nil && m.Graph == nil {
			t.Fatal("nil graph without error")
		}
	})
}

// FuzzDecodeTensor does the same for TensorProto files.
func FuzzDecodeTensor(f *testing.F) {
	for _, t := range []*tensor.Tensor{
		tensor.Float32s([]int{2, 2}, []float32{1, 2, 3, 4}),
		tensor.Int64s([]int{1}, []int64{7}),
		{DType: tensor.String, Shape: []int{1}, Data: []string{"x"}},
	} {
		b, _ := onnx.EncodeTensor("t", t)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, _, err := onnx.DecodeTensor(data)
		if err != nil {
			return
		}
		n, err := tensor.NumElements(v.Shape)
		if err != nil || n != v.Len() {
			t.Fatalf("decoded tensor with inconsistent shape %v and %d elements", v.Shape, v.Len())
		}
		if n > len(data)*8+8 && v.DType != tensor.String {
			t.Fatalf("decoded %d elements from %d bytes", n, len(data))
		}
	})
}
