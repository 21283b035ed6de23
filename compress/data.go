package compress

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// Batch is one batch of model inputs, in the graph's input order, with the
// class label of each row of the batch when known (Labels is nil for
// unlabelled data such as calibration inputs).
type Batch struct {
	Inputs []*tensor.Tensor
	Labels []int
}

// Rows is the batch's leading dimension (of its first input).
func (b Batch) Rows() int {
	if len(b.Inputs) == 0 || b.Inputs[0] == nil || b.Inputs[0].Rank() == 0 {
		return 0
	}
	return b.Inputs[0].Shape[0]
}

// ErrNoData is returned for an empty calibration or evaluation set.
var ErrNoData = errors.New("compress: no data (the batch list is empty)")

// MNIST returns images [lo, hi) of set as batches of at most size rows,
// with their labels.
func MNIST(set *mnist.Set, lo, hi, size int) ([]Batch, error) {
	if set == nil || lo < 0 || hi > set.Len() || lo >= hi || size <= 0 {
		return nil, fmt.Errorf("compress: bad MNIST range [%d,%d) of %d images, batch size %d", lo, hi, setLen(set), size)
	}
	var out []Batch
	for a := lo; a < hi; a += size {
		b := min(a+size, hi)
		labels := make([]int, b-a)
		for i := range labels {
			labels[i] = int(set.Labels[a+i])
		}
		out = append(out, Batch{Inputs: []*tensor.Tensor{set.Batch(a, b)}, Labels: labels})
	}
	return out, nil
}

func setLen(s *mnist.Set) int {
	if s == nil {
		return 0
	}
	return s.Len()
}

// RandomNormal returns n batches of one sample each, drawn from the
// standard normal distribution, shaped like the model's float32 inputs
// (symbolic dimensions become 1). It is the calibration set for models with
// random weights, where no real data means anything.
func RandomNormal(m *graph.Model, n int, seed uint64) ([]Batch, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("compress: nil model")
	}
	if n <= 0 {
		return nil, ErrNoData
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Batch, n)
	for i := range out {
		for _, v := range m.Graph.Inputs {
			shape, ok := v.StaticShape(1)
			if !ok || v.DType != tensor.Float32 {
				return nil, fmt.Errorf("compress: input %q is %v %s: only float32 inputs of known rank can be drawn", v.Name, v.DType, v.ShapeString())
			}
			t, err := tensor.Make(tensor.Float32, shape)
			if err != nil {
				return nil, fmt.Errorf("compress: input %q: %w", v.Name, err)
			}
			for j := range t.F32() {
				t.F32()[j] = float32(r.NormFloat64())
			}
			out[i].Inputs = append(out[i].Inputs, t)
		}
	}
	return out, nil
}

// CheckBatches verifies that data is not empty and that every batch
// matches the model's declared inputs (count, dtype, rank and fixed
// dimensions) and has as many labels as rows, if it has labels.
func CheckBatches(m *graph.Model, data []Batch) error {
	if len(data) == 0 {
		return ErrNoData
	}
	ins := m.Graph.Inputs
	for bi, b := range data {
		if len(b.Inputs) != len(ins) {
			return fmt.Errorf("compress: batch %d has %d inputs, the model takes %d", bi, len(b.Inputs), len(ins))
		}
		for i, v := range ins {
			t := b.Inputs[i]
			if t == nil {
				return fmt.Errorf("compress: batch %d: input %q is nil", bi, v.Name)
			}
			if v.DType != tensor.Undefined && t.DType != v.DType {
				return fmt.Errorf("compress: batch %d: input %q must be %v, got %v", bi, v.Name, v.DType, t.DType)
			}
			if v.HasShape {
				bad := len(t.Shape) != len(v.Shape)
				for j := 0; !bad && j < len(v.Shape); j++ {
					bad = v.Shape[j].Known() && int64(t.Shape[j]) != v.Shape[j].Value
				}
				if bad {
					return fmt.Errorf("compress: batch %d: input %q must have shape %s, got %s", bi, v.Name, v.ShapeString(), tensor.ShapeString(t.Shape))
				}
			}
			if n, err := tensor.NumElements(t.Shape); err != nil || n != t.Len() || n == 0 {
				return fmt.Errorf("compress: batch %d: input %q: shape %v does not match its %d elements", bi, v.Name, t.Shape, t.Len())
			}
		}
		if b.Labels != nil && len(b.Labels) != b.Rows() {
			return fmt.Errorf("compress: batch %d has %d labels for %d rows", bi, len(b.Labels), b.Rows())
		}
	}
	return nil
}
