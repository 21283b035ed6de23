package rnn

import (
	"fmt"
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// runNode builds op in domain at opset and runs it once; ins[i] == nil is
// an omitted input, outs[i] == "" an omitted output.
func runNode(ctx *kernels.Ctx, domain, op string, opset int64, a map[string]*graph.Attr, outs []string, constIn bool, ins ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	n := &graph.Node{OpType: op, Domain: domain, Attrs: a, Outputs: outs}
	meta := make([]kernels.Input, len(ins))
	for i, t := range ins {
		if t == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		n.Inputs = append(n.Inputs, fmt.Sprintf("in%d", i))
		meta[i] = kernels.Input{Present: true, DType: t.DType, Shape: t.Shape}
		if constIn && i > 0 {
			meta[i].Const = t
		}
	}
	build, err := kernels.Lookup(domain, op, opset)
	if err != nil {
		return nil, err
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	// Like the runtime, pass nil for constant inputs the kernel packed.
	ins = append([]*tensor.Tensor(nil), ins...)
	if pk, ok := k.(kernels.PackedInputs); ok {
		for _, i := range pk.PackedInputs() {
			if i < len(ins) && meta[i].Const != nil {
				ins[i] = nil
			}
		}
	}
	out := make([]*tensor.Tensor, len(outs))
	if err := k.Run(ctx, ins, out); err != nil {
		return nil, err
	}
	return out, nil
}

func mkAttrs(kv ...any) map[string]*graph.Attr {
	m := map[string]*graph.Attr{}
	for i := 0; i < len(kv); i += 2 {
		name := kv[i].(string)
		a := &graph.Attr{Name: name}
		switch v := kv[i+1].(type) {
		case int:
			a.Type, a.Int = graph.AttrInt, int64(v)
		case float32:
			a.Type, a.Float = graph.AttrFloat, v
		case string:
			a.Type, a.String = graph.AttrString, v
		case []float32:
			a.Type, a.Floats = graph.AttrFloats, v
		case []string:
			a.Type, a.Strings = graph.AttrStrings, v
		default:
			panic(fmt.Sprintf("mkAttrs: %T", v))
		}
		m[name] = a
	}
	return m
}

type lcg uint64

func (r *lcg) float() float32 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return float32(uint64(*r>>11)%(1<<20))/(1<<19) - 1
}

func randT(r *lcg, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = r.float()
	}
	return t
}

// refAct is an independent scalar version of each activation.
type refAct struct {
	name        string
	alpha, beta float64
}

func (a refAct) f(x float64) float64 {
	switch a.name {
	case "Sigmoid":
		return 1 / (1 + math.Exp(-x))
	case "Tanh":
		return math.Tanh(x)
	case "Relu":
		return math.Max(x, 0)
	case "Affine":
		return a.alpha*x + a.beta
	case "LeakyRelu":
		if x < 0 {
			return a.alpha * x
		}
		return x
	case "ThresholdedRelu":
		if x > a.alpha {
			return x
		}
		return 0
	case "ScaledTanh":
		return a.alpha * math.Tanh(a.beta*x)
	case "HardSigmoid":
		return math.Min(math.Max(a.alpha*x+a.beta, 0), 1)
	case "Elu":
		if x < 0 {
			return a.alpha * (math.Exp(x) - 1)
		}
		return x
	case "Softsign":
		return x / (1 + math.Abs(x))
	case "Softplus":
		return math.Log(1 + math.Exp(x))
	}
	panic(a.name)
}

// rnnCase is one configuration checked against the reference.
type rnnCase struct {
	cell                      cellKind
	dir                       string
	layout                    int
	seq, batch, input, hidden int
	bias, initH, initC, peep  bool
	seqLens                   []int32
	clip                      float32
	lbr, inputForget, constW  bool
	acts                      []refAct // per direction, all directions; nil: defaults
	alphas, betas             []float32
	outs                      []string
}

