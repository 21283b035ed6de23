package shape

import (
	"fmt"
	"slices"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "TopK", 1, buildTopK)  // k attribute
	kernels.Register("", "TopK", 10, buildTopK) // k input
	kernels.Register("", "TopK", 11, buildTopK) // largest, sorted
}

type topkArgs struct {
	ctx               *kernels.Ctx
	src               any
	idx               []int64 // output indices, [outer, k, inner]
	outer, dim, inner int
	k                 int
	largest           bool
}

var topkImpl = byType[topkArgs]{topkT[float32], topkT[float64], topkT[int8], topkT[uint8],
	topkT[int16], topkT[uint16], topkT[int32], topkT[uint32], topkT[int64], topkT[uint64]}

// topkT finds, for every lane along the axis, the indices of the k
// largest (or smallest) values in order. Ties go to the lower index and
// NaN counts as the largest value, as in the ONNX reference (numpy).
func topkT[T number](a topkArgs) error {
	src := a.src.([]T)
	lanes := a.outer * a.inner
	dim, k, inner := a.dim, a.k, a.inner
	a.ctx.Parallel(lanes, max(1, minParallel/max(dim, 1)), func(lo, hi int) {
		vals := make([]T, dim)
		ord := make([]int32, dim)
		// before reports whether lane element x ranks before y.
		before := func(x, y int32) bool {
			c := compareOrdered(vals[x], vals[y])
			if a.largest {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
			return x < y
		}
		for l := lo; l < hi; l++ {
			o, i := l/inner, l%inner
			base := o*dim*inner + i
			for j := range vals {
				vals[j] = src[base+j*inner]
			}
			var best []int32
			if k*8 < dim {
				best = selectHeap(ord[:0], dim, k, before)
			} else {
				for j := range ord {
					ord[j] = int32(j)
				}
				best = ord
			}
			slices.SortFunc(best, func(x, y int32) int {
				if before(x, y) {
					return -1
				}
				if before(y, x) {
					return 1
				}
				return 0
			})
			for r := 0; r < k; r++ {
				a.idx[(o*k+r)*inner+i] = int64(best[r])
			}
		}
	})
	return nil
}

// selectHeap returns the k elements of 0..n-1 that rank first under
// before, unordered, using a heap whose root is the worst kept element.
func selectHeap(h []int32, n, k int, before func(x, y int32) bool) []int32 {
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(h) {
				return
			}
			if c+1 < len(h) && before(h[c], h[c+1]) {
				c++ // the worse child
			}
			if !before(h[i], h[c]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for j := 0; j < k; j++ {
		h = append(h, int32(j))
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for j := k; j < n; j++ {
		if before(int32(j), h[0]) {
			h[0] = int32(j)
			down(0)
		}
	}
	return h
}

func buildTopK(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	axis := a.Int("axis", -1)
	if err := checkAxis(b, axis, 0); err != nil {
		return nil, err
	}
	largest := true
	if b.Opset >= 11 {
		largest = a.Int("largest", 1) != 0
		// sorted=0 leaves the order unspecified; sorted output satisfies it.
	}
	kAttr := int64(-1)
	if b.Opset < 10 {
		var err error
		if kAttr, err = requireInt(b, "k"); err != nil {
			return nil, err
		}
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x := in[0]
		k := kAttr
		if b.Opset >= 10 {
			if err := need(in, 2); err != nil {
				return err
			}
			var err error
			if k, err = scalarInt(in[1], "k"); err != nil {
				return err
			}
		}
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return err
		}
		dim := x.Shape[ax]
		if k < 0 || k > int64(dim) {
			return fmt.Errorf("k = %d is out of [0, %d]", k, dim)
		}
		shape := append([]int{}, x.Shape...)
		shape[ax] = int(k)
		values, err := ctx.Alloc(x.DType, shape)
		if err != nil {
			return err
		}
		indices, err := ctx.Alloc(tensor.Int64, shape)
		if err != nil {
			return err
		}
		ta := topkArgs{ctx: ctx, src: x.Data, idx: indices.I64(), outer: product(x.Shape[:ax]),
			dim: dim, inner: product(x.Shape[ax+1:]), k: int(k), largest: largest}
		if k == 0 {
			out[0], out[1] = values, indices
			return nil
		}
		if isHalf(x.DType) {
			ta.src = widen(x).Data
			err = topkImpl.call("TopK", tensor.Float32, ta)
		} else {
			err = topkImpl.call("TopK", x.DType, ta)
		}
		if err != nil {
			return err
		}
		// Values are copied from the input at the chosen indices, so they
		// keep their exact bits whatever the dtype.
		if n := indices.Len(); n > 0 {
			offs := make([]int, n)
			idx := indices.I64()
			inner := ta.inner
			for p := range offs {
				o, i := p/(int(k)*inner), p%inner
				offs[p] = (o*dim+int(idx[p]))*inner + i
			}
			bc := blockCopy{ctx: ctx, dst: values.Data, src: x.Data, srcOffs: offs, blockLen: 1, n: n}
			if err := blockCopyImpl.call(x.DType, bc); err != nil {
				return err
			}
		}
		out[0], out[1] = values, indices
		return nil
	}), nil
}

// requireInt reads a required INT attribute.
func requireInt(b *kernels.BuildContext, name string) (int64, error) {
	if !b.Attrs().Has(name) {
		return 0, b.Errorf("missing required attribute %q", name)
	}
	return b.Attrs().Int(name, 0), nil
}
