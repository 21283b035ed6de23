package reduce

import (
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Det", 11, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if dt := b.Inputs[0].DType; dt != tensor.Undefined && !dt.IsFloat() {
			return nil, kernels.Unsupported("Det", "dtype %v", dt)
		}
		return kernels.KernelFunc(runDet), nil
	})
}

// runDet computes the determinants of the [..., M, M] input by LU
// decomposition with partial pivoting, in float64.
func runDet(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if !x.DType.IsFloat() {
		return kernels.Unsupported("Det", "dtype %v", x.DType)
	}
	r := x.Rank()
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		return errorf("input must be [..., M, M], got %v", x.Shape)
	}
	m := x.Shape[r-1]
	y, err := ctx.Alloc(x.DType, x.Shape[:r-2])
	if err != nil {
		return err
	}
	n := y.Len()
	dets := make([]float64, n)
	ctx.Parallel(n, max(1, 4096/(m*m*m+1)), func(lo, hi int) {
		a := make([]float64, m*m)
		for i := lo; i < hi; i++ {
			for j := range a {
				a[j] = x.Float64At(i*m*m + j)
			}
			dets[i] = luDet(a, m)
		}
	})
	setFloat64s(y, 0, dets)
	out[0] = y
	return nil
}

// luDet returns the determinant of the m×m row-major matrix a, which it
// overwrites.
func luDet(a []float64, m int) float64 {
	det := 1.0
	for c := 0; c < m; c++ {
		p := c
		for r := c + 1; r < m; r++ {
			if math.Abs(a[r*m+c]) > math.Abs(a[p*m+c]) {
				p = r
			}
		}
		if a[p*m+c] == 0 {
			return 0
		}
		if p != c {
			for j := c; j < m; j++ {
				a[c*m+j], a[p*m+j] = a[p*m+j], a[c*m+j]
			}
			det = -det
		}
		piv := a[c*m+c]
		det *= piv
		for r := c + 1; r < m; r++ {
			f := a[r*m+c] / piv
			if f == 0 {
				continue
			}
			for j := c + 1; j < m; j++ {
				a[r*m+j] -= f * a[c*m+j]
			}
		}
	}
	return det
}