// reference computes Y [S][D][B][H], Y_h and Y_c [D][B][H] in float64 with
// logical (layout 0) indexing.
func reference(c rnnCase, x, w, r, b, p, h0, c0 func(i ...int) float64) (y, yh, yc []float64) {
	dirs := 1
	if c.dir == "bidirectional" {
		dirs = 2
	}
	H, G := c.hidden, c.cell.gates()
	acts := c.acts
	if acts == nil {
		for range dirs {
			for _, n := range c.cell.defaultActs() {
				acts = append(acts, refAct{name: n})
			}
		}
	}
	nAct := len(c.cell.defaultActs())
	clip := func(v float64) float64 {
		if c.clip > 0 {
			return math.Min(math.Max(v, -float64(c.clip)), float64(c.clip))
		}
		return v
	}
	y = make([]float64, c.seq*dirs*c.batch*H)
	yh = make([]float64, dirs*c.batch*H)
	yc = make([]float64, dirs*c.batch*H)
	for d := 0; d < dirs; d++ {
		act := acts[d*nAct : (d+1)*nAct]
		reverse := d == 1 || c.dir == "reverse"
		for bt := 0; bt < c.batch; bt++ {
			n := c.seq
			if c.seqLens != nil {
				n = int(c.seqLens[bt])
			}
			h, cs := make([]float64, H), make([]float64, H)
			for j := range h {
				h[j], cs[j] = h0(d, bt, j), c0(d, bt, j)
			}
			for s := 0; s < n; s++ {
				t := s
				if reverse {
					t = n - 1 - s
				}
				// pre[g*H+j] = W x + Wb, rec[g*H+j] = R h + Rb, per gate row.
				pre, rec := make([]float64, G*H), make([]float64, G*H)
				for j := range pre {
					for i := 0; i < c.input; i++ {
						pre[j] += w(d, j, i) * x(t, bt, i)
					}
					for k := 0; k < H; k++ {
						rec[j] += r(d, j, k) * h[k]
					}
					pre[j] += b(d, j)
					rec[j] += b(d, G*H+j)
				}
				nh := make([]float64, H)
				switch c.cell {
				case cellRNN:
					for j := range nh {
						nh[j] = act[0].f(clip(pre[j] + rec[j]))
					}
				case cellGRU:
					for j := range nh {
						z := act[0].f(clip(pre[j] + rec[j]))
						rr := act[0].f(clip(pre[H+j] + rec[H+j]))
						var hh float64
						if c.lbr {
							hh = act[1].f(clip(pre[2*H+j] + rr*rec[2*H+j]))
						} else {
							// (r ⊙ h)·Rhᵀ needs the reset gate of every row k.
							v := pre[2*H+j] + b(d, G*H+2*H+j)
							for k := 0; k < H; k++ {
								rk := act[0].f(clip(pre[H+k] + rec[H+k]))
								v += r(d, 2*H+j, k) * rk * h[k]
							}
							hh = act[1].f(clip(v))
						}
						nh[j] = (1-z)*hh + z*h[j]
					}
				case cellLSTM:
					nc := make([]float64, H)
					for j := range nh {
						gi := act[0].f(clip(pre[j] + rec[j] + p(d, j)*cs[j]))
						gf := 1 - gi
						if !c.inputForget {
							gf = act[0].f(clip(pre[2*H+j] + rec[2*H+j] + p(d, 2*H+j)*cs[j]))
						}
						gc := act[1].f(clip(pre[3*H+j] + rec[3*H+j]))
						nc[j] = gf*cs[j] + gi*gc
						o := act[0].f(clip(pre[H+j] + rec[H+j] + p(d, H+j)*nc[j]))
						nh[j] = o * act[2].f(nc[j])
					}
					cs = nc
				}
				h = nh
				copy(y[((t*dirs+d)*c.batch+bt)*H:], h)
			}
			copy(yh[(d*c.batch+bt)*H:], h)
			copy(yc[(d*c.batch+bt)*H:], cs)
		}
	}
	return y, yh, yc
}

