package rnn

import (
	"fmt"
	"slices"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

// cellKind selects the recurrence.
type cellKind uint8

const (
	cellRNN cellKind = iota
	cellGRU
	cellLSTM
)

func (c cellKind) String() string { return [...]string{"RNN", "GRU", "LSTM"}[c] }

// gates is the number of H-sized gate blocks in W and R.
func (c cellKind) gates() int { return [...]int{1, 3, 4}[c] }

// defaultActs are the per-direction activations when none are given.
func (c cellKind) defaultActs() []string {
	return [...][]string{{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}}[c]
}

func init() {
	for _, c := range []cellKind{cellRNN, cellGRU, cellLSTM} {
		kernels.Register("", c.String(), 1, func(b *kernels.BuildContext) (kernels.Kernel, error) { return build(b, c) })
	}
}

// Input positions shared by the three operators (LSTM adds initial_c and P).
const (
	inX = iota
	inW
	inR
	inB
	inSeqLens
	inInitH
	inInitC
	inP
)

// rnnKernel is a compiled LSTM, GRU or RNN node.
type rnnKernel struct {
	cell        cellKind
	hidden      int // from hidden_size; 0 means infer from R
	dirs        int
	reverse     bool // the single direction runs backwards
	layout      int
	clip        float32
	acts        [2][]activation // per direction
	lbr         bool            // GRU linear_before_reset
	inputForget bool            // LSTM: f = 1 - i
	wantY       bool
	pre         *weights // weights prepared at build time, when constant
}

func build(b *kernels.BuildContext, cell cellKind) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &rnnKernel{
		cell:        cell,
		hidden:      int(a.Int("hidden_size", 0)),
		layout:      int(a.Int("layout", 0)),
		clip:        a.Float("clip", 0),
		lbr:         a.Int("linear_before_reset", 0) != 0,
		inputForget: a.Int("input_forget", 0) != 0,
		wantY:       len(b.Node.Outputs) > 0 && b.Node.Outputs[0] != "",
	}
	if k.hidden < 0 {
		return nil, b.Errorf("hidden_size %d is negative", k.hidden)
	}
	if k.layout != 0 && k.layout != 1 {
		return nil, b.Errorf("layout %d must be 0 or 1", k.layout)
	}
	if a.Has("clip") && k.clip <= 0 {
		return nil, b.Errorf("clip %v must be positive", k.clip)
	}
	switch d := a.String("direction", "forward"); d {
	case "forward":
		k.dirs = 1
	case "reverse":
		k.dirs, k.reverse = 1, true
	case "bidirectional":
		k.dirs = 2
	default:
		return nil, b.Errorf("unknown direction %q", d)
	}
	n := len(cell.defaultActs())
	names := a.Strings("activations", nil)
	if names == nil {
		for range k.dirs {
			names = append(names, cell.defaultActs()...)
		}
	}
	acts, err := parseActivations(names, a.Floats("activation_alpha", nil), a.Floats("activation_beta", nil))
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	switch len(acts) {
	case n * k.dirs:
		k.acts[0] = acts[:n]
		if k.dirs == 2 {
			k.acts[1] = acts[n:]
		}
	case n: // one list for both directions
		k.acts[0], k.acts[1] = acts, acts
	default:
		return nil, b.Errorf("%d activations given, want %d per direction", len(acts), n)
	}
	if dt := b.Inputs[inX].DType; dt != tensor.Undefined && !floatType(dt) {
		return nil, kernels.Unsupported(cell.String(), "dtype %v", dt)
	}
	// Pre-pack the weights when W, R and the optional B and P are constant.
	consts := b.ConstInput(inW) != nil && b.ConstInput(inR) != nil &&
		(!b.HasInput(inB) || b.ConstInput(inB) != nil) &&
		(cell != cellLSTM || !b.HasInput(inP) || b.ConstInput(inP) != nil)
	if consts {
		var p *tensor.Tensor
		if cell == cellLSTM {
			p = b.ConstInput(inP)
		}
		if k.pre, err = k.prepare(b.ConstInput(inW), b.ConstInput(inR), b.ConstInput(inB), p); err != nil {
			return nil, b.Errorf("%v", err)
		}
	}
	return k, nil
}

