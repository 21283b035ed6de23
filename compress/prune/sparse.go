package prune

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/onnx/onnxpb"
	"github.com/edgedl/edgedl/tensor"
)

// EncodeSparse encodes m as an ONNX file in which every float32
// initializer with at least minSparsity zeros is stored as a
// sparse_initializer: its non-zero values and their int64 row-major
// positions (ONNX's COO form for sparse constants). That takes 12 bytes per
// non-zero instead of 4 per element, so it pays above 2/3 sparsity; other
// tensors stay dense. onnx.Decode, and ONNX Runtime, read the sparse
// tensors back as dense ones. It returns the names stored sparse.
func EncodeSparse(m *graph.Model, minSparsity float64) ([]byte, []string, error) {
	if !(minSparsity >= 0 && minSparsity <= 1) {
		return nil, nil, fmt.Errorf("prune: minimum sparsity %v is out of range [0, 1]", minSparsity)
	}
	mp, err := onnx.ToProto(m)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: %w", err)
	}
	var sparse []string
	kept := mp.Graph.Initializer[:0]
	for _, tp := range mp.Graph.Initializer {
		t := m.Graph.Initializers[tp.Name]
		sp := toSparse(tp.Name, t, minSparsity)
		if sp == nil {
			kept = append(kept, tp)
			continue
		}
		mp.Graph.SparseInitializer = append(mp.Graph.SparseInitializer, sp)
		sparse = append(sparse, tp.Name)
	}
	mp.Graph.Initializer = kept
	b, err := proto.Marshal(mp)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: %w", err)
	}
	return b, sparse, nil
}

// toSparse returns the COO form of t when it is sparse enough and smaller.
func toSparse(name string, t *tensor.Tensor, minSparsity float64) *onnxpb.SparseTensorProto {
	if t == nil || t.DType != tensor.Float32 || t.Len() == 0 {
		return nil
	}
	var vals []float32
	var idx []int64
	for i, v := range t.F32() {
		if v != 0 {
			vals = append(vals, v)
			idx = append(idx, int64(i))
		}
	}
	zeros := t.Len() - len(vals)
	if float64(zeros) < minSparsity*float64(t.Len()) || 12*len(vals) >= 4*t.Len() {
		return nil
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	return &onnxpb.SparseTensorProto{
		Values:  onnx.TensorToProto(name, tensor.Float32s([]int{len(vals)}, vals)),
		Indices: onnx.TensorToProto(name+"_indices", tensor.Int64s([]int{len(idx)}, idx)),
		Dims:    dims,
	}
}

// SaveSparse writes EncodeSparse's file.
func SaveSparse(path string, m *graph.Model, minSparsity float64) ([]string, error) {
	b, names, err := EncodeSparse(m, minSparsity)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return names, nil
}