func (c rnnCase) run(t *testing.T, ctx *kernels.Ctx, rng *lcg) {
	t.Helper()
	dirs := 1
	if c.dir == "bidirectional" {
		dirs = 2
	}
	G, H := c.cell.gates(), c.hidden
	xShape := []int{c.seq, c.batch, c.input}
	stShape := []int{dirs, c.batch, H}
	if c.layout == 1 {
		xShape = []int{c.batch, c.seq, c.input}
		stShape = []int{c.batch, dirs, H}
	}
	X := randT(rng, xShape...)
	W := randT(rng, dirs, G*H, c.input)
	R := randT(rng, dirs, G*H, H)
	ins := []*tensor.Tensor{X, W, R, nil, nil, nil, nil, nil}
	if c.bias {
		ins[inB] = randT(rng, dirs, 2*G*H)
	}
	if c.seqLens != nil {
		ins[inSeqLens] = &tensor.Tensor{DType: tensor.Int32, Shape: []int{c.batch}, Data: c.seqLens}
	}
	if c.initH {
		ins[inInitH] = randT(rng, stShape...)
	}
	if c.initC {
		ins[inInitC] = randT(rng, stShape...)
	}
	if c.peep {
		ins[inP] = randT(rng, dirs, 3*H)
	}
	if c.cell != cellLSTM {
		ins = ins[:6]
	}
	for len(ins) > 3 && ins[len(ins)-1] == nil {
		ins = ins[:len(ins)-1]
	}
	kv := []any{"hidden_size", H, "direction", c.dir, "layout", c.layout}
	if c.clip > 0 {
		kv = append(kv, "clip", c.clip)
	}
	if c.lbr {
		kv = append(kv, "linear_before_reset", 1)
	}
	if c.inputForget {
		kv = append(kv, "input_forget", 1)
	}
	if c.acts != nil {
		var names []string
		for _, a := range c.acts {
			names = append(names, a.name)
		}
		kv = append(kv, "activations", names)
		if c.alphas != nil {
			kv = append(kv, "activation_alpha", c.alphas)
		}
		if c.betas != nil {
			kv = append(kv, "activation_beta", c.betas)
		}
	}
	outs := c.outs
	if outs == nil {
		outs = []string{"Y", "Y_h"}
		if c.cell == cellLSTM {
			outs = append(outs, "Y_c")
		}
	}
	got, err := runNode(ctx, "", c.cell.String(), 22, mkAttrs(kv...), outs, c.constW, ins...)
	if err != nil {
		t.Fatalf("%+v: %v", c, err)
	}
	// Logical accessors over the inputs.
	get := func(tt *tensor.Tensor) func(i ...int) float64 {
		return func(i ...int) float64 {
			if tt == nil {
				return 0
			}
			off, st := 0, tensor.Strides(tt.Shape)
			for k, v := range i {
				off += v * st[k]
			}
			return float64(tt.F32()[off])
		}
	}
	at := func(tt *tensor.Tensor) func(i ...int) float64 {
		g := get(tt)
		if c.layout == 0 || tt == nil {
			return g
		}
		return func(i ...int) float64 { return g(i[1], i[0], i[2]) } // swap the first two dims
	}
	opt := func(i int) *tensor.Tensor {
		if i < len(ins) {
			return ins[i]
		}
		return nil
	}
	y, yh, yc := reference(c, at(X), get(W), get(R), get(opt(inB)), get(opt(inP)),
		at(opt(inInitH)), at(opt(inInitC)))
	check := func(name string, tt *tensor.Tensor, want []float64, shape []int, idx func(i []int) int) {
		t.Helper()
		if tt == nil {
			t.Fatalf("%s missing", name)
		}
		if !tensor.EqualShapes(tt.Shape, shape) {
			t.Fatalf("%+v: %s shape %v, want %v", c, name, tt.Shape, shape)
		}
		st := tensor.Strides(shape)
		for i, v := range tt.F32() {
			multi := make([]int, len(shape))
			rem := i
			for k := range shape {
				multi[k] = rem / st[k]
				rem %= st[k]
			}
			if w := want[idx(multi)]; math.Abs(float64(v)-w) > 1e-4*(1+math.Abs(w)) {
				t.Fatalf("%+v: %s%v = %v, want %v", c, name, multi, v, w)
			}
		}
	}
	B := c.batch
	if outs[0] != "" {
		if c.layout == 0 {
			check("Y", got[0], y, []int{c.seq, dirs, B, H}, func(i []int) int { return ((i[0]*dirs+i[1])*B+i[2])*H + i[3] })
		} else {
			check("Y", got[0], y, []int{B, c.seq, dirs, H}, func(i []int) int { return ((i[1]*dirs+i[2])*B+i[0])*H + i[3] })
		}
	}
	st := func(i []int) int { return (i[0]*B+i[1])*H + i[2] }
	if c.layout == 1 {
		st = func(i []int) int { return (i[1]*B+i[0])*H + i[2] }
	}
	if len(outs) > 1 && outs[1] != "" {
		check("Y_h", got[1], yh, stShape, st)
	}
	if len(outs) > 2 && outs[2] != "" {
		check("Y_c", got[2], yc, stShape, st)
	}
}