func floatType(dt tensor.DType) bool { return dt.IsFloat() }

// weights are W, R, B and P in float32 with the biases folded, and Wᵀ and
// Rᵀ packed for gemm.SgemmPackedB.
type weights struct {
	hidden, input int
	bias          []float32 // [dirs][G·H]: Wb + Rb (GRU with linear_before_reset: Wb only for the h gate)
	rbh           []float32 // [dirs][H]: GRU linear_before_reset's Rb of the h gate
	p             []float32 // [dirs][3H] LSTM peepholes (i, o, f), or nil
	// Per direction: pw is Wᵀ (I × G·H); pr is Rᵀ (H × G·H), except for
	// GRU without linear_before_reset, where pr covers the z and r gates
	// (H × 2H) and prh the h gate (H × H), which multiplies r ⊙ H(t-1).
	pw, pr, prh []*gemm.PackedB
}

// float32s returns t's elements as float32 (t's own slice when float32).
func float32s(t *tensor.Tensor) []float32 { return t.Float32Values() }

func (k *rnnKernel) prepare(w, r, b, p *tensor.Tensor) (*weights, error) {
	if w == nil || r == nil {
		return nil, fmt.Errorf("W and R are required")
	}
	for _, t := range []*tensor.Tensor{w, r, b, p} {
		if t != nil && !floatType(t.DType) {
			return nil, kernels.Unsupported(k.cell.String(), "weight dtype %v", t.DType)
		}
	}
	g := k.cell.gates()
	if r.Rank() != 3 {
		return nil, fmt.Errorf("R must be [num_directions, %d*hidden_size, hidden_size], got %v", g, r.Shape)
	}
	h := r.Shape[2]
	if h == 0 || w.Rank() == 3 && w.Shape[2] == 0 {
		return nil, fmt.Errorf("hidden and input sizes must be positive (W %v, R %v)", w.Shape, r.Shape)
	}
	if k.hidden != 0 && h != k.hidden {
		return nil, fmt.Errorf("R shape %v does not match hidden_size %d", r.Shape, k.hidden)
	}
	if r.Shape[0] != k.dirs || r.Shape[1] != g*h {
		return nil, fmt.Errorf("R must be [%d, %d, %d], got %v", k.dirs, g*h, h, r.Shape)
	}
	if w.Rank() != 3 || w.Shape[0] != k.dirs || w.Shape[1] != g*h {
		return nil, fmt.Errorf("W must be [%d, %d, input_size], got %v", k.dirs, g*h, w.Shape)
	}
	ws := &weights{hidden: h, input: w.Shape[2]}
	gh := g * h
	wv, rv := float32s(w), float32s(r)
	for d := 0; d < k.dirs; d++ {
		ws.pw = append(ws.pw, gemm.PackB(true, ws.input, gh, wv[d*gh*ws.input:], ws.input))
		rd := rv[d*gh*h : (d+1)*gh*h]
		if k.cell == cellGRU && !k.lbr {
			ws.pr = append(ws.pr, gemm.PackB(true, h, 2*h, rd, h))
			ws.prh = append(ws.prh, gemm.PackB(true, h, h, rd[2*h*h:], h))
		} else {
			ws.pr = append(ws.pr, gemm.PackB(true, h, gh, rd, h))
		}
	}
	ws.bias = make([]float32, k.dirs*gh)
	if b != nil {
		if !tensor.EqualShapes(b.Shape, []int{k.dirs, 2 * gh}) {
			return nil, fmt.Errorf("B must be [%d, %d], got %v", k.dirs, 2*gh, b.Shape)
		}
		bv := float32s(b)
		if k.cell == cellGRU && k.lbr {
			ws.rbh = make([]float32, k.dirs*h)
		}
		for d := 0; d < k.dirs; d++ {
			wb, rb := bv[d*2*gh:d*2*gh+gh], bv[d*2*gh+gh:(d+1)*2*gh]
			for j := 0; j < gh; j++ {
				ws.bias[d*gh+j] = wb[j] + rb[j]
			}
			if ws.rbh != nil {
				for j := 0; j < h; j++ {
					ws.bias[d*gh+2*h+j] = wb[2*h+j]
					ws.rbh[d*h+j] = rb[2*h+j]
				}
			}
		}
	}
	if k.cell == cellGRU && k.lbr && ws.rbh == nil {
		ws.rbh = make([]float32, k.dirs*h)
	}
	if p != nil {
		if !tensor.EqualShapes(p.Shape, []int{k.dirs, 3 * h}) {
			return nil, fmt.Errorf("P must be [%d, %d], got %v", k.dirs, 3*h, p.Shape)
		}
		ws.p = slices.Clone(float32s(p))
	}
	return ws, nil
}

