package nn

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

// float is the set of element types the kernels compute in natively.
// Float16 and BFloat16 are widened to float32 (see runWidened).
type float interface{ float32 | float64 }

// maxAttr bounds kernel sizes, strides, dilations and pads so that shape
// arithmetic cannot overflow int.
const maxAttr = 1 << 30

// isHalf reports whether dt is stored as 16-bit floats.
func isHalf(dt tensor.DType) bool { return dt == tensor.Float16 || dt == tensor.BFloat16 }

// isFloatDT reports whether dt is a floating-point type these kernels accept.
func isFloatDT(dt tensor.DType) bool {
	return dt == tensor.Float32 || dt == tensor.Float64 || isHalf(dt)
}

// checkFloat returns an Unsupported error for a known non-float dtype.
func checkFloat(op string, dt tensor.DType) error {
	if dt == tensor.Undefined || isFloatDT(dt) {
		return nil
	}
	return kernels.Unsupported(op, "dtype %v", dt)
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(a), nil
}

// prod multiplies dims.
func prod(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// widen returns a float32 copy of a float16/bfloat16 tensor (scratch from
// ctx), or t itself for any other dtype.
func widen(ctx *kernels.Ctx, t *tensor.Tensor) (*tensor.Tensor, error) {
	if t == nil || !isHalf(t.DType) {
		return t, nil
	}
	w, err := ctx.Alloc(tensor.Float32, t.Shape)
	if err != nil {
		return nil, err
	}
	dst, src := w.F32(), t.Data.([]uint16)
	if t.DType == tensor.Float16 {
		for i, h := range src {
			dst[i] = tensor.HalfToFloat(h)
		}
	} else {
		for i, h := range src {
			dst[i] = tensor.BFloat16ToFloat(h)
		}
	}
	return w, nil
}

// narrow converts a float32 tensor to the 16-bit float type dt.
func narrow(ctx *kernels.Ctx, t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	n, err := ctx.Alloc(dt, t.Shape)
	if err != nil {
		return nil, err
	}
	dst, src := n.Data.([]uint16), t.F32()
	if dt == tensor.Float16 {
		for i, f := range src {
			dst[i] = tensor.FloatToHalf(f)
		}
	} else {
		for i, f := range src {
			dst[i] = tensor.FloatToBFloat16(f)
		}
	}
	return n, nil
}

// runWidened runs k on float32 copies of the inputs whose dtype is dt
// (float16 or bfloat16) and converts its float32 outputs back to dt: the
// 16-bit types are computed in float32.
func runWidened(ctx *kernels.Ctx, k kernels.Kernel, dt tensor.DType, in, out []*tensor.Tensor) error {
	win := make([]*tensor.Tensor, len(in))
	for i, t := range in {
		if t != nil && t.DType == dt {
			w, err := widen(ctx, t)
			if err != nil {
				return err
			}
			win[i] = w
		} else {
			win[i] = t
		}
	}
	if err := k.Run(ctx, win, out); err != nil {
		return err
	}
	for i, t := range out {
		if t != nil && t.DType == tensor.Float32 {
			n, err := narrow(ctx, t, dt)
			if err != nil {
				return err
			}
			out[i] = n
		}
	}
	return nil
}

// constAs returns the constant input i converted to float32 (for float32 and
// 16-bit floats) or float64, or nil if the input is not a constant float.
// Kernels keep the result as pre-arranged weights.
func constAs(b *kernels.BuildContext, i int) any {
	c := b.ConstInput(i)
	if c == nil {
		return nil
	}
	switch c.DType {
	case tensor.Float32:
		return c.F32()
	case tensor.Float64:
		return c.Data.([]float64)
	case tensor.Float16, tensor.BFloat16:
		return c.Float32Values()
	}
	return nil
}

// floatsOf returns t's data as []F, converting if t is a different float
// type (used for small parameter tensors: scale, bias, mean...).
func floatsOf[F float](t *tensor.Tensor) []F {
	if v, ok := t.Data.([]F); ok {
		return v
	}
	out := make([]F, t.Len())
	for i := range out {
		out[i] = F(t.Float64At(i))
	}
	return out
}

// numChunks is how many pieces forChunks splits n items into.
func numChunks(ctx *kernels.Ctx, n, grain int) int {
	if grain < 1 {
		grain = 1
	}
	c := ctx.Threads()
	if m := (n + grain - 1) / grain; c > m {
		c = m
	}
	if c < 1 {
		c = 1
	}
	return c
}

// forChunks splits [0,n) into numChunks(ctx, n, grain) contiguous ranges and
// runs fn(w, lo, hi) on each through ctx.Parallel; w identifies the range,
// so callers can give each one its own scratch space.
func forChunks(ctx *kernels.Ctx, n, grain int, fn func(w, lo, hi int)) {
	if n <= 0 {
		return
	}
	c := numChunks(ctx, n, grain)
	if c == 1 {
		fn(0, 0, n)
		return
	}
	ctx.Parallel(c, 1, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			fn(w, w*n/c, (w+1)*n/c)
		}
	})
}

