package nn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Einsum", 12, buildEinsum)
}

// ellipsisMark stands for "..." in a parsed term.
const ellipsisMark = -1

// numLetters is the number of letter labels; ellipsis dims get the labels
// numLetters, numLetters+1, ... counted from the right.
const numLetters = 52

// einsumKernel is a compiled Einsum node. Each operand first sums out the
// labels no one else needs (and takes its diagonals); the operands are then
// contracted left to right, each pair as a batched matrix product through
// the gemm kernel; the result is finally permuted into the output order.
type einsumKernel struct {
	terms    [][]int // per operand: labels, with ellipsisMark for "..."
	out      []int   // output labels, ellipsisMark for "..."; nil = implicit
	implicit bool
}

func letterLabel(c byte) (int, bool) {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c - 'a'), true
	case c >= 'A' && c <= 'Z':
		return 26 + int(c-'A'), true
	}
	return 0, false
}

func parseTerm(s string) ([]int, error) {
	var t []int
	ell := false
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			if !strings.HasPrefix(s[i:], "...") || ell {
				return nil, fmt.Errorf("bad ellipsis in %q", s)
			}
			ell = true
			t = append(t, ellipsisMark)
			i += 2
			continue
		}
		l, ok := letterLabel(s[i])
		if !ok {
			return nil, fmt.Errorf("bad character %q in %q", s[i], s)
		}
		t = append(t, l)
	}
	return t, nil
}

func buildEinsum(b *kernels.BuildContext) (kernels.Kernel, error) {
	eq := strings.ReplaceAll(b.Attrs().String("equation", ""), " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	k := &einsumKernel{implicit: !explicit}
	for _, ts := range strings.Split(lhs, ",") {
		t, err := parseTerm(ts)
		if err != nil {
			return nil, b.Errorf("equation %q: %v", eq, err)
		}
		k.terms = append(k.terms, t)
	}
	if len(k.terms) != len(b.Inputs) {
		return nil, b.Errorf("equation %q has %d operands, node has %d inputs", eq, len(k.terms), len(b.Inputs))
	}
	if explicit {
		t, err := parseTerm(rhs)
		if err != nil {
			return nil, b.Errorf("equation %q: %v", eq, err)
		}
		seen := map[int]bool{}
		for _, l := range t {
			if seen[l] {
				return nil, b.Errorf("equation %q: output label repeated", eq)
			}
			seen[l] = true
		}
		k.out = t
	} else {
		// Implicit output: "..." first, then the letters used once, in order.
		count := make([]int, numLetters)
		ell := false
		for _, t := range k.terms {
			for _, l := range t {
				if l == ellipsisMark {
					ell = true
				} else {
					count[l]++
				}
			}
		}
		if ell {
			k.out = append(k.out, ellipsisMark)
		}
		var once []int
		for l, c := range count {
			if c == 1 {
				once = append(once, l)
			}
		}
		// ASCII order: upper case before lower case
		sort.Slice(once, func(i, j int) bool { return ascii(once[i]) < ascii(once[j]) })
		k.out = append(k.out, once...)
	}
	for _, in := range b.Inputs {
		if dt := in.DType; dt != tensor.Undefined && !isFloatDT(dt) {
			return nil, kernels.Unsupported("Einsum", "dtype %v", dt)
		}
	}
	return k, nil
}

func ascii(l int) int {
	if l < 26 {
		return 'a' + l
	}
	return 'A' + l - 26
}

func (k *einsumKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, "Einsum", in, out,
		func() error { return einsumRun[float32](ctx, k, in, out) },
		func() error { return einsumRun[float64](ctx, k, in, out) })
}

// eview is a strided view of an operand with one label per dim.
type eview[F float] struct {
	data    []F
	labels  []int
	sizes   []int
	strides []int
}

func (v *eview[F]) find(l int) int {
	for i, x := range v.labels {
		if x == l {
			return i
		}
	}
	return -1
}

func einsumRun[F float](ctx *kernels.Ctx, k *einsumKernel, in, out []*tensor.Tensor) error {
	dt := in[0].DType
	// Resolve ellipses and build one view per operand (diagonals merged).
	ellRank := 0
	for i, t := range k.terms {
		letters := 0
		for _, l := range t {
			if l != ellipsisMark {
				letters++
			}
		}
		if in[i].DType != dt {
			return fmt.Errorf("operand %d has dtype %v, operand 0 %v", i, in[i].DType, dt)
		}
		r := len(in[i].Shape)
		hasEll := len(t) != letters
		if r < letters || (!hasEll && r != letters) {
			return fmt.Errorf("operand %d has rank %d, its term has %d labels", i, r, letters)
		}
		if hasEll {
			ellRank = max(ellRank, r-letters)
		}
	}
	size := map[int]int{}
	views := make([]eview[F], len(in))
	for i, t := range k.terms {
		x := in[i]
		xs := tensor.Strides(x.Shape)
		v := eview[F]{data: x.Data.([]F)}
		dim := 0
		for _, l := range t {
			labs := []int{l}
			if l == ellipsisMark {
				e := len(x.Shape) - (len(t) - 1)
				labs = labs[:0]
				for j := 0; j < e; j++ {
					labs = append(labs, numLetters+ellRank-e+j)
				}
			}
			for _, lab := range labs {
				d, s := x.Shape[dim], xs[dim]
				dim++
				if j := v.find(lab); j >= 0 { // repeated label: a diagonal
					if v.sizes[j] != d {
						return fmt.Errorf("operand %d: label sizes %d and %d differ on a diagonal", i, v.sizes[j], d)
					}
					v.strides[j] += s
					continue
				}
				v.labels = append(v.labels, lab)
				v.sizes = append(v.sizes, d)
				v.strides = append(v.strides, s)
				if g, ok := size[lab]; !ok || g == 1 {
					size[lab] = d
				} else if d != 1 && d != g {
					return fmt.Errorf("label %s has sizes %d and %d", labelName(lab), g, d)
				}
			}
		}
		views[i] = v
	}
	var outLabels []int
	for _, l := range k.out {
		if l == ellipsisMark {
			for j := 0; j < ellRank; j++ {
				outLabels = append(outLabels, numLetters+j)
			}
			continue
		}
		if _, ok := size[l]; !ok {
			return fmt.Errorf("output label %s is in no operand", labelName(l))
		}
		outLabels = append(outLabels, l)
	}
	alloc := func(n int) ([]F, error) {
		t, err := ctx.Alloc(dt, []int{n})
		if err != nil {
			return nil, err
		}
		return t.Data.([]F), nil
	}
	// needed[i] = labels used by operands after i or by the output.
	needed := func(i int) map[int]bool {
		m := map[int]bool{}
		for _, l := range outLabels {
			m[l] = true
		}
		for j := i + 1; j < len(views); j++ {
			for _, l := range views[j].labels {
				m[l] = true
			}
		}
		return m
	}
	cur := views[0]
	for i := 1; i < len(views); i++ {
		keep := needed(i)
		var err error
		if cur, err = contract(cur, views[i], keep, size, alloc); err != nil {
			return err
		}
	}
	outShape := make([]int, len(outLabels))
	for i, l := range outLabels {
		outShape[i] = size[l]
	}
	y, err := ctx.Alloc(dt, outShape)
	if err != nil {
		return err
	}
	out[0] = y
	reduceInto(cur, outLabels, outShape, y.Data.([]F))
	return nil
}