// PackedInputs reports that W, R, B and P are not read at run time once
// they were prepared at build time.
func (k *rnnKernel) PackedInputs() []int {
	if k.pre == nil {
		return nil
	}
	return []int{inW, inR, inB, inP}
}

// run is the state of one inference.
type run struct {
	k          *rnnKernel
	ws         *weights
	seq, batch int
	proj       []float32 // [dirs][rows of X][G·H]: X·Wᵀ + bias, rows in X's order
	lens       []int     // per batch entry
	initH      []float32 // in the layout of Y_h, or nil
	initC      []float32
	y, yh, yc  []float32 // outputs (y may be nil)
	// stepOpt splits each step's H·Rᵀ over workers when there are fewer
	// independent (direction, batch chunk) units than workers.
	stepOpt *gemm.Options
}

// row returns the index of (t, b) among X's rows.
func (r *run) row(t, b int) int {
	if r.k.layout == 0 {
		return t*r.batch + b
	}
	return b*r.seq + t
}

// yAt returns the offset of Y[t, d, b] (layout 0) or Y[b, t, d] (layout 1).
func (r *run) yAt(t, d, b int) int {
	h := r.ws.hidden
	if r.k.layout == 0 {
		return ((t*r.k.dirs+d)*r.batch + b) * h
	}
	return ((b*r.seq+t)*r.k.dirs + d) * h
}

// stateAt returns the offset of Y_h[d, b] (layout 0) or Y_h[b, d] (layout 1).
func (r *run) stateAt(d, b int) int {
	if r.k.layout == 0 {
		return (d*r.batch + b) * r.ws.hidden
	}
	return (b*r.k.dirs + d) * r.ws.hidden
}

