package train

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

// float is the element type of a training program: float32 for training,
// float64 for the gradient checks in the tests.
type float interface{ ~float32 | ~float64 }

// tens is the program's dense row-major array.
type tens[F float] struct {
	shape []int
	data  []F
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ensure makes *t a tensor of the given shape, reusing its storage when it
// is large enough. The contents are unspecified.
func ensure[F float](t **tens[F], shape []int) *tens[F] {
	n := numel(shape)
	if *t == nil {
		*t = &tens[F]{}
	}
	x := *t
	if cap(x.data) < n {
		x.data = make([]F, n)
	}
	x.data = x.data[:n]
	x.shape = append(x.shape[:0], shape...)
	return x
}

// ensureZero is ensure followed by clearing.
func ensureZero[F float](t **tens[F], shape []int) *tens[F] {
	x := ensure(t, shape)
	clear(x.data)
	return x
}

// toTens converts a float tensor of any float dtype into a tens[F]. A
// float32 tensor converted to tens[float32] shares its data.
func toTens[F float](t *tensor.Tensor) (*tens[F], error) {
	out := &tens[F]{shape: append([]int{}, t.Shape...)}
	switch d := t.Data.(type) {
	case []F:
		out.data = d
		return out, nil
	case []float32:
		out.data = make([]F, len(d))
		for i, v := range d {
			out.data[i] = F(v)
		}
	case []float64:
		out.data = make([]F, len(d))
		for i, v := range d {
			out.data[i] = F(v)
		}
	default:
		if !isFloatDType(t.DType) {
			return nil, fmt.Errorf("train: value of dtype %v is not a float tensor", t.DType)
		}
		out.data = make([]F, t.Len())
		for i := range out.data {
			out.data[i] = F(t.Float64At(i))
		}
	}
	return out, nil
}

func isFloatDType(dt tensor.DType) bool {
	switch dt {
	case tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16:
		return true
	}
	return false
}

// toTensor wraps t as a tensor.Tensor: float32 data is shared, float64
// data is shared with dtype Float64.
func toTensor[F float](t *tens[F]) *tensor.Tensor {
	switch d := any(t.data).(type) {
	case []float32:
		return &tensor.Tensor{DType: tensor.Float32, Shape: append([]int{}, t.shape...), Data: d}
	case []float64:
		return &tensor.Tensor{DType: tensor.Float64, Shape: append([]int{}, t.shape...), Data: d}
	}
	panic("train: unreachable")
}

// mm computes C = alpha*op(A)*op(B) + beta*C (row-major), with gemm.Sgemm
// for float32 (split over par when given) and a plain loop for float64.
func mm[F float](par gemm.ParallelFor, transA, transB bool, m, n, k int, alpha F, a []F, lda int,
	b []F, ldb int, beta F, c []F, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if a32, ok := any(a).([]float32); ok {
		b32, c32 := any(b).([]float32), any(c).([]float32)
		var opt *gemm.Options
		if par != nil {
			opt = &gemm.Options{Parallel: par}
		}
		gemm.SgemmEx(transA, transB, m, n, k, float32(alpha), a32, lda, b32, ldb, float32(beta), c32, ldc, opt)
		return
	}
	gemm.Dgemm(transA, transB, m, n, k, float64(alpha), any(a).([]float64), lda,
		any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
}

// bcast describes a binary broadcast: the output shape and, for each
// operand, its element strides in the output's index space (0 on
// broadcast dims).
type bcast struct {
	out    []int
	sa, sb []int
}

func newBcast(a, b []int) (*bcast, error) {
	out, err := tensor.BroadcastShapes(a, b)
	if err != nil {
		return nil, err
	}
	return &bcast{out: out, sa: tensor.BroadcastStrides(a, out), sb: tensor.BroadcastStrides(b, out)}, nil
}

// each calls fn for every run of the innermost output dim:
// output elements [o, o+n), operand offsets ia, ib with strides da, db.
func (bc *bcast) each(fn func(o, ia, da, ib, db, n int)) {
	r := len(bc.out)
	if r == 0 {
		fn(0, 0, 0, 0, 0, 1)
		return
	}
	n := bc.out[r-1]
	total := numel(bc.out)
	if total == 0 {
		return
	}
	da, db := bc.sa[r-1], bc.sb[r-1]
	idx := make([]int, r)
	ia, ib := 0, 0
	for o := 0; o < total; o += n {
		fn(o, ia, da, ib, db, n)
		// advance the index over dims r-2 .. 0
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			ia += bc.sa[d]
			ib += bc.sb[d]
			if idx[d] < bc.out[d] {
				break
			}
			ia -= bc.sa[d] * bc.out[d]
			ib -= bc.sb[d] * bc.out[d]
			idx[d] = 0
		}
	}
}

// reduceTo adds src (of shape out) into dst (of shape in, broadcastable
// to out), summing over broadcast dims, scaled by s.
func reduceTo[F float](dst []F, in []int, src []F, out []int, s F) {
	if len(dst) == len(src) {
		for i, v := range src {
			dst[i] += s * v
		}
		return
	}
	bc := &bcast{out: out, sa: tensor.BroadcastStrides(in, out), sb: make([]int, len(out))}
	bc.each(func(o, ia, da, _, _, n int) {
		if da == 0 {
			var acc F
			for _, v := range src[o : o+n] {
				acc += v
			}
			dst[ia] += s * acc
			return
		}
		for j, v := range src[o : o+n] {
			dst[ia+j*da] += s * v
		}
	})
}

func sqrtF[F float](x F) F { return F(math.Sqrt(float64(x))) }
func expF[F float](x F) F  { return F(math.Exp(float64(x))) }
func logF[F float](x F) F  { return F(math.Log(float64(x))) }
func tanhF[F float](x F) F { return F(math.Tanh(float64(x))) }
func erfF[F float](x F) F  { return F(math.Erf(float64(x))) }

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis, rank int) (int, error) {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return 0, fmt.Errorf("axis out of range for rank %d", rank)
	}
	return axis, nil
}
