package control

import (
	"fmt"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Scan", 8, buildScan8)
	kernels.Register("", "Scan", 9, buildScan9)
}

// scanKernel runs a Scan node. Opset 8's form (a leading batch axis and an
// optional sequence_lens input) runs the opset 9 form once per batch entry.
type scanKernel struct {
	random
	body              kernels.Subgraph
	nState, nIn, nOut int
	inAxes, outAxes   []int64
	inRev, outRev     []bool
	outInfo           []graph.ValueInfo // declared body scan outputs
	batched           bool              // opset 8
}

func buildScan8(b *kernels.BuildContext) (kernels.Kernel, error) {
	return buildScan(b, true)
}

func buildScan9(b *kernels.BuildContext) (kernels.Kernel, error) {
	return buildScan(b, false)
}

func buildScan(b *kernels.BuildContext, batched bool) (kernels.Kernel, error) {
	a := b.Attrs()
	g := a.Graph("body")
	if g == nil {
		return nil, b.Errorf("needs a body graph")
	}
	if err := tensorsOnly(g); err != nil {
		return nil, err
	}
	if !a.Has("num_scan_inputs") {
		return nil, b.Errorf("missing attribute num_scan_inputs")
	}
	m := int(a.Int("num_scan_inputs", 0))
	inputs := len(b.Inputs)
	if batched {
		inputs-- // sequence_lens
	}
	n := inputs - m
	if m < 1 || n < 0 {
		return nil, b.Errorf("num_scan_inputs %d does not fit %d inputs", m, inputs)
	}
	if len(g.Inputs) != n+m {
		return nil, b.Errorf("body takes %d inputs, want %d", len(g.Inputs), n+m)
	}
	k := len(g.Outputs) - n
	if k < 0 || len(b.Node.Outputs) > n+k {
		return nil, b.Errorf("body has %d outputs for %d states and %d node outputs", len(g.Outputs), n, len(b.Node.Outputs))
	}
	s := &scanKernel{random: random(hasRandom(g)), nState: n, nIn: m, nOut: k, outInfo: g.Outputs[n:], batched: batched}
	flags := func(name string, count int) ([]bool, error) {
		v := a.Ints(name, nil)
		if v == nil {
			return make([]bool, count), nil
		}
		if len(v) != count {
			return nil, b.Errorf("%s has %d entries, want %d", name, len(v), count)
		}
		out := make([]bool, count)
		for i, d := range v {
			if d != 0 && d != 1 {
				return nil, b.Errorf("%s[%d] = %d, want 0 or 1", name, i, d)
			}
			out[i] = d == 1
		}
		return out, nil
	}
	axes := func(name string, count int) ([]int64, error) {
		v := a.Ints(name, nil)
		if v == nil {
			return make([]int64, count), nil
		}
		if len(v) != count {
			return nil, b.Errorf("%s has %d entries, want %d", name, len(v), count)
		}
		return v, nil
	}
	var err error
	if batched {
		if s.inRev, err = flags("directions", m); err != nil {
			return nil, err
		}
		s.inAxes, s.outAxes, s.outRev = make([]int64, m), make([]int64, k), make([]bool, k)
	} else {
		if s.inRev, err = flags("scan_input_directions", m); err != nil {
			return nil, err
		}
		if s.outRev, err = flags("scan_output_directions", k); err != nil {
			return nil, err
		}
		if s.inAxes, err = axes("scan_input_axes", m); err != nil {
			return nil, err
		}
		if s.outAxes, err = axes("scan_output_axes", k); err != nil {
			return nil, err
		}
	}
	if s.body, err = b.Compile(g); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return s, nil
}