func (k *rnnKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	name := k.cell.String()
	get := func(i int) *tensor.Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	x := in[inX]
	if !floatType(x.DType) {
		return kernels.Unsupported(name, "dtype %v", x.DType)
	}
	ws := k.pre
	if ws == nil {
		var p *tensor.Tensor
		if k.cell == cellLSTM {
			p = get(inP)
		}
		var err error
		if ws, err = k.prepare(get(inW), get(inR), get(inB), p); err != nil {
			return err
		}
	}
	if x.Rank() != 3 || x.Shape[2] != ws.input {
		return fmt.Errorf("X must be rank 3 with input_size %d, got %v", ws.input, x.Shape)
	}
	r := &run{k: k, ws: ws, seq: x.Shape[0], batch: x.Shape[1]}
	if k.layout == 1 {
		r.seq, r.batch = r.batch, r.seq
	}
	h, gh := ws.hidden, k.cell.gates()*ws.hidden
	r.lens = make([]int, r.batch)
	for i := range r.lens {
		r.lens[i] = r.seq
	}
	if sl := get(inSeqLens); sl != nil {
		if !sl.DType.IsInteger() || !tensor.EqualShapes(sl.Shape, []int{r.batch}) {
			return fmt.Errorf("sequence_lens must be integers of shape [%d], got %v%v", r.batch, sl.DType, sl.Shape)
		}
		for i := range r.lens {
			v := sl.Int64At(i)
			if v < 0 || v > int64(r.seq) {
				return fmt.Errorf("sequence_lens[%d] = %d outside [0, %d]", i, v, r.seq)
			}
			r.lens[i] = int(v)
		}
	}
	stateShape := []int{k.dirs, r.batch, h}
	yShape := []int{r.seq, k.dirs, r.batch, h}
	if k.layout == 1 {
		stateShape = []int{r.batch, k.dirs, h}
		yShape = []int{r.batch, r.seq, k.dirs, h}
	}
	for i, dst := range []*[]float32{&r.initH, &r.initC} {
		t := get(inInitH + i)
		if t == nil || (i == 1 && k.cell != cellLSTM) {
			continue
		}
		if !floatType(t.DType) || !tensor.EqualShapes(t.Shape, stateShape) {
			return fmt.Errorf("initial state must be float of shape %v, got %v%v", stateShape, t.DType, t.Shape)
		}
		*dst = float32s(t)
	}

	// Outputs, computed in float32 and converted for other dtypes.
	alloc := func(shape []int) (*tensor.Tensor, []float32, error) {
		t, err := ctx.Alloc(x.DType, shape)
		if err != nil {
			return nil, nil, err
		}
		if x.DType == tensor.Float32 {
			return t, t.F32(), nil
		}
		return t, make([]float32, t.Len()), nil
	}
	var yT, yhT, ycT *tensor.Tensor
	var err error
	if k.wantY {
		if yT, r.y, err = alloc(yShape); err != nil {
			return err
		}
	}
	if yhT, r.yh, err = alloc(stateShape); err != nil {
		return err
	}
	if k.cell == cellLSTM {
		if ycT, r.yc, err = alloc(stateShape); err != nil {
			return err
		}
	}

	// Input projection of every step at once, biases folded in.
	rows := r.seq * r.batch
	projT, err := ctx.Alloc(tensor.Float32, []int{k.dirs, rows, gh})
	if err != nil {
		return err
	}
	r.proj = projT.F32()
	if rows > 0 {
		xs := float32s(x)
		for d := 0; d < k.dirs; d++ {
			opt := &gemm.Options{Parallel: ctx.Parallel, Epilogue: gemm.Epilogue{ColBias: ws.bias[d*gh : (d+1)*gh]}}
			gemm.SgemmPackedB(false, rows, gh, ws.input, 1, xs, ws.input, ws.pw[d],
				0, r.proj[d*rows*gh:(d+1)*rows*gh], gh, opt)
		}
	}

	// Recurrence: directions and batch chunks are independent.
	chunks := 1
	if work := rows * gh * h; work >= 1<<18 {
		chunks = max(1, min(r.batch, ctx.Threads()))
	}
	if units := k.dirs * chunks; units < ctx.Threads() && gh*h >= 1<<16 {
		r.stepOpt = &gemm.Options{Parallel: ctx.Parallel}
	}
	ctx.Parallel(k.dirs*chunks, 1, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			d, c := u/chunks, u%chunks
			b0, b1 := r.batch*c/chunks, r.batch*(c+1)/chunks
			if b0 < b1 {
				r.direction(d, b0, b1)
			}
		}
	})

	for _, o := range []struct {
		t *tensor.Tensor
		v []float32
	}{{yT, r.y}, {yhT, r.yh}, {ycT, r.yc}} {
		if o.t != nil && x.DType != tensor.Float32 {
			storeFloat32s(o.t, o.v)
		}
	}
	out[0] = yT
	if len(out) > 1 {
		out[1] = yhT
	}
	if len(out) > 2 {
		out[2] = ycT
	}
	return nil
}

// storeFloat32s converts v into the float tensor t.
func storeFloat32s(t *tensor.Tensor, v []float32) {
	switch t.DType {
	case tensor.Float64:
		d := tensor.Data[float64](t)
		for i, f := range v {
			d[i] = float64(f)
		}
	case tensor.Float16:
		d := tensor.Data[uint16](t)
		for i, f := range v {
			d[i] = tensor.FloatToHalf(f)
		}
	case tensor.BFloat16:
		d := tensor.Data[uint16](t)
		for i, f := range v {
			d[i] = tensor.FloatToBFloat16(f)
		}
	}
}

