package image

import (
	"fmt"

	"github.com/edgedl/edgedl/tensor"
)

func isFloat(dt tensor.DType) bool {
	switch dt {
	case tensor.Float32, tensor.Float16, tensor.BFloat16, tensor.Float64:
		return true
	}
	return false
}

// f32 returns t's elements as float32: t's own slice when it is float32
// (read only), a converted copy otherwise.
func f32(t *tensor.Tensor) ([]float32, error) {
	if !isFloat(t.DType) {
		return nil, fmt.Errorf("image: %v is not a float type", t.DType)
	}
	return t.Float32Values(), nil
}

// scratch returns t's data if t is float32, else a float32 buffer of t's
// length whose contents the caller stores into t with store.
func scratch(t *tensor.Tensor) []float32 {
	if d, ok := t.Data.([]float32); ok {
		return d
	}
	return make([]float32, t.Len())
}

// store writes src into the float tensor dst (no-op when dst already holds src).
func store(dst *tensor.Tensor, src []float32) { tensor.StoreFloat32s(dst, src) }

// floats returns the values of a float or integer tensor as float64.
func floats(t *tensor.Tensor) []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Float64At(i)
	}
	return out
}

func optional(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}
