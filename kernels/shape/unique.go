package shape

import (
	"cmp"
	"slices"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Unique", 11, buildUnique)
}

// groupRows sorts the rows of keys ([rows, rowLen], compared
// lexicographically with NaN last and NaNs equal, as numpy does) and
// returns each row's group number in sorted order and the number of groups.
func groupRows[K cmp.Ordered](keys []K, rows, rowLen int) (group []int, groups int) {
	row := func(i int32) []K { return keys[int(i)*rowLen : int(i+1)*rowLen] }
	compare := func(x, y int32) int {
		a, b := row(x), row(y)
		for j := range a {
			if c := compareOrdered(a[j], b[j]); c != 0 {
				return c
			}
		}
		return 0
	}
	ord := make([]int32, rows)
	for i := range ord {
		ord[i] = int32(i)
	}
	slices.SortStableFunc(ord, compare)
	group = make([]int, rows)
	for p, i := range ord {
		if p > 0 && compare(ord[p-1], i) != 0 {
			groups++
		}
		group[i] = groups
	}
	if rows > 0 {
		groups++
	}
	return group, groups
}

// compareOrdered is cmp.Compare with NaN ordered last instead of first,
// as numpy sorts; NaNs compare equal to each other.
func compareOrdered[K cmp.Ordered](a, b K) int {
	an, bn := a != a, b != b
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}

// uniqueGroups groups the rows of a [rows, rowLen] tensor by value.
func uniqueGroups(t *tensor.Tensor, rows, rowLen int) ([]int, int, error) {
	switch d := t.Data.(type) {
	case []float32:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []float64:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []int8:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []uint8:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []int16:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []uint16:
		if isHalf(t.DType) {
			g, n := groupRows(widen(t).F32(), rows, rowLen)
			return g, n, nil
		}
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []int32:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []uint32:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []int64:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []uint64:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []string:
		g, n := groupRows(d, rows, rowLen)
		return g, n, nil
	case []bool:
		g, n := groupRows(view[uint8](d), rows, rowLen) // false < true
		return g, n, nil
	}
	return nil, 0, kernels.Unsupported("Unique", "dtype %v", t.DType)
}

func buildUnique(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	hasAxis := a.Has("axis")
	axis := a.Int("axis", 0)
	if hasAxis {
		if err := checkAxis(b, axis, 0); err != nil {
			return nil, err
		}
	}
	sorted := a.Int("sorted", 1) != 0
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x := in[0]
		shape := x.Shape
		ax := 0
		if hasAxis {
			var err error
			if ax, err = normAxis(axis, len(shape)); err != nil {
				return err
			}
		} else {
			shape = []int{x.Len()}
		}
		rows := shape[ax]
		outer, inner := product(shape[:ax]), product(shape[ax+1:])
		// Keys: the input with the axis moved to the front, so that each
		// candidate slice is one contiguous row.
		keys := x
		if outer > 1 && rows > 0 && inner > 0 {
			k, err := ctx.Alloc(x.DType, []int{rows, outer, inner})
			if err != nil {
				return err
			}
			p := newCopyPlan([]int{rows, outer, inner}, []int{inner, rows * inner, 1}, 0)
			if err := p.run(ctx, x.DType, k.Data, x.Data); err != nil {
				return err
			}
			keys = k
		}
		group, groups, err := uniqueGroups(keys, rows, outer*inner)
		if err != nil {
			return err
		}
		// Numbering of groups in the output: by value (group order) or
		// by first occurrence.
		first := make([]int, groups)
		for i := range first {
			first[i] = -1
		}
		counts := make([]int64, groups)
		rank := make([]int, groups)
		seen := 0
		for i, g := range group {
			if first[g] < 0 {
				first[g] = i
				rank[g] = seen
				seen++
			}
			counts[g]++
		}
		if sorted {
			for g := range rank {
				rank[g] = g
			}
		}
		idx := make([]int, groups)
		for g, r := range rank {
			idx[r] = first[g]
		}
		yShape := append([]int{}, shape...)
		yShape[ax] = groups
		y, err := ctx.Alloc(x.DType, yShape)
		if err != nil {
			return err
		}
		ga := gatherArgs{ctx: ctx, dst: y.Data, src: x.Data, idx: idx, outer: outer, dim: rows, inner: inner}
		if err := gatherImpl.call(x.DType, ga); err != nil {
			return err
		}
		out[0] = y
		ints := func(n int, at func(i int) int64) (*tensor.Tensor, error) {
			t, err := ctx.Alloc(tensor.Int64, []int{n})
			if err != nil {
				return nil, err
			}
			d := t.I64()
			for i := range d {
				d[i] = at(i)
			}
			return t, nil
		}
		if len(out) > 1 {
			if out[1], err = ints(groups, func(r int) int64 { return int64(idx[r]) }); err != nil {
				return err
			}
		}
		if len(out) > 2 {
			if out[2], err = ints(rows, func(i int) int64 { return int64(rank[group[i]]) }); err != nil {
				return err
			}
		}
		if len(out) > 3 {
			byRank := make([]int64, groups)
			for g, r := range rank {
				byRank[r] = counts[g]
			}
			if out[3], err = ints(groups, func(r int) int64 { return byRank[r] }); err != nil {
				return err
			}
		}
		return nil
	}), nil
}