// direction runs direction d for batch entries b0..b1.
func (r *run) direction(d, b0, b1 int) {
	k, ws := r.k, r.ws
	h := ws.hidden
	gh := k.cell.gates() * h
	rows := r.seq * r.batch
	bc := b1 - b0
	reverse := d == 1 || k.reverse
	acts := k.acts[d]
	pr := ws.pr[d]
	proj := r.proj[d*rows*gh : (d+1)*rows*gh]

	hs := make([]float32, bc*h) // H(t-1), one row per batch entry
	var cs []float32            // LSTM C(t-1)
	if k.cell == cellLSTM {
		cs = make([]float32, bc*h)
	}
	for i := 0; i < bc; i++ {
		o := r.stateAt(d, b0+i)
		if r.initH != nil {
			copy(hs[i*h:(i+1)*h], r.initH[o:o+h])
		}
		if cs != nil && r.initC != nil {
			copy(cs[i*h:(i+1)*h], r.initC[o:o+h])
		}
	}
	g := make([]float32, bc*gh)
	tIdx := make([]int, bc) // this step's time index per entry, -1 when done
	var scratch []float32   // GRU: r⊙H or H·Rᵀ
	if k.cell == cellGRU {
		scratch = make([]float32, bc*gh)
	}
	var p []float32
	if ws.p != nil {
		p = ws.p[d*3*h : (d+1)*3*h]
	}
	var rbh []float32
	if ws.rbh != nil {
		rbh = ws.rbh[d*h : (d+1)*h]
	}
	maxLen := 0
	for b := b0; b < b1; b++ {
		maxLen = max(maxLen, r.lens[b])
	}

	for s := 0; s < maxLen; s++ {
		for i := 0; i < bc; i++ {
			n := r.lens[b0+i]
			if s >= n {
				tIdx[i] = -1
				continue
			}
			t := s
			if reverse {
				t = n - 1 - s
			}
			tIdx[i] = t
			src := r.row(t, b0+i) * gh
			copy(g[i*gh:(i+1)*gh], proj[src:src+gh])
		}
		switch k.cell {
		case cellRNN:
			gemm.SgemmPackedB(false, bc, gh, h, 1, hs, h, pr, 1, g, gh, r.stepOpt)
			for i, t := range tIdx {
				if t < 0 {
					continue
				}
				gi := g[i*gh : (i+1)*gh]
				clipAll(gi, k.clip)
				acts[0].apply(gi)
				copy(hs[i*h:(i+1)*h], gi)
			}
		case cellGRU:
			var prh *gemm.PackedB
			if ws.prh != nil {
				prh = ws.prh[d]
			}
			r.gruStep(g, hs, scratch, pr, prh, rbh, tIdx, acts)
		case cellLSTM:
			gemm.SgemmPackedB(false, bc, gh, h, 1, hs, h, pr, 1, g, gh, r.stepOpt)
			for i, t := range tIdx {
				if t >= 0 {
					r.lstmRow(g[i*gh:(i+1)*gh], hs[i*h:(i+1)*h], cs[i*h:(i+1)*h], p, acts)
				}
			}
		}
		if r.y != nil {
			for i, t := range tIdx {
				if t >= 0 {
					o := r.yAt(t, d, b0+i)
					copy(r.y[o:o+h], hs[i*h:(i+1)*h])
				}
			}
		}
	}
	for i := 0; i < bc; i++ {
		o := r.stateAt(d, b0+i)
		copy(r.yh[o:o+h], hs[i*h:(i+1)*h])
		if cs != nil {
			copy(r.yc[o:o+h], cs[i*h:(i+1)*h])
		}
	}
}

