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
	switch d := t.Data.(type) {
	case []float32:
		return d, nil
	case []float64:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out, nil
	case []uint16:
		out := make([]float32, len(d))
		switch t.DType {
		case tensor.Float16:
			for i, v := range d {
				out[i] = tensor.HalfToFloat(v)
			}
		case tensor.BFloat16:
			for i, v := range d {
				out[i] = tensor.BFloat16ToFloat(v)
			}
		default:
			return nil, fmt.Errorf("attention: %v is not a float type", t.DType)
		}
		return out, nil
	}
	return nil, fmt.Errorf("attention: %v is not a float type", t.DType)
}

// store writes src into dst, a float tensor of the same length, narrowing
// or widening as dst's dtype requires.
func store(dst *tensor.Tensor, src []float32) {
	switch d := dst.Data.(type) {
	case []float32:
		copy(d, src)
	case []float64:
		for i, v := range src {
			d[i] = float64(v)
		}
	case []uint16:
		if dst.DType == tensor.BFloat16 {
			for i, v := range src {
				d[i] = tensor.FloatToBFloat16(v)
			}
			return
		}
		for i, v := range src {
			d[i] = tensor.FloatToHalf(v)
		}
	}
}