func TestRecurrentMatchesReference(t *testing.T) {
	rng := lcg(1)
	base := rnnCase{seq: 4, batch: 3, input: 5, hidden: 4}
	with := func(f func(*rnnCase)) rnnCase { c := base; f(&c); return c }
	var cases []rnnCase
	for _, cell := range []cellKind{cellRNN, cellGRU, cellLSTM} {
		for _, dir := range []string{"forward", "reverse", "bidirectional"} {
			for layout := 0; layout < 2; layout++ {
				cases = append(cases, with(func(c *rnnCase) {
					c.cell, c.dir, c.layout = cell, dir, layout
					c.bias, c.initH, c.initC = true, true, cell == cellLSTM
					c.seqLens = []int32{4, 2, 0}
					c.constW = layout == 1
				}))
			}
		}
		cases = append(cases,
			with(func(c *rnnCase) { c.cell, c.dir = cell, "forward" }), // no optional inputs
			with(func(c *rnnCase) { c.cell, c.dir, c.clip, c.bias = cell, "bidirectional", 0.5, true }),
			with(func(c *rnnCase) { c.cell, c.dir, c.outs = cell, "reverse", []string{"", "Y_h"} }),
		)
	}
	cases = append(cases,
		with(func(c *rnnCase) { c.cell, c.dir, c.lbr, c.bias, c.initH = cellGRU, "bidirectional", true, true, true }),
		with(func(c *rnnCase) { c.cell, c.dir, c.lbr, c.seqLens = cellGRU, "reverse", true, []int32{1, 4, 3} }),
		with(func(c *rnnCase) {
			c.cell, c.dir, c.peep, c.bias, c.initC, c.seqLens = cellLSTM, "bidirectional", true, true, true, []int32{3, 4, 1}
		}),
		with(func(c *rnnCase) { c.cell, c.dir, c.inputForget, c.peep = cellLSTM, "forward", true, true }),
		// Activations with parameters, consumed in order by the functions that take them.
		with(func(c *rnnCase) {
			c.cell, c.dir = cellLSTM, "bidirectional"
			c.acts = []refAct{{"HardSigmoid", 0.3, 0.4}, {"LeakyRelu", 0.2, 0}, {"ScaledTanh", 1.5, 0.7},
				{"Sigmoid", 0, 0}, {"Elu", 0.9, 0}, {"Softsign", 0, 0}}
			c.alphas, c.betas = []float32{0.3, 0.2, 1.5, 0.9}, []float32{0.4, 0.7}
		}),
		with(func(c *rnnCase) {
			c.cell, c.dir = cellGRU, "forward"
			c.acts = []refAct{{"Affine", 0.5, 0.1}, {"ThresholdedRelu", 0.1, 0}}
			c.alphas, c.betas = []float32{0.5, 0.1}, []float32{0.1}
		}),
		with(func(c *rnnCase) {
			c.cell, c.dir = cellRNN, "bidirectional"
			c.acts = []refAct{{"Relu", 0, 0}, {"Softplus", 0, 0}}
		}),
		with(func(c *rnnCase) { c.cell, c.dir, c.seq = cellLSTM, "forward", 0 }),
	)
	for _, c := range cases {
		c.run(t, nil, &rng)
	}
	// Large enough to split the batch across workers.
	pool := kernels.NewPool(3)
	defer pool.Close()
	ctx := &kernels.Ctx{Pool: pool}
	for _, cell := range []cellKind{cellRNN, cellGRU, cellLSTM} {
		c := rnnCase{cell: cell, dir: "bidirectional", layout: 1, seq: 8, batch: 16, input: 7, hidden: 32,
			bias: true, initH: true, constW: true}
		c.seqLens = make([]int32, c.batch)
		for i := range c.seqLens {
			c.seqLens[i] = int32(i % 9)
		}
		c.run(t, ctx, &rng)
	}
	// One sequence with a wide hidden state: each step's gemm is split.
	for _, cell := range []cellKind{cellGRU, cellLSTM} {
		c := rnnCase{cell: cell, dir: "forward", seq: 3, batch: 1, input: 5, hidden: 160, bias: true, constW: true}
		c.run(t, ctx, &rng)
	}
}

