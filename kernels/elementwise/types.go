package elementwise

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// Type sets for the generic loops. Each instantiation is compiled for its
// own machine type, so the loops carry no per-element indirection.
type (
	float  interface{ ~float32 | ~float64 }
	signed interface {
		~int8 | ~int16 | ~int32 | ~int64
	}
	unsigned interface {
		~uint8 | ~uint16 | ~uint32 | ~uint64
	}
	integer interface{ signed | unsigned }
	number  interface{ float | integer }
	ordered interface{ number | ~string }
)

// Work sizes (elements) below which a loop is not split across threads:
// cheap loops need more work per chunk to pay for the hand-off.
const (
	grainCheap = 1 << 15
	grainMath  = 1 << 12
)

func isHalf(dt tensor.DType) bool { return dt == tensor.Float16 || dt == tensor.BFloat16 }

// decodeHalf widens float16 or bfloat16 bits to float32.
func decodeHalf(dst []float32, src []uint16, dt tensor.DType) {
	src = src[:len(dst)]
	if dt == tensor.BFloat16 {
		for i, h := range src {
			dst[i] = math.Float32frombits(uint32(h) << 16)
		}
		return
	}
	for i, h := range src {
		dst[i] = tensor.HalfToFloat(h)
	}
}

// encodeHalf rounds float32 to float16 or bfloat16 bits (nearest even).
func encodeHalf(dst []uint16, src []float32, dt tensor.DType) {
	src = src[:len(dst)]
	if dt == tensor.BFloat16 {
		for i, f := range src {
			dst[i] = tensor.FloatToBFloat16(f)
		}
		return
	}
	for i, f := range src {
		dst[i] = tensor.FloatToHalf(f)
	}
}

// toFloat32 returns a float32 copy of a float16/bfloat16 tensor. The copy is
// scratch space owned by the garbage collector, not by the run's recycler.
func toFloat32(ctx *kernels.Ctx, t *tensor.Tensor) (*tensor.Tensor, error) {
	f, err := tensor.Make(tensor.Float32, t.Shape)
	if err != nil {
		return nil, err
	}
	src, dst := t.Data.([]uint16), f.Data.([]float32)
	ctx.Parallel(len(dst), grainCheap, func(lo, hi int) { decodeHalf(dst[lo:hi], src[lo:hi], t.DType) })
	return f, nil
}

// fromFloat32 rounds a float32 tensor to dt (float16 or bfloat16) in a
// buffer from ctx.
func fromFloat32(ctx *kernels.Ctx, t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	o, err := ctx.Alloc(dt, t.Shape)
	if err != nil {
		return nil, err
	}
	src, dst := t.Data.([]float32), o.Data.([]uint16)
	ctx.Parallel(len(dst), grainCheap, func(lo, hi int) { encodeHalf(dst[lo:hi], src[lo:hi], dt) })
	return o, nil
}

// viaFloat32 runs k with every float16/bfloat16 input widened to float32
// and, if encode is set, rounds float32 outputs back to dt (callers check
// that the inputs' dtypes fit the operator first). Kernels call it
// first thing in Run when they see a half-precision input.
func viaFloat32(ctx *kernels.Ctx, k kernels.Kernel, in, out []*tensor.Tensor, dt tensor.DType, encode bool) error {
	in32 := make([]*tensor.Tensor, len(in))
	for i, t := range in {
		in32[i] = t
		if t != nil && isHalf(t.DType) {
			f, err := toFloat32(ctx, t)
			if err != nil {
				return err
			}
			in32[i] = f
		}
	}
	if err := k.Run(ctx, in32, out); err != nil {
		return err
	}
	if encode {
		for i, o := range out {
			if o != nil && o.DType == tensor.Float32 {
				h, err := fromFloat32(ctx, o, dt)
				if err != nil {
					return err
				}
				out[i] = h
			}
		}
	}
	return nil
}

// sameDType checks that all present inputs share one dtype and returns it.
func sameDType(op string, in []*tensor.Tensor) (tensor.DType, error) {
	dt := tensor.Undefined
	for i, t := range in {
		if t == nil {
			continue
		}
		if dt == tensor.Undefined {
			dt = t.DType
		} else if t.DType != dt {
			return dt, fmt.Errorf("%s: input %d is %v, input 0 is %v", op, i, t.DType, dt)
		}
	}
	return dt, nil
}

// hasZero reports whether s holds a zero (integer division guard).
func hasZero[T integer](s []T) bool {
	for _, v := range s {
		if v == 0 {
			return true
		}
	}
	return false
}

// zeroDivisor reports whether an integer tensor holds a zero.
func zeroDivisor(t *tensor.Tensor) bool {
	switch d := t.Data.(type) {
	case []int8:
		return hasZero(d)
	case []uint8:
		return hasZero(d)
	case []int16:
		return hasZero(d)
	case []uint16:
		return hasZero(d)
	case []int32:
		return hasZero(d)
	case []uint32:
		return hasZero(d)
	case []int64:
		return hasZero(d)
	case []uint64:
		return hasZero(d)
	}
	return false
}

// checkInputs validates the number of inputs at build time.
func checkInputs(b *kernels.BuildContext, min, max int) error {
	n := len(b.Inputs)
	if n < min || (max >= 0 && n > max) {
		if max == min {
			return b.Errorf("expects %d inputs, got %d", min, n)
		}
		return b.Errorf("expects %d to %d inputs, got %d", min, max, n)
	}
	for i := 0; i < min; i++ {
		if !b.Inputs[i].Present {
			return b.Errorf("input %d is required", i)
		}
	}
	return nil
}

// dtypeSet is a set of dtypes an operator accepts.
type dtypeSet uint32

func dtypes(dts ...tensor.DType) dtypeSet {
	var s dtypeSet
	for _, d := range dts {
		s |= 1 << uint(d)
	}
	return s
}

func (s dtypeSet) has(dt tensor.DType) bool { return dt >= 0 && dt < 32 && s&(1<<uint(dt)) != 0 }

var (
	floatTypes = dtypes(tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16)
	sintTypes  = dtypes(tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64)
	uintTypes  = dtypes(tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64)
	intTypes   = sintTypes | uintTypes
	numTypes   = floatTypes | intTypes
	boolType   = dtypes(tensor.Bool)
	allTypes   = numTypes | boolType | dtypes(tensor.String)
)

// checkDType rejects a dtype outside ok; Undefined (unknown at build time)
// passes.
func checkDType(op string, dt tensor.DType, ok dtypeSet) error {
	if dt == tensor.Undefined || ok.has(dt) {
		return nil
	}
	return kernels.Unsupported(op, "dtype %v", dt)
}

// checkBuildDTypes checks the known dtypes of inputs idx at build time.
func checkBuildDTypes(b *kernels.BuildContext, ok dtypeSet, idx ...int) error {
	for _, i := range idx {
		if i < len(b.Inputs) && b.Inputs[i].Present {
			if err := checkDType(b.Node.OpType, b.Inputs[i].DType, ok); err != nil {
				return err
			}
		}
	}
	return nil
}
