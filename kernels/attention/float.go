package attention

import (
	"fmt"

	"github.com/edgedl/edgedl/tensor"
)

// isFloat reports whether dt is a float type the package computes with.
func isFloat(dt tensor.DType) bool {
	switch dt {
	case tensor.Float32, tensor.Float16, tensor.BFloat16, tensor.Float64:
		return true
	}
	return false
}

// f32 returns t's elements as float32: t's own slice when it is float32
// (the caller must not write to it), a converted copy otherwise.
func f32(t *tensor.Tensor) ([]float32, error) {
	if !isFloat(t.DType) {
		return nil, fmt.Errorf("attention: %v is not a float type", t.DType)
	}
	return t.Float32Values(), nil
}

// store writes src into dst, a float tensor of the same length, narrowing
// or widening as dst's dtype requires.
func store(dst *tensor.Tensor, src []float32) { tensor.StoreFloat32s(dst, src) }
