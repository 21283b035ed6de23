package quant

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// qint is the set of integer element types quantized tensors use.
type qint interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32
}

// qrange is the representable range of a quantized integer dtype.
func qrange(dt tensor.DType) (lo, hi int64, ok bool) {
	switch dt {
	case tensor.Int8:
		return math.MinInt8, math.MaxInt8, true
	case tensor.Uint8:
		return 0, math.MaxUint8, true
	case tensor.Int16:
		return math.MinInt16, math.MaxInt16, true
	case tensor.Uint16:
		return 0, math.MaxUint16, true
	case tensor.Int32:
		return math.MinInt32, math.MaxInt32, true
	}
	return 0, 0, false
}

// is8bit reports whether dt is int8 or uint8, the GEMM operand types.
func is8bit(dt tensor.DType) bool { return dt == tensor.Int8 || dt == tensor.Uint8 }

// scaleValues returns the elements of a float32, float16 or bfloat16 scale
// tensor as float32 (exactly).
func scaleValues(op string, t *tensor.Tensor) ([]float32, error) {
	switch t.DType {
	case tensor.Float32:
		return t.F32(), nil
	case tensor.Float16, tensor.BFloat16:
		return t.Float32Values(), nil
	}
	return nil, kernels.Unsupported(op, "scale dtype %v", t.DType)
}

// zeroValues returns the elements of an integer zero-point tensor as int32.
func zeroValues(t *tensor.Tensor) []int32 {
	out := make([]int32, t.Len())
	for i := range out {
		out[i] = int32(t.Int64At(i))
	}
	return out
}

// roundScale rounds a float32 value to the precision of dt (float16 and
// bfloat16 scales make the reference compute in that precision).
func roundScale(v float32, dt tensor.DType) float32 {
	switch dt {
	case tensor.Float16:
		return tensor.HalfToFloat(tensor.FloatToHalf(v))
	case tensor.BFloat16:
		return tensor.BFloat16ToFloat(tensor.FloatToBFloat16(v))
	}
	return v
}

// saturate rounds v half to even, adds zp and clamps to [lo, hi]. NaN maps
// to lo, as the ONNX reference implementation does.
func saturate(v float64, zp, lo, hi float64) float64 {
	r := math.RoundToEven(v) + zp
	if r >= lo && r <= hi {
		return r
	}
	if r > hi {
		return hi
	}
	return lo
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}

// isScalarLike reports whether t holds exactly one element.
func isScalarLike(t *tensor.Tensor) bool { return t.Len() == 1 }

// product multiplies dims.
func product(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}