func TestRecurrentErrors(t *testing.T) {
	rng := lcg(2)
	X, W, R := randT(&rng, 2, 1, 3), randT(&rng, 1, 8, 3), randT(&rng, 1, 8, 2)
	outs := []string{"Y", "Y_h", "Y_c"}
	if _, err := runNode(nil, "", "LSTM", 14, mkAttrs("hidden_size", 2), outs, false, X, W, R); err != nil {
		t.Fatalf("valid LSTM: %v", err)
	}
	bad := []struct {
		name string
		a    map[string]*graph.Attr
		ins  []*tensor.Tensor
	}{
		{"hidden_size mismatch", mkAttrs("hidden_size", 3), []*tensor.Tensor{X, W, R}},
		{"input size mismatch", mkAttrs("hidden_size", 2), []*tensor.Tensor{randT(&rng, 2, 1, 4), W, R}},
		{"direction count", mkAttrs("direction", "bidirectional"), []*tensor.Tensor{X, W, R}},
		{"bad direction", mkAttrs("direction", "sideways"), []*tensor.Tensor{X, W, R}},
		{"bad activation", mkAttrs("activations", []string{"Sigmoid", "Cube", "Tanh"}), []*tensor.Tensor{X, W, R}},
		{"sequence_lens too long", nil, []*tensor.Tensor{X, W, R, nil,
			&tensor.Tensor{DType: tensor.Int32, Shape: []int{1}, Data: []int32{3}}}},
		{"bias shape", nil, []*tensor.Tensor{X, W, R, randT(&rng, 1, 8)}},
	}
	for _, tc := range bad {
		if _, err := runNode(nil, "", "LSTM", 14, tc.a, outs, false, tc.ins...); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestOptimizers(t *testing.T) {
	f := func(v ...float32) *tensor.Tensor { return tensor.Float32s([]int{len(v)}, v) }
	scalar := func(v float32) *tensor.Tensor { return tensor.Float32s([]int{}, []float32{v}) }
	step := func(v int64) *tensor.Tensor { return tensor.Int64s([]int{}, []int64{v}) }
	const dom = "ai.onnx.preview.training"
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*(1+math.Abs(b)) }

	// Adagrad, one tensor: r = 0.1/(1+1·0.5); g = 0.5·1 + 2 = 2.5; h = 1 + 6.25.
	got, err := runNode(nil, dom, "Adagrad", 1, mkAttrs("decay_factor", float32(0.5), "epsilon", float32(0.01), "norm_coefficient", float32(0.5)),
		[]string{"X", "H"}, false, scalar(0.1), step(1), f(1), f(2), f(1))
	if err != nil {
		t.Fatal(err)
	}
	r := 0.1 / 1.5
	if x, h := got[0].Float64At(0), got[1].Float64At(0); !near(x, 1-r*2.5/(math.Sqrt(7.25)+0.01)) || !near(h, 7.25) {
		t.Errorf("Adagrad = %v, %v", x, h)
	}

	// Momentum on two tensors; the first update (T = 0) uses beta = 1.
	for _, mode := range []string{"standard", "nesterov"} {
		got, err = runNode(nil, dom, "Momentum", 1, mkAttrs("alpha", float32(0.9), "beta", float32(0.5), "mode", mode, "norm_coefficient", float32(0)),
			[]string{"X1", "X2", "V1", "V2"}, false, scalar(0.1), step(0), f(1), f(2, 3), f(1), f(1, -1), f(2), f(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		v := 0.9*2 + 1*1.0 // V1' for X1
		x := 1 - 0.1*v
		if mode == "nesterov" {
			x = 1 - 0.1*(1+0.9*v)
		}
		if !near(got[0].Float64At(0), x) || !near(got[2].Float64At(0), v) || got[1].Len() != 2 || !near(got[3].Float64At(1), -1) {
			t.Errorf("Momentum %s = %v", mode, got)
		}
	}

	// Adam with bias correction at T = 2.
	got, err = runNode(nil, dom, "Adam", 1, mkAttrs("alpha", float32(0.9), "beta", float32(0.99), "epsilon", float32(1e-3), "norm_coefficient_post", float32(0.1)),
		[]string{"X", "V", "H"}, false, scalar(0.01), step(2), f(1), f(0.5), f(0.1), f(0.2))
	if err != nil {
		t.Fatal(err)
	}
	alpha, beta := 0.9, float64(float32(0.99))
	v := alpha*float64(float32(0.1)) + (1-alpha)*0.5
	h := beta*float64(float32(0.2)) + (1-beta)*0.25
	rr := 0.01 * math.Sqrt(1-beta*beta) / (1 - alpha*alpha)
	x := (1 - float64(float32(0.1))) * (1 - rr*v/(math.Sqrt(h)+1e-3))
	if !near(got[0].Float64At(0), x) || !near(got[1].Float64At(0), v) || !near(got[2].Float64At(0), h) {
		t.Errorf("Adam = %v %v %v, want %v %v %v", got[0], got[1], got[2], x, v, h)
	}
	if _, err := runNode(nil, dom, "Adam", 1, nil, []string{"X"}, false, scalar(0.01), step(2), f(1), f(0.5), f(0.1)); err == nil {
		t.Error("Adam with a missing state list accepted")
	}
}

func BenchmarkLSTM(b *testing.B) {
	rng := lcg(3)
	const seq, batch, input, hidden = 32, 4, 128, 256
	X, W, R, B := randT(&rng, seq, batch, input), randT(&rng, 1, 4*hidden, input), randT(&rng, 1, 4*hidden, hidden), randT(&rng, 1, 8*hidden)
	n := &graph.Node{OpType: "LSTM", Attrs: mkAttrs("hidden_size", hidden), Inputs: []string{"X", "W", "R", "B"}, Outputs: []string{"Y", "Y_h"}}
	meta := []kernels.Input{{Present: true, DType: tensor.Float32, Shape: X.Shape}, {Present: true, Const: W}, {Present: true, Const: R}, {Present: true, Const: B}}
	build, _ := kernels.Lookup("", "LSTM", 14)
	k, err := build(&kernels.BuildContext{Node: n, Opset: 14, Inputs: meta})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]*tensor.Tensor, 2)
	for range b.N {
		if err := k.Run(nil, []*tensor.Tensor{X, W, R, B}, out); err != nil {
			b.Fatal(err)
		}
	}
}