// gemmF computes C = alpha*op(A)*op(B) + beta*C (row-major) for float32
// through gemm.Sgemm and for float64 with a portable loop.
func gemmF[F float](transA, transB bool, m, n, k int, alpha F, a []F, lda int,
	b []F, ldb int, beta F, c []F, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
			} else {
				for j := range row {
					row[j] *= beta
				}
			}
		}
		return
	}
	switch a := any(a).(type) {
	case []float32:
		gemm.Sgemm(transA, transB, m, n, k, float32(alpha), a, lda,
			any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		gemm.Dgemm(transA, transB, m, n, k, float64(alpha), a, lda,
			any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// parallelGemm splits one product over ctx's workers: float32 through the
// gemm package's own splitting; float64 by rows of C when it is tall and by
// columns otherwise. Small products run on the caller.
func parallelGemm[F float](ctx *kernels.Ctx, transA, transB bool, m, n, k int, alpha F,
	a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	if a32, ok := any(a).([]float32); ok && m > 0 && n > 0 && k > 0 {
		// the gemm package splits its own blocks
		gemm.SgemmParallel(ctx.Parallel, transA, transB, m, n, k, float32(alpha), a32, lda,
			any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
		return
	}
	if ctx.Threads() == 1 || m*n*k < 1<<16 {
		gemmF(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if m >= n || n < 32 {
		ctx.Parallel(m, 4, func(lo, hi int) {
			aa := a[lo*lda:]
			if transA {
				aa = a[lo:]
			}
			gemmF(transA, transB, hi-lo, n, k, alpha, aa, lda, b, ldb, beta, c[lo*ldc:], ldc)
		})
		return
	}
	// Column blocks are multiples of 16 so SIMD kernels keep full vectors.
	blocks := (n + 15) / 16
	ctx.Parallel(blocks, 1, func(lo, hi int) {
		j0, j1 := lo*16, hi*16
		if j1 > n {
			j1 = n
		}
		bb := b[j0:]
		if transB {
			bb = b[j0*ldb:]
		}
		gemmF(transA, transB, m, j1-j0, k, alpha, a, lda, bb, ldb, beta, c[j0:], ldc)
	})
}

// lowest is the smallest value of T (-Inf for floats), the start of a max.
func lowest[T int8 | uint8 | float32 | float64]() T {
	var z T
	switch p := any(&z).(type) {
	case *int8:
		*p = math.MinInt8
	case *float32:
		*p = float32(math.Inf(-1))
	case *float64:
		*p = math.Inf(-1)
	}
	return z
}

// uninitAllocator is implemented by allocators that can hand out a
// recycled buffer without zeroing it (the runtime's). The method has the
// contract of kernels.Allocator.Alloc except that the contents are
// arbitrary.
type uninitAllocator interface {
	AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error)
}

// allocFull allocates an output that the kernel writes completely before
// reading any of it, so its old contents need not be cleared.
func allocFull(ctx *kernels.Ctx, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if ctx != nil {
		if u, ok := ctx.Allocator.(uninitAllocator); ok {
			return u.AllocUninit(dt, shape)
		}
	}
	return ctx.Alloc(dt, shape)
}