// gruStep advances the GRU rows whose tIdx is not negative by one step. g
// holds each row's projected input (gates z, r, h); hs is H(t-1), updated
// in place; scratch has len(g) elements. pr is Rᵀ for the z and r gates
// and prh for the h gate, or pr is all of Rᵀ with linear_before_reset.
func (r *run) gruStep(g, hs, scratch []float32, pr, prh *gemm.PackedB, rbh []float32, tIdx []int, acts []activation) {
	k := r.k
	h := r.ws.hidden
	gh := 3 * h
	bc := len(tIdx)
	f, ga := acts[0], acts[1]
	update := func(z, hh, hp []float32) {
		hh, hp = hh[:len(z)], hp[:len(z)]
		for j, zj := range z {
			hp[j] = (1-zj)*hh[j] + zj*hp[j]
		}
	}
	if !k.lbr {
		// z and r first; the h gate needs (r ⊙ H(t-1))·Rhᵀ.
		gemm.SgemmPackedB(false, bc, 2*h, h, 1, hs, h, pr, 1, g, gh, r.stepOpt)
		for i, t := range tIdx {
			if t < 0 {
				continue
			}
			zr := g[i*gh : i*gh+2*h]
			clipAll(zr, k.clip)
			f.apply(zr)
			rg, hp, rh := zr[h:], hs[i*h:(i+1)*h], scratch[i*h:(i+1)*h]
			for j, v := range rg {
				rh[j] = v * hp[j]
			}
		}
		gemm.SgemmPackedB(false, bc, h, h, 1, scratch, h, prh, 1, g[2*h:], gh, r.stepOpt)
		for i, t := range tIdx {
			if t < 0 {
				continue
			}
			hh := g[i*gh+2*h : (i+1)*gh]
			clipAll(hh, k.clip)
			ga.apply(hh)
			update(g[i*gh:i*gh+h], hh, hs[i*h:(i+1)*h])
		}
		return
	}
	// linear_before_reset: h gate = g(Xh + r ⊙ (H(t-1)·Rhᵀ + Rbh)).
	gemm.SgemmPackedB(false, bc, gh, h, 1, hs, h, pr, 0, scratch, gh, r.stepOpt)
	for i, t := range tIdx {
		if t < 0 {
			continue
		}
		gi, hr := g[i*gh:(i+1)*gh], scratch[i*gh:(i+1)*gh]
		zr := gi[:2*h]
		for j := range zr {
			zr[j] += hr[j]
		}
		clipAll(zr, k.clip)
		f.apply(zr)
		rg, hh, hrh := gi[h:2*h], gi[2*h:], hr[2*h:]
		for j, v := range rg {
			hh[j] += v * (hrh[j] + rbh[j])
		}
		clipAll(hh, k.clip)
		ga.apply(hh)
		update(gi[:h], hh, hs[i*h:(i+1)*h])
	}
}

// lstmRow advances one LSTM row: g holds the pre-activation gates (i, o,
// f, c) including H(t-1)·Rᵀ; hp and cp are H and C, updated in place; p
// holds the peepholes (i, o, f) or is nil.
func (r *run) lstmRow(g, hp, cp, p []float32, acts []activation) {
	k := r.k
	h := r.ws.hidden
	f, ga, ha := acts[0], acts[1], acts[2]
	gi, gout, gf, gc := g[:h], g[h:2*h], g[2*h:3*h], g[3*h:4*h]
	cp = cp[:h]
	if p != nil {
		pi, pf := p[:h], p[2*h:3*h]
		for j, c := range cp {
			gi[j] += pi[j] * c
			gf[j] += pf[j] * c
		}
	}
	clipAll(gi, k.clip)
	f.apply(gi)
	if k.inputForget {
		for j, v := range gi {
			gf[j] = 1 - v
		}
	} else {
		clipAll(gf, k.clip)
		f.apply(gf)
	}
	clipAll(gc, k.clip)
	ga.apply(gc)
	for j := range cp {
		cp[j] = gf[j]*cp[j] + gi[j]*gc[j]
	}
	if p != nil {
		po := p[h : 2*h]
		for j, c := range cp {
			gout[j] += po[j] * c
		}
	}
	clipAll(gout, k.clip)
	f.apply(gout)
	copy(gc, cp)
	ha.apply(gc)
	for j, o := range gout {
		hp[j] = o * gc[j]
	}
}
