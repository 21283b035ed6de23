package train

import (
	"fmt"
	"slices"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// gemmOp is Y = alpha*op(A)*op(B) + beta*C.
type gemmOp[F float] struct {
	alpha, beta    F
	transA, transB bool
	m, n, k        int
	y              *tens[F]
}

func (o *gemmOp[F]) setup(n *graph.Node, _ int64) error {
	a := kernels.AttrsOf(n)
	o.alpha, o.beta = F(a.Float("alpha", 1)), F(a.Float("beta", 1))
	o.transA, o.transB = a.Int("transA", 0) != 0, a.Int("transB", 0) != 0
	return nil
}

func (o *gemmOp[F]) forward(c *call[F]) error {
	a, b := c.in[0], c.in[1]
	if a == nil || b == nil || len(a.shape) != 2 || len(b.shape) != 2 {
		return c.errorf("A and B must be 2-D float tensors")
	}
	m, k := a.shape[0], a.shape[1]
	if o.transA {
		m, k = k, m
	}
	kb, n := b.shape[0], b.shape[1]
	if o.transB {
		kb, n = n, kb
	}
	if kb != k {
		return c.errorf("op(A) is %dx%d but op(B) is %dx%d", m, k, kb, n)
	}
	o.m, o.n, o.k = m, n, k
	y := ensure(&o.y, []int{m, n})
	beta := F(0)
	if len(c.in) > 2 && c.in[2] != nil && o.beta != 0 {
		cv := c.in[2]
		bc, err := newBcast(cv.shape, y.shape)
		if err != nil || !slices.Equal(bc.out, y.shape) {
			return c.errorf("C of shape %v does not broadcast to %v", cv.shape, y.shape)
		}
		bc.each(func(off, ia, da, _, _, cnt int) {
			for j := 0; j < cnt; j++ {
				y.data[off+j] = o.beta * cv.data[ia+j*da]
			}
		})
		beta = 1
	}
	mm(c.e.gemmPar(), o.transA, o.transB, m, n, k, o.alpha, a.data, a.shape[1], b.data, b.shape[1], beta, y.data, n)
	c.out[0] = y
	return nil
}

func (o *gemmOp[F]) backward(c *call[F]) error {
	a, b, dy := c.in[0], c.in[1], c.dout[0].data
	m, n, k := o.m, o.n, o.k
	par := c.e.gemmPar()
	if g := c.din[0]; g != nil {
		switch {
		case !o.transA && !o.transB:
			mm(par, false, true, m, k, n, o.alpha, dy, n, b.data, n, 1, g.data, k)
		case !o.transA && o.transB:
			mm(par, false, false, m, k, n, o.alpha, dy, n, b.data, k, 1, g.data, k)
		case o.transA && !o.transB:
			mm(par, false, true, k, m, n, o.alpha, b.data, n, dy, n, 1, g.data, m)
		default:
			mm(par, true, true, k, m, n, o.alpha, b.data, k, dy, n, 1, g.data, m)
		}
	}
	if g := c.din[1]; g != nil {
		switch {
		case !o.transB && !o.transA:
			mm(par, true, false, k, n, m, o.alpha, a.data, k, dy, n, 1, g.data, n)
		case !o.transB && o.transA:
			mm(par, false, false, k, n, m, o.alpha, a.data, m, dy, n, 1, g.data, n)
		case o.transB && !o.transA:
			mm(par, true, false, n, k, m, o.alpha, dy, n, a.data, k, 1, g.data, k)
		default:
			mm(par, true, true, n, k, m, o.alpha, dy, n, a.data, m, 1, g.data, k)
		}
	}
	if len(c.din) > 2 && c.din[2] != nil {
		reduceTo(c.din[2].data, c.in[2].shape, dy, []int{m, n}, o.beta)
	}
	return nil
}

// matmulOp is numpy-style MatMul: batched, broadcasting, with 1-D operands
// promoted.
type matmulOp[F float] struct {
	m, n, k  int
	batch    []int // broadcast batch shape
	offA     []int // per batch index: matrix offset into A (in elements)
	offB     []int
	flat     bool // B is a single matrix: A is treated as one tall matrix
	y        *tens[F]
	lastA    []int
	lastB    []int
	outShape []int
}

func (o *matmulOp[F]) setup(*graph.Node, int64) error { return nil }

func (o *matmulOp[F]) plan(as, bs []int) error {
	if len(as) == 0 || len(bs) == 0 {
		return fmt.Errorf("MatMul of a scalar")
	}
	a2, b2 := as, bs
	if len(as) == 1 {
		a2 = []int{1, as[0]}
	}
	if len(bs) == 1 {
		b2 = []int{bs[0], 1}
	}
	m, k := a2[len(a2)-2], a2[len(a2)-1]
	kb, n := b2[len(b2)-2], b2[len(b2)-1]
	if k != kb {
		return fmt.Errorf("shapes %v and %v do not multiply", as, bs)
	}
	ab, bb := a2[:len(a2)-2], b2[:len(b2)-2]
	batch, err := tensor.BroadcastShapes(ab, bb)
	if err != nil {
		return err
	}
	o.m, o.n, o.k, o.batch = m, n, k, batch
	o.flat = len(bb) == 0
	nb := numel(batch)
	o.offA, o.offB = o.offA[:0], o.offB[:0]
	sa, sb := tensor.BroadcastStrides(ab, batch), tensor.BroadcastStrides(bb, batch)
	idx := make([]int, len(batch))
	for t := 0; t < nb; t++ {
		oa, ob := 0, 0
		for d := range batch {
			oa += idx[d] * sa[d]
			ob += idx[d] * sb[d]
		}
		o.offA = append(o.offA, oa*m*k)
		o.offB = append(o.offB, ob*k*n)
		for d := len(batch) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < batch[d] {
				break
			}
			idx[d] = 0
		}
	}
	out := slices.Clone(batch)
	if len(as) > 1 {
		out = append(out, m)
	}
	if len(bs) > 1 {
		out = append(out, n)
	}
	o.outShape = out
	o.lastA, o.lastB = slices.Clone(as), slices.Clone(bs)
	return nil
}

