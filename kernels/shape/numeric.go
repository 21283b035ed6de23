package shape

import (
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// number is the set of element types kernels that compute on values
// (CumSum, scatter reductions, Range, TopK...) are instantiated for.
// float16 and bfloat16 are widened to float32 around such kernels.
type number interface {
	~float32 | ~float64 | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

// byType holds the instantiations of a numeric routine, one per dtype.
type byType[A any] struct {
	f32, f64, i8, u8, i16, u16, i32, u32, i64, u64 func(A) error
}

func (b byType[A]) call(op string, dt tensor.DType, a A) error {
	var f func(A) error
	switch dt {
	case tensor.Float32:
		f = b.f32
	case tensor.Float64:
		f = b.f64
	case tensor.Int8:
		f = b.i8
	case tensor.Uint8:
		f = b.u8
	case tensor.Int16:
		f = b.i16
	case tensor.Uint16:
		f = b.u16
	case tensor.Int32:
		f = b.i32
	case tensor.Uint32:
		f = b.u32
	case tensor.Int64:
		f = b.i64
	case tensor.Uint64:
		f = b.u64
	}
	if f == nil {
		return kernels.Unsupported(op, "dtype %v", dt)
	}
	return f(a)
}

// isHalf reports whether dt is stored as 16-bit float bits.
func isHalf(dt tensor.DType) bool { return dt == tensor.Float16 || dt == tensor.BFloat16 }

// widen returns the values of a float16/bfloat16 tensor as float32.
func widen(t *tensor.Tensor) *tensor.Tensor {
	src := t.Data.([]uint16)
	out := make([]float32, len(src))
	if t.DType == tensor.Float16 {
		for i, h := range src {
			out[i] = tensor.HalfToFloat(h)
		}
	} else {
		for i, h := range src {
			out[i] = tensor.BFloat16ToFloat(h)
		}
	}
	return &tensor.Tensor{DType: tensor.Float32, Shape: t.Shape, Data: out}
}

// narrow stores float32 values into the 16-bit float tensor dst.
func narrow(dst *tensor.Tensor, src []float32) {
	d := dst.Data.([]uint16)
	if dst.DType == tensor.Float16 {
		for i, f := range src {
			d[i] = tensor.FloatToHalf(f)
		}
	} else {
		for i, f := range src {
			d[i] = tensor.FloatToBFloat16(f)
		}
	}
}

// float64Of converts a one-element numeric tensor to float64 (float16 and
// bfloat16 included).
func float64Of(t *tensor.Tensor) float64 {
	if t.Len() == 0 {
		return math.NaN()
	}
	return t.Float64At(0)
}

// scalarOf returns a rank-0 tensor of dtype dt holding v (converted as a
// numpy cast would; bool is v != 0).
func scalarOf(dt tensor.DType, v float64) (*tensor.Tensor, error) {
	t, err := tensor.Make(dt, []int{})
	if err != nil {
		return nil, err
	}
	switch d := t.Data.(type) {
	case []float32:
		d[0] = float32(v)
	case []float64:
		d[0] = v
	case []int8:
		d[0] = int8(v)
	case []uint8:
		d[0] = uint8(v)
	case []int16:
		d[0] = int16(v)
	case []uint16:
		switch dt {
		case tensor.Float16:
			d[0] = tensor.FloatToHalf(float32(v))
		case tensor.BFloat16:
			d[0] = tensor.FloatToBFloat16(float32(v))
		default:
			d[0] = uint16(v)
		}
	case []int32:
		d[0] = int32(v)
	case []uint32:
		d[0] = uint32(v)
	case []int64:
		d[0] = int64(v)
	case []uint64:
		d[0] = uint64(v)
	case []bool:
		d[0] = v != 0
	default:
		return nil, kernels.Unsupported("cast", "dtype %v", dt)
	}
	return t, nil
}
