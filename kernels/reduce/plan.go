package reduce

import (
	"fmt"
	"slices"

	"github.com/edgedl/edgedl/tensor"
)

// errorf formats a run-time error; the runtime prefixes the node label.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// walker enumerates the flat offsets of a mixed-radix index space (the kept
// or the reduced groups of a plan), innermost digit last.
type walker struct {
	sizes, strides []int
	n              int // product of sizes
}

func newWalker(sizes, strides []int) walker {
	n := 1
	for _, s := range sizes {
		n *= s
	}
	return walker{sizes: sizes, strides: strides, n: n}
}

// maxGroups bounds the merged groups of a walker, so cursors need no
// allocation (merged groups alternate kept/reduced, so this allows rank 64).
const maxGroups = 32

// cursor is a position in a walker; next advances it by one.
type cursor struct {
	w      *walker
	digits [maxGroups]int
	off    int
}

// at returns a cursor positioned at flat index i.
func (w *walker) at(i int) cursor {
	c := cursor{w: w}
	for d := len(w.sizes) - 1; d >= 0; d-- {
		c.digits[d] = i % w.sizes[d]
		i /= w.sizes[d]
		c.off += c.digits[d] * w.strides[d]
	}
	return c
}

func (c *cursor) next() {
	w := c.w
	for d := len(w.sizes) - 1; d >= 0; d-- {
		c.digits[d]++
		c.off += w.strides[d]
		if c.digits[d] < w.sizes[d] {
			return
		}
		c.off -= c.digits[d] * w.strides[d]
		c.digits[d] = 0
	}
}

// plan is a reduction of one input shape over one set of axes.
//
// The output is laid out as [kept.n][inner]. When inner == 1 the innermost
// merged group is reduced and has length run: output k combines the runs
// in[kept(k)+red(r) : +run] for every r. When inner > 1 output row k
// combines the rows in[kept(k)+red(r) : +inner] for every r (run is 1).
type plan struct {
	outShape []int
	nOut     int // elements in the output
	count    int // input elements combined into each output
	inner    int
	run      int
	kept     walker
	red      walker
}

// phaseB reports whether outputs accumulate whole rows (innermost dim kept).
func (p *plan) phaseB() bool { return p.inner > 1 }

// makePlan builds the plan reducing shape over axes (normalised: in range,
// sorted, unique). An empty axes list reduces nothing (each output is one
// input element), which is what noop_with_empty_axes asks for.
func makePlan(shape, axes []int, keepdims bool) (*plan, error) {
	if _, err := tensor.NumElements(shape); err != nil {
		return nil, err
	}
	reduced := make([]bool, len(shape))
	for _, a := range axes {
		reduced[a] = true
	}
	p := &plan{nOut: 1, count: 1}
	for i, d := range shape {
		if reduced[i] {
			p.count *= d
			if keepdims {
				p.outShape = append(p.outShape, 1)
			}
		} else {
			p.nOut *= d
			p.outShape = append(p.outShape, d)
		}
	}
	if p.outShape == nil {
		p.outShape = []int{}
	}
	// Merge adjacent dims of the same kind; size-1 dims belong to neither.
	type group struct {
		size   int
		reduce bool
	}
	var groups []group
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if n := len(groups); n > 0 && groups[n-1].reduce == reduced[i] {
			groups[n-1].size *= d
			continue
		}
		groups = append(groups, group{d, reduced[i]})
	}
	strides := make([]int, len(groups))
	acc := 1
	for i := len(groups) - 1; i >= 0; i-- {
		strides[i] = acc
		acc *= groups[i].size
	}
	p.inner, p.run = 1, 1
	if n := len(groups); n > 0 {
		if groups[n-1].reduce {
			p.run = groups[n-1].size
		} else {
			p.inner = groups[n-1].size
		}
		groups, strides = groups[:n-1], strides[:n-1]
	}
	var ks, kst, rs, rst []int
	for i, g := range groups {
		if g.reduce {
			rs, rst = append(rs, g.size), append(rst, strides[i])
		} else {
			ks, kst = append(ks, g.size), append(kst, strides[i])
		}
	}
	if len(ks) > maxGroups || len(rs) > maxGroups {
		return nil, fmt.Errorf("shape %v has too many alternating reduced and kept dims", shape)
	}
	p.kept = newWalker(ks, kst)
	p.red = newWalker(rs, rst)
	return p, nil
}

// normAxes validates axes against rank and returns them in range, sorted
// and unique. Repeated axes are an error, as in ONNX.
func normAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, 0, len(axes))
	for _, a := range axes {
		if a < -int64(rank) || a >= int64(rank) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", a, rank)
		}
		if a < 0 {
			a += int64(rank)
		}
		out = append(out, int(a))
	}
	slices.Sort(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			return nil, fmt.Errorf("axis %d repeated", out[i])
		}
	}
	return out, nil
}

// allAxes returns 0..rank-1.
func allAxes(rank int) []int {
	out := make([]int, rank)
	for i := range out {
		out[i] = i
	}
	return out
}

// knownShape reports whether s is a fully known shape.
func knownShape(s []int) bool {
	if s == nil {
		return false
	}
	for _, d := range s {
		if d < 0 {
			return false
		}
	}
	return true
}
