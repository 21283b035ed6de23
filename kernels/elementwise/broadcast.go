package elementwise

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// plan maps k broadcast inputs onto their output. Output dimensions of size
// 1 are dropped and neighbours that every input walks alike are merged, so
// the output is a sequence of contiguous runs of length inner, indexed by
// the remaining outer dimensions. Within a run, input k advances by istr[k],
// which is 1 (contiguous) or 0 (one repeated value).
type plan struct {
	shape []int   // output shape
	n     int     // output elements
	inner int     // run length
	outer []int   // merged outer dims, outermost first
	str   [][]int // str[k][d]: stride of input k along outer dim d
	istr  []int   // stride of input k within a run
}

// newPlan broadcasts the given input shapes with numpy's rules.
func newPlan(shapes ...[]int) (*plan, error) {
	out, err := tensor.BroadcastShapes(shapes...)
	if err != nil {
		parts := make([]string, len(shapes))
		for i, s := range shapes {
			parts[i] = tensor.ShapeString(s)
		}
		return nil, fmt.Errorf("shapes %v cannot be broadcast together", parts)
	}
	n, err := tensor.NumElements(out)
	if err != nil {
		return nil, err
	}
	k := len(shapes)
	p := &plan{shape: out, n: n, istr: make([]int, k), str: make([][]int, k)}
	full := make([][]int, k)
	for i, s := range shapes {
		full[i] = tensor.BroadcastStrides(s, out)
	}
	// Merge from the outermost dim inwards: dim d joins the previous merged
	// dim m when, for every input, stride(m) == stride(d) * size(d).
	var dims []int
	strs := make([][]int, k)
	for d, size := range out {
		if size == 1 {
			continue
		}
		if m := len(dims) - 1; m >= 0 {
			ok := true
			for i := range strs {
				if strs[i][m] != full[i][d]*size {
					ok = false
					break
				}
			}
			if ok {
				dims[m] *= size
				for i := range strs {
					strs[i][m] = full[i][d]
				}
				continue
			}
		}
		dims = append(dims, size)
		for i := range strs {
			strs[i] = append(strs[i], full[i][d])
		}
	}
	if len(dims) == 0 { // a single element
		p.inner = 1
		for i := range p.istr {
			p.istr[i] = 1
			p.str[i] = []int{}
		}
		return p, nil
	}
	last := len(dims) - 1
	p.inner = dims[last]
	p.outer = dims[:last]
	for i := range strs {
		p.istr[i] = strs[i][last] // 0 or 1, see the type comment
		p.str[i] = strs[i][:last]
	}
	return p, nil
}

// runFunc handles the output elements [o, o+n), for which input k starts
// at offset off[k] and advances by istr[k].
type runFunc func(o int, off []int, n int)

// run calls fn for every run of the output, in parallel chunks of at least
// grain elements. A chunk may begin or end inside a run.
func (p *plan) run(ctx *kernels.Ctx, grain int, fn runFunc) {
	if p.n == 0 {
		return
	}
	ctx.Parallel(p.n, grain, func(lo, hi int) {
		k := len(p.istr)
		base := make([]int, k) // offsets of the current run's start
		cur := make([]int, k)
		idx := make([]int, len(p.outer))
		r, j := lo/p.inner, lo%p.inner
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d] = r % p.outer[d]
			r /= p.outer[d]
		}
		for i := range base {
			for d, x := range idx {
				base[i] += x * p.str[i][d]
			}
		}
		for pos := lo; pos < hi; {
			n := min(p.inner-j, hi-pos)
			for i := range cur {
				cur[i] = base[i] + j*p.istr[i]
			}
			fn(pos, cur, n)
			pos += n
			j = 0
			for d := len(idx) - 1; d >= 0; d-- { // odometer step
				idx[d]++
				for i := range base {
					base[i] += p.str[i][d]
				}
				if idx[d] < p.outer[d] {
					break
				}
				for i := range base {
					base[i] -= p.str[i][d] * p.outer[d]
				}
				idx[d] = 0
			}
		}
	})
}

// binLoops are an operator's three run loops for one dtype combination.
// d, a and b have equal lengths; d may be a itself (in-place accumulation).
type binLoops[A, B, O any] struct {
	vv func(d []O, a []A, b []B)
	vs func(d []O, a []A, b B)
	sv func(d []O, a A, b []B)
}

// runBinary computes d = op(a, b) over a two-input plan.
func runBinary[A, B, O any](ctx *kernels.Ctx, p *plan, grain int, a []A, b []B, d []O, l binLoops[A, B, O]) {
	ia, ib := p.istr[0], p.istr[1]
	var fn runFunc
	switch {
	case ia == 1 && ib == 1:
		fn = func(o int, off []int, n int) { l.vv(d[o:o+n], a[off[0]:off[0]+n], b[off[1]:off[1]+n]) }
	case ia == 1:
		fn = func(o int, off []int, n int) { l.vs(d[o:o+n], a[off[0]:off[0]+n], b[off[1]]) }
	default:
		fn = func(o int, off []int, n int) { l.sv(d[o:o+n], a[off[0]], b[off[1]:off[1]+n]) }
	}
	p.run(ctx, grain, fn)
}

// broadcastInto copies src, broadcast to dst's shape, into dst.
func broadcastInto[T any](ctx *kernels.Ctx, dstShape []int, dst []T, srcShape []int, src []T) error {
	p, err := newPlan(dstShape, srcShape)
	if err != nil {
		return err
	}
	if !tensor.EqualShapes(p.shape, dstShape) {
		return fmt.Errorf("cannot broadcast %v to %v", srcShape, dstShape)
	}
	runBinary(ctx, p, grainCheap, dst, src, dst, binLoops[T, T, T]{
		vv: func(d, _, b []T) { copy(d, b) },
		vs: func(d, _ []T, b T) {
			for i := range d {
				d[i] = b
			}
		},
	})
	return nil
}