func labelName(l int) string {
	if l >= numLetters {
		return "..."
	}
	return string(rune(ascii(l)))
}

// contract multiplies two views, keeping the labels in keep (and those
// shared labels that must survive), summing the others.
func contract[F float](a, b eview[F], keep map[int]bool, size map[int]int,
	alloc func(int) ([]F, error)) (eview[F], error) {
	var batch, ms, ks, ns []int
	for _, l := range a.labels {
		inB := b.find(l) >= 0
		switch {
		case inB && keep[l]:
			batch = append(batch, l)
		case inB:
			ks = append(ks, l)
		case keep[l]:
			ms = append(ms, l)
		}
	}
	for _, l := range b.labels {
		if a.find(l) < 0 && keep[l] {
			ns = append(ns, l)
		}
	}
	sizesOf := func(v *eview[F], ls []int, global bool) []int {
		s := make([]int, len(ls))
		for i, l := range ls {
			if global {
				s[i] = size[l]
			} else {
				s[i] = v.sizes[v.find(l)]
			}
		}
		return s
	}
	bs, kd := sizesOf(&a, batch, true), sizesOf(&a, ks, true)
	msz, nsz := sizesOf(&a, ms, false), sizesOf(&b, ns, false)
	nb, m, kk, n := prod(bs), prod(msz), prod(kd), prod(nsz)
	aLab := concat(batch, ms, ks)
	aShape := concat(bs, msz, kd)
	ad, err := alloc(nb * m * kk)
	if err != nil {
		return eview[F]{}, err
	}
	reduceInto(a, aLab, aShape, ad)
	bLab := concat(batch, ks, ns)
	bShape := concat(bs, kd, nsz)
	bd, err := alloc(nb * kk * n)
	if err != nil {
		return eview[F]{}, err
	}
	reduceInto(b, bLab, bShape, bd)
	cd, err := alloc(nb * m * n)
	if err != nil {
		return eview[F]{}, err
	}
	for i := 0; i < nb; i++ {
		gemmF(false, false, m, n, kk, 1, ad[i*m*kk:], kk, bd[i*kk*n:], n, 0, cd[i*m*n:], n)
	}
	labels := concat(batch, ms, ns)
	shape := concat(bs, msz, nsz)
	return eview[F]{data: cd, labels: labels, sizes: shape, strides: tensor.Strides(shape)}, nil
}

func concat(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// reduceInto writes the view into dst as a dense tensor with the given
// labels and shape, summing over the view's other labels. A label of size 1
// in the view is broadcast to the requested size.
func reduceInto[F float](v eview[F], labels, shape []int, dst []F) {
	nk := len(labels)
	ostr := make([]int, nk)
	for i, l := range labels {
		if j := v.find(l); j >= 0 && v.sizes[j] != 1 {
			ostr[i] = v.strides[j]
		}
	}
	var rsize, rstr []int
	for j, l := range v.labels {
		found := false
		for _, x := range labels {
			if x == l {
				found = true
				break
			}
		}
		if !found {
			rsize = append(rsize, v.sizes[j])
			rstr = append(rstr, v.strides[j])
		}
	}
	rn := prod(rsize)
	oc := make([]int, nk)
	rc := make([]int, len(rsize))
	off := 0
	for o := range dst {
		if rn == 1 && len(rsize) == 0 {
			dst[o] = v.data[off]
		} else {
			var s F
			roff := off
			for r := 0; r < rn; r++ {
				s += v.data[roff]
				for i := len(rc) - 1; i >= 0; i-- {
					roff += rstr[i]
					if rc[i]++; rc[i] < rsize[i] {
						break
					}
					roff -= rc[i] * rstr[i]
					rc[i] = 0
				}
			}
			dst[o] = s
		}
		for i := nk - 1; i >= 0; i-- {
			off += ostr[i]
			if oc[i]++; oc[i] < shape[i] {
				break
			}
			off -= oc[i] * ostr[i]
			oc[i] = 0
		}
	}
}