func (o *matmulOp[F]) forward(c *call[F]) error {
	a, b := c.in[0], c.in[1]
	if a == nil || b == nil {
		return c.errorf("inputs must be float tensors")
	}
	if !slices.Equal(a.shape, o.lastA) || !slices.Equal(b.shape, o.lastB) || o.outShape == nil {
		if err := o.plan(a.shape, b.shape); err != nil {
			return c.errorf("%v", err)
		}
	}
	y := ensure(&o.y, o.outShape)
	m, n, k := o.m, o.n, o.k
	par := c.e.gemmPar()
	if o.flat && len(a.shape) >= 2 {
		rows := len(a.data) / k
		mm(par, false, false, rows, n, k, 1, a.data, k, b.data, n, 0, y.data, n)
	} else {
		for t := range o.offA {
			mm(par, false, false, m, n, k, 1, a.data[o.offA[t]:], k, b.data[o.offB[t]:], n, 0, y.data[t*m*n:], n)
		}
	}
	c.out[0] = y
	return nil
}

func (o *matmulOp[F]) backward(c *call[F]) error {
	a, b, dy := c.in[0], c.in[1], c.dout[0].data
	m, n, k := o.m, o.n, o.k
	par := c.e.gemmPar()
	ga, gb := c.din[0], c.din[1]
	if o.flat && len(a.shape) >= 2 {
		rows := len(a.data) / k
		if ga != nil {
			mm(par, false, true, rows, k, n, 1, dy, n, b.data, n, 1, ga.data, k)
		}
		if gb != nil {
			mm(par, true, false, k, n, rows, 1, a.data, k, dy, n, 1, gb.data, n)
		}
		return nil
	}
	for t := range o.offA {
		d := dy[t*m*n:]
		if ga != nil {
			mm(par, false, true, m, k, n, 1, d, n, b.data[o.offB[t]:], n, 1, ga.data[o.offA[t]:], k)
		}
		if gb != nil {
			mm(par, true, false, k, n, m, 1, a.data[o.offA[t]:], k, d, n, 1, gb.data[o.offB[t]:], n)
		}
	}
	return nil
}