func (s *scanKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	for i, t := range in {
		if t == nil && (!s.batched || i > 0) {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	if !s.batched {
		states, outs, err := s.scan(ctx, in[:s.nState], in[s.nState:], -1)
		if err != nil {
			return err
		}
		copy(out, append(states, outs...))
		return nil
	}
	return s.runBatched(ctx, in, out)
}

// scan runs the body over positions 0..T-1 of the scan inputs (T is their
// common length along their axes, or seqLen when that is ≥ 0).
func (s *scanKernel) scan(ctx *kernels.Ctx, states, ins []*tensor.Tensor, seqLen int) ([]*tensor.Tensor, []*tensor.Tensor, error) {
	axes := make([]int, len(ins))
	T := -1
	for j, x := range ins {
		ax := s.inAxes[j]
		if ax < 0 {
			ax += int64(x.Rank())
		}
		if ax < 0 || ax >= int64(x.Rank()) {
			return nil, nil, fmt.Errorf("scan input %d: axis %d out of range for shape %v", j, s.inAxes[j], x.Shape)
		}
		axes[j] = int(ax)
		if T < 0 {
			T = x.Shape[ax]
		} else if x.Shape[ax] != T {
			return nil, nil, fmt.Errorf("scan inputs have lengths %d and %d", T, x.Shape[ax])
		}
	}
	if seqLen >= 0 {
		if seqLen > T {
			return nil, nil, fmt.Errorf("sequence length %d exceeds the scan length %d", seqLen, T)
		}
		T = seqLen
	}
	vals := make([]*tensor.Tensor, s.nState+s.nIn)
	copy(vals, states)
	for j, x := range ins {
		buf, err := ctx.Alloc(x.DType, without(x.Shape, axes[j]))
		if err != nil {
			return nil, nil, err
		}
		vals[s.nState+j] = buf // refilled every iteration: bodies never keep inputs
	}
	outs := make([]*tensor.Tensor, s.nOut)
	outAx := make([]int, s.nOut)
	elem := make([][]int, s.nOut) // per-iteration shape of each scan output
	for t := 0; t < T; t++ {
		for j, x := range ins {
			idx := t
			if s.inRev[j] {
				idx = T - 1 - t
			}
			takeSlice(vals[s.nState+j], x, axes[j], idx)
		}
		res, err := s.body.Run(ctx, vals)
		if err != nil {
			return nil, nil, fmt.Errorf("body, iteration %d: %w", t, err)
		}
		copy(vals, res[:s.nState])
		for j := range outs {
			e := res[s.nState+j]
			if t == 0 {
				ax := s.outAxes[j]
				if r := int64(e.Rank()) + 1; ax < -r || ax >= r {
					return nil, nil, fmt.Errorf("scan output %d: axis %d out of range for rank %d", j, ax, r)
				} else if ax < 0 {
					ax += r
				}
				outAx[j], elem[j] = int(ax), e.Shape
				if outs[j], err = ctx.Alloc(e.DType, with(e.Shape, outAx[j], T)); err != nil {
					return nil, nil, err
				}
			}
			if outs[j].DType != e.DType || !tensor.EqualShapes(elem[j], e.Shape) {
				return nil, nil, fmt.Errorf("scan output %d changes from %v%v to %v%v at iteration %d",
					j, outs[j].DType, elem[j], e.DType, e.Shape, t)
			}
			pos := t
			if s.outRev[j] {
				pos = T - 1 - t
			}
			putSlice(outs[j], e, outAx[j], pos)
		}
	}
	final := make([]*tensor.Tensor, s.nState)
	for i := range final {
		if T == 0 {
			final[i] = alias(states[i])
		} else {
			final[i] = vals[i]
		}
	}
	if T == 0 {
		for j := range outs {
			var err error
			if outs[j], err = emptyScanOutput(ctx, s.outInfo[j], s.outAxes[j]); err != nil {
				return nil, nil, err
			}
		}
	}
	return final, outs, nil
}

// emptyScanOutput is the result of zero iterations: the declared per-step
// shape (unknown dims 0) with a zero-length scan axis.
func emptyScanOutput(ctx *kernels.Ctx, decl graph.ValueInfo, axis int64) (*tensor.Tensor, error) {
	dt := decl.DType
	if !dt.Supported() {
		dt = tensor.Float32
	}
	shape, _ := decl.StaticShape(0)
	r := int64(len(shape)) + 1
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		axis = 0
	}
	return ctx.Alloc(dt, with(shape, int(axis), 0))
}

// runBatched is opset 8's Scan: every state and scan input has a leading
// batch axis, scan inputs are [batch, sequence, ...], and sequence_lens
// (in[0], optional) bounds each batch entry's iterations; scan outputs
// beyond an entry's length stay zero.
func (s *scanKernel) runBatched(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	lens, rest := in[0], in[1:]
	states, ins := rest[:s.nState], rest[s.nState:]
	batch := -1
	for i, x := range rest {
		if x.Rank() < 1 || (i >= s.nState && x.Rank() < 2) {
			return fmt.Errorf("input %d of shape %v lacks the batch (and sequence) axes", i+1, x.Shape)
		}
		if batch < 0 {
			batch = x.Shape[0]
		} else if x.Shape[0] != batch {
			return fmt.Errorf("inputs have batch sizes %d and %d", batch, x.Shape[0])
		}
	}
	maxSeq := ins[0].Shape[1]
	if lens != nil && lens.Len() != batch {
		return fmt.Errorf("sequence_lens has %d values for batch %d", lens.Len(), batch)
	}
	finals := make([]*tensor.Tensor, s.nState)
	outs := make([]*tensor.Tensor, s.nOut)
	bs := make([]*tensor.Tensor, s.nState)
	bi := make([]*tensor.Tensor, s.nIn)
	for b := 0; b < batch; b++ {
		for i, x := range states {
			t, err := ctx.Alloc(x.DType, x.Shape[1:])
			if err != nil {
				return err
			}
			takeSlice(t, x, 0, b)
			bs[i] = t
		}
		for j, x := range ins {
			t, err := ctx.Alloc(x.DType, x.Shape[1:])
			if err != nil {
				return err
			}
			takeSlice(t, x, 0, b)
			bi[j] = t
		}
		seq := maxSeq
		if lens != nil {
			seq = int(lens.Int64At(b))
			if seq < 0 {
				return fmt.Errorf("negative sequence length %d", seq)
			}
		}
		st, so, err := s.scan(ctx, bs, bi, seq)
		if err != nil {
			return fmt.Errorf("batch %d: %w", b, err)
		}
		for i, t := range st {
			if finals[i] == nil {
				if finals[i], err = ctx.Alloc(t.DType, with(t.Shape, 0, batch)); err != nil {
					return err
				}
			}
			if f := finals[i]; f.DType != t.DType || !tensor.EqualShapes(f.Shape[1:], t.Shape) {
				return fmt.Errorf("state %d has shape %v in batch %d, %v before", i, t.Shape, b, f.Shape[1:])
			}
			putSlice(finals[i], t, 0, b)
		}
		for j, t := range so {
			if t.Rank() == 0 {
				return fmt.Errorf("scan output %d has no sequence axis", j)
			}
			full := append([]int{batch, maxSeq}, t.Shape[1:]...)
			if outs[j] == nil {
				if outs[j], err = ctx.Alloc(t.DType, full); err != nil {
					return err
				}
			}
			o := outs[j]
			if o.DType != t.DType || !tensor.EqualShapes(o.Shape[2:], t.Shape[1:]) {
				return fmt.Errorf("scan output %d has shape %v in batch %d, %v before", j, t.Shape, b, o.Shape[1:])
			}
			per := o.Len() / max(1, batch)
			copyBlocks(o.Data, t.Data, b*per, 0, 0, 0, t.Len(), 1)
		}
	}
	for j := range outs {
		if outs[j] == nil { // empty batch
			e, err := emptyScanOutput(ctx, s.outInfo[j], 0)
			if err != nil {
				return err
			}
			if outs[j], err = ctx.Alloc(e.DType, with(e.Shape, 0, batch)); err != nil {
				return err
			}
		}
	}
	for i := range finals {
		if finals[i] == nil {
			finals[i] = alias(states[i])
		}
	}
	copy(out, append(finals, outs...))
	return nil
}
