package nn

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "BatchNormalization", 1, buildBatchNorm)
	kernels.Register("", "InstanceNormalization", 1, buildInstanceNorm)
	kernels.Register("", "LayerNormalization", 17, buildLayerNorm(false))
	kernels.Register("", "RMSNormalization", 23, buildLayerNorm(true))
	kernels.Register("", "GroupNormalization", 18, buildGroupNorm)
	kernels.Register("", "GroupNormalization", 21, buildGroupNorm)
	kernels.Register("", "LRN", 1, buildLRN)
	kernels.Register("", "MeanVarianceNormalization", 9, buildMVN)
	kernels.Register("", "LpNormalization", 1, buildLpNorm)
}

// meanVar returns the mean and the population variance of v (two passes
// in float64).
func meanVar[F float](v []F) (mean, variance float64) {
	if len(v) == 0 {
		return 0, 0
	}
	mean = sum(v) / float64(len(v))
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(v); i += 2 {
		d0, d1 := float64(v[i])-mean, float64(v[i+1])-mean
		s0 += d0 * d0
		s1 += d1 * d1
	}
	if i < len(v) {
		d := float64(v[i]) - mean
		s0 += d * d
	}
	return mean, (s0 + s1) / float64(len(v))
}

// floatRun dispatches a float kernel body on x's dtype, widening 16-bit
// floats to float32.
func floatRun(ctx *kernels.Ctx, k kernels.Kernel, op string, in, out []*tensor.Tensor,
	f32 func() error, f64 func() error) error {
	switch dt := in[0].DType; dt {
	case tensor.Float32:
		return f32()
	case tensor.Float64:
		return f64()
	case tensor.Float16, tensor.BFloat16:
		return runWidened(ctx, k, dt, in, out)
	default:
		return kernels.Unsupported(op, "dtype %v", dt)
	}
}

// channelParam returns the per-channel parameter input i as []F of length c.
func channelParam[F float](in []*tensor.Tensor, i, c int, name string) ([]F, error) {
	if i >= len(in) || in[i] == nil {
		return nil, fmt.Errorf("missing input %s", name)
	}
	if in[i].Len() != c {
		return nil, fmt.Errorf("%s has shape %v, want %d elements", name, in[i].Shape, c)
	}
	return floatsOf[F](in[i]), nil
}

// --- BatchNormalization ---

// bnKernel is a compiled BatchNormalization node. In inference mode with
// constant parameters, y = x·a[c] + b[c] with a and b folded at build time.
type bnKernel struct {
	eps, momentum float64
	training      bool
	perActivation bool // opset < 9 with spatial=0: statistics per (c, d1, ...)
	a, b          any  // folded affine parameters, or nil
	// act is a Relu or Clip the optimizer fused into the node (inference
	// only): y = act(x·a + b) in one pass.
	act Activation
}

func buildBatchNorm(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) != 5 {
		return nil, b.Errorf("BatchNormalization needs 5 inputs, has %d", len(b.Inputs))
	}
	if err := checkFloat("BatchNormalization", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	a := b.Attrs()
	k := &bnKernel{eps: float64(a.Float("epsilon", 1e-5)), momentum: float64(a.Float("momentum", 0.9))}
	act, err := ParseActivation(a)
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	if !act.isClamp() {
		return nil, b.Errorf("BatchNormalization fuses only Relu or Clip, not %s", a.String(AttrActivation, ""))
	}
	k.act = act
	if b.Opset >= 14 {
		k.training = a.Int("training_mode", 0) != 0
	} else {
		for _, o := range b.Node.Outputs[1:] {
			if o != "" {
				return nil, kernels.Unsupported("BatchNormalization", "training outputs before opset 14")
			}
		}
	}
	if b.Opset < 9 {
		k.perActivation = a.Int("spatial", 1) == 0
	}
	if !k.training {
		var p [4]*tensor.Tensor
		for i := range p {
			if p[i] = b.ConstInput(i + 1); p[i] == nil {
				return k, nil
			}
		}
		c := p[0].Len()
		for _, t := range p {
			if t.Len() != c {
				return nil, b.Errorf("scale, B, mean and var must have the same size")
			}
		}
		sa, sb := make([]float64, c), make([]float64, c)
		for i := 0; i < c; i++ {
			sa[i] = p[0].Float64At(i) / math.Sqrt(p[3].Float64At(i)+k.eps)
			sb[i] = p[1].Float64At(i) - p[2].Float64At(i)*sa[i]
		}
		if b.Inputs[0].DType == tensor.Float64 {
			k.a, k.b = sa, sb
		} else {
			k.a, k.b = toF32(sa), toF32(sb)
		}
	}
	return k, nil
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func (k *bnKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, "BatchNormalization", in, out,
		func() error { return bnRun[float32](ctx, k, in, out) },
		func() error { return bnRun[float64](ctx, k, in, out) })
}

func bnRun[F float](ctx *kernels.Ctx, k *bnKernel, in, out []*tensor.Tensor) error {
	x := in[0]
	if len(x.Shape) < 2 {
		return fmt.Errorf("X must have rank >= 2, has shape %v", x.Shape)
	}
	n, c := x.Shape[0], x.Shape[1]
	size := prod(x.Shape[2:])
	if k.perActivation {
		c, size = c*size, 1
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	xd, yd := x.Data.([]F), y.Data.([]F)
	sa, sb := floatsOfAny[F](k.a), floatsOfAny[F](k.b)
	if sa == nil || len(sa) != c {
		scale, err := channelParam[F](in, 1, c, "scale")
		if err != nil {
			return err
		}
		bias, err := channelParam[F](in, 2, c, "B")
		if err != nil {
			return err
		}
		mean, err := channelParam[F](in, 3, c, "input_mean")
		if err != nil {
			return err
		}
		variance, err := channelParam[F](in, 4, c, "input_var")
		if err != nil {
			return err
		}
		mu, sigma2 := make([]float64, c), make([]float64, c)
		for i := 0; i < c; i++ {
			mu[i], sigma2[i] = float64(mean[i]), float64(variance[i])
		}
		if k.training {
			bm, bv := batchStats(xd, n, c, size)
			runMean, err := ctx.Alloc(x.DType, []int{c})
			if err != nil {
				return err
			}
			runVar, err := ctx.Alloc(x.DType, []int{c})
			if err != nil {
				return err
			}
			rm, rv := runMean.Data.([]F), runVar.Data.([]F)
			for i := 0; i < c; i++ {
				rm[i] = F(float64(mean[i])*k.momentum + bm[i]*(1-k.momentum))
				rv[i] = F(float64(variance[i])*k.momentum + bv[i]*(1-k.momentum))
			}
			if len(out) > 1 {
				out[1] = runMean
			}
			if len(out) > 2 {
				out[2] = runVar
			}
			mu, sigma2 = bm, bv
		}
		sa, sb = make([]F, c), make([]F, c)
		for i := 0; i < c; i++ {
			a := float64(scale[i]) / math.Sqrt(sigma2[i]+k.eps)
			sa[i], sb[i] = F(a), F(float64(bias[i])-mu[i]*a)
		}
	}
	lo32, hi32 := k.act.clampRange()
	ctx.Parallel(n*c, max(1, 8192/max(size, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			a, b := sa[p%c], sb[p%c]
			src, dst := xd[p*size:(p+1)*size], yd[p*size:(p+1)*size]
			if d32, ok := any(dst).([]float32); ok {
				affineClamp(d32, any(src).([]float32), float32(a), float32(b), lo32, hi32)
				continue
			}
			for i, v := range src {
				dst[i] = clamp(v*a+b, F(lo32), F(hi32))
			}
		}
	})
	return nil
}

// affineClampGo sets y[i] = min(max(x[i]·a + b, lo), hi) (NaN
// propagates).
func affineClampGo(y, x []float32, a, b, lo, hi float32) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] = clamp(v*a+b, lo, hi)
	}
}

// floatsOfAny returns v as []F if it holds that type.
func floatsOfAny[F float](v any) []F {
	f, _ := v.([]F)
	return f
}

// batchStats returns per-channel mean and population variance over the
// batch and spatial dims.
func batchStats[F float](x []F, n, c, size int) (mean, variance []float64) {
	mean, variance = make([]float64, c), make([]float64, c)
	cnt := float64(n * size)
	for ch := 0; ch < c; ch++ {
		var s float64
		for i := 0; i < n; i++ {
			s += sum(x[(i*c+ch)*size : (i*c+ch+1)*size])
		}
		m := s / cnt
		var v float64
		for i := 0; i < n; i++ {
			for _, e := range x[(i*c+ch)*size : (i*c+ch+1)*size] {
				d := float64(e) - m
				v += d * d
			}
		}
		mean[ch], variance[ch] = m, v/cnt
	}
	return mean, variance
}

// --- InstanceNormalization ---

type instanceNormKernel struct{ eps float64 }

func buildInstanceNorm(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) != 3 {
		return nil, b.Errorf("InstanceNormalization needs 3 inputs")
	}
	if err := checkFloat("InstanceNormalization", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	return &instanceNormKernel{eps: float64(b.Attrs().Float("epsilon", 1e-5))}, nil
}

func (k *instanceNormKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, "InstanceNormalization", in, out,
		func() error { return instanceNormRun[float32](ctx, k.eps, in, out) },
		func() error { return instanceNormRun[float64](ctx, k.eps, in, out) })
}

func instanceNormRun[F float](ctx *kernels.Ctx, eps float64, in, out []*tensor.Tensor) error {
	x := in[0]
	if len(x.Shape) < 3 {
		return fmt.Errorf("X must have rank >= 3, has shape %v", x.Shape)
	}
	n, c, size := x.Shape[0], x.Shape[1], prod(x.Shape[2:])
	scale, err := channelParam[F](in, 1, c, "scale")
	if err != nil {
		return err
	}
	bias, err := channelParam[F](in, 2, c, "B")
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	xd, yd := x.Data.([]F), y.Data.([]F)
	ctx.Parallel(n*c, max(1, 4096/max(size, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src, dst := xd[p*size:(p+1)*size], yd[p*size:(p+1)*size]
			m, v := meanVar(src)
			a := float64(scale[p%c]) / math.Sqrt(v+eps)
			b := float64(bias[p%c]) - m*a
			for i, e := range src {
				dst[i] = F(float64(e)*a + b)
			}
		}
	})
	return nil
}

// --- LayerNormalization and RMSNormalization ---

// layerNormKernel normalizes over the trailing dims from axis on. rms
// selects RMSNormalization (no mean subtraction, no bias, no stash outputs).
type layerNormKernel struct {
	axis int64
	eps  float64
	rms  bool
	op   string
}

func buildLayerNorm(rms bool) kernels.Builder {
	op := "LayerNormalization"
	if rms {
		op = "RMSNormalization"
	}
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if len(b.Inputs) < 2 {
			return nil, b.Errorf("%s needs inputs X and scale", op)
		}
		if err := checkFloat(op, b.Inputs[0].DType); err != nil {
			return nil, err
		}
		a := b.Attrs()
		if st := a.Int("stash_type", 1); st != 1 {
			return nil, kernels.Unsupported(op, "stash_type %d", st)
		}
		return &layerNormKernel{axis: a.Int("axis", -1), eps: float64(a.Float("epsilon", 1e-5)), rms: rms, op: op}, nil
	}
}

func (k *layerNormKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, k.op, in, out,
		func() error { return layerNormRun[float32](ctx, k, in, out) },
		func() error { return layerNormRun[float64](ctx, k, in, out) })
}

// broadcastParam returns t broadcast to shape (unidirectionally) as []F.
func broadcastParam[F float](t *tensor.Tensor, shape []int, name string) ([]F, error) {
	if t == nil {
		return nil, nil
	}
	n := prod(shape)
	if t.Len() == n && len(t.Shape) <= len(shape) {
		if bs, err := tensor.BroadcastShapes(t.Shape, shape); err == nil && tensor.EqualShapes(bs, shape) {
			return floatsOf[F](t), nil
		}
	}
	bs, err := tensor.BroadcastShapes(t.Shape, shape)
	if err != nil || !tensor.EqualShapes(bs, shape) {
		return nil, fmt.Errorf("%s shape %v does not broadcast to %v", name, t.Shape, shape)
	}
	src := floatsOf[F](t)
	st := tensor.BroadcastStrides(t.Shape, shape)
	out := make([]F, n)
	idx := make([]int, len(shape))
	for i := range out {
		off := 0
		for d := range idx {
			off += idx[d] * st[d]
		}
		out[i] = src[off]
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

func layerNormRun[F float](ctx *kernels.Ctx, k *layerNormKernel, in, out []*tensor.Tensor) error {
	x := in[0]
	axis, err := normAxis(k.axis, len(x.Shape))
	if err != nil {
		return err
	}
	inner := prod(x.Shape[axis:])
	rows := prod(x.Shape[:axis])
	scale, err := broadcastParam[F](in[1], x.Shape[axis:], "scale")
	if err != nil {
		return err
	}
	var bias []F
	if !k.rms && len(in) > 2 && in[2] != nil {
		if bias, err = broadcastParam[F](in[2], x.Shape[axis:], "B"); err != nil {
			return err
		}
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	statShape := append([]int{}, x.Shape...)
	for i := axis; i < len(statShape); i++ {
		statShape[i] = 1
	}
	var meanOut, invOut []float32
	if !k.rms && len(out) > 1 {
		// Mean and InvStdDev have the stash type, float32.
		t, err := ctx.Alloc(tensor.Float32, statShape)
		if err != nil {
			return err
		}
		out[1], meanOut = t, t.F32()
		if len(out) > 2 {
			t, err := ctx.Alloc(tensor.Float32, statShape)
			if err != nil {
				return err
			}
			out[2], invOut = t, t.F32()
		}
	}
	xd, yd := x.Data.([]F), y.Data.([]F)
	ctx.Parallel(rows, max(1, 4096/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src, dst := xd[r*inner:(r+1)*inner], yd[r*inner:(r+1)*inner]
			var m, inv float64
			if k.rms {
				var s float64
				for _, e := range src {
					s += float64(e) * float64(e)
				}
				inv = 1 / math.Sqrt(s/float64(inner)+k.eps)
			} else {
				var v float64
				m, v = meanVar(src)
				inv = 1 / math.Sqrt(v+k.eps)
			}
			if meanOut != nil {
				meanOut[r] = float32(m)
			}
			if invOut != nil {
				invOut[r] = float32(inv)
			}
			for i, e := range src {
				v := (float64(e) - m) * inv * float64(scale[i])
				if bias != nil {
					v += float64(bias[i])
				}
				dst[i] = F(v)
			}
		}
	})
	return nil
}

// --- GroupNormalization ---

// groupNormKernel normalizes each group of C/num_groups channels. Before
// opset 21 scale and bias have one value per group, since then per channel.
type groupNormKernel struct {
	groups     int
	eps        float64
	perChannel bool
}

func buildGroupNorm(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) != 3 {
		return nil, b.Errorf("GroupNormalization needs 3 inputs")
	}
	if err := checkFloat("GroupNormalization", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	a := b.Attrs()
	g := a.Int("num_groups", 0)
	if g < 1 || g > maxAttr {
		return nil, b.Errorf("num_groups %d", g)
	}
	if st := a.Int("stash_type", 1); st != 1 {
		return nil, kernels.Unsupported("GroupNormalization", "stash_type %d", st)
	}
	return &groupNormKernel{groups: int(g), eps: float64(a.Float("epsilon", 1e-5)), perChannel: b.Opset >= 21}, nil
}

func (k *groupNormKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, "GroupNormalization", in, out,
		func() error { return groupNormRun[float32](ctx, k, in, out) },
		func() error { return groupNormRun[float64](ctx, k, in, out) })
}

func groupNormRun[F float](ctx *kernels.Ctx, k *groupNormKernel, in, out []*tensor.Tensor) error {
	x := in[0]
	if len(x.Shape) < 2 {
		return fmt.Errorf("X must have rank >= 2, has shape %v", x.Shape)
	}
	n, c, size := x.Shape[0], x.Shape[1], prod(x.Shape[2:])
	if c%k.groups != 0 {
		return fmt.Errorf("%d channels are not divisible into %d groups", c, k.groups)
	}
	np := k.groups
	if k.perChannel {
		np = c
	}
	scale, err := channelParam[F](in, 1, np, "scale")
	if err != nil {
		return err
	}
	bias, err := channelParam[F](in, 2, np, "bias")
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	cpg := c / k.groups
	block := cpg * size
	xd, yd := x.Data.([]F), y.Data.([]F)
	ctx.Parallel(n*k.groups, max(1, 4096/max(block, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			g := p % k.groups
			src, dst := xd[p*block:(p+1)*block], yd[p*block:(p+1)*block]
			m, v := meanVar(src)
			inv := 1 / math.Sqrt(v+k.eps)
			for ci := 0; ci < cpg; ci++ {
				pi := g
				if k.perChannel {
					pi = g*cpg + ci
				}
				a := inv * float64(scale[pi])
				b := float64(bias[pi]) - m*a
				s, d := src[ci*size:(ci+1)*size], dst[ci*size:(ci+1)*size]
				for i, e := range s {
					d[i] = F(float64(e)*a + b)
				}
			}
		}
	})
	return nil
}

// --- LRN ---

type lrnKernel struct {
	size              int
	alpha, beta, bias float64
}

func buildLRN(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkFloat("LRN", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	a := b.Attrs()
	size := a.Int("size", 0)
	if size < 1 || size > maxAttr {
		return nil, b.Errorf("size %d must be positive", size)
	}
	return &lrnKernel{size: int(size), alpha: float64(a.Float("alpha", 1e-4)),
		beta: float64(a.Float("beta", 0.75)), bias: float64(a.Float("bias", 1))}, nil
}

func (k *lrnKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, "LRN", in, out,
		func() error { return lrnRun[float32](ctx, k, in, out) },
		func() error { return lrnRun[float64](ctx, k, in, out) })
}

// lrnRun: y = x / (bias + alpha/size · Σ x²)^beta, the sum over the
// channels [c - ⌊(size-1)/2⌋, c + ⌈(size-1)/2⌉].
func lrnRun[F float](ctx *kernels.Ctx, k *lrnKernel, in, out []*tensor.Tensor) error {
	x := in[0]
	if len(x.Shape) < 2 {
		return fmt.Errorf("X must have rank >= 2, has shape %v", x.Shape)
	}
	n, c, size := x.Shape[0], x.Shape[1], prod(x.Shape[2:])
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	xd, yd := x.Data.([]F), y.Data.([]F)
	before, after := (k.size-1)/2, k.size/2
	scale := k.alpha / float64(k.size)
	if x32, ok := any(xd).([]float32); ok {
		lrn32(ctx, k, x32, any(yd).([]float32), n, c, size)
		return nil
	}
	ctx.Parallel(n*c, max(1, 2048/max(size*k.size, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ni, ch := p/c, p%c
			c0, c1 := max(0, ch-before), min(c-1, ch+after)
			dst := yd[p*size : (p+1)*size]
			for i := range dst {
				var s float64
				for cc := c0; cc <= c1; cc++ {
					v := float64(xd[(ni*c+cc)*size+i])
					s += v * v
				}
				dst[i] = F(float64(xd[p*size+i]) / math.Pow(k.bias+scale*s, k.beta))
			}
		}
	})
	return nil
}

// lrn32 is lrnRun for float32, plane by plane: the window's sums of
// squares are accumulated a plane at a time (vectorisable loops), and the
// common exponents (beta 0.75 in AlexNet and GoogLeNet, 0.5, 1) take
// square roots instead of a pow per element.
func lrn32(ctx *kernels.Ctx, k *lrnKernel, x, y []float32, n, c, size int) {
	before, after := (k.size-1)/2, k.size/2
	scale := float32(k.alpha / float64(k.size))
	bias, beta := float32(k.bias), k.beta
	ctx.Parallel(n*c, max(1, 2048/max(size*k.size, 1)), func(lo, hi int) {
		s := make([]float32, size)
		for p := lo; p < hi; p++ {
			ni, ch := p/c, p%c
			c0, c1 := max(0, ch-before), min(c-1, ch+after)
			clear(s)
			for cc := c0; cc <= c1; cc++ {
				xc := x[(ni*c+cc)*size : (ni*c+cc+1)*size]
				for i, v := range xc {
					s[i] += v * v
				}
			}
			xs, dst := x[p*size:(p+1)*size], y[p*size:(p+1)*size]
			switch beta {
			case 0.75:
				for i, v := range xs {
					t := bias + scale*s[i]
					r := float32(math.Sqrt(float64(t)))
					dst[i] = v / (r * float32(math.Sqrt(float64(r))))
				}
			case 0.5:
				for i, v := range xs {
					dst[i] = v / float32(math.Sqrt(float64(bias+scale*s[i])))
				}
			case 1:
				for i, v := range xs {
					dst[i] = v / (bias + scale*s[i])
				}
			default:
				for i, v := range xs {
					dst[i] = float32(float64(v) / math.Pow(float64(bias+scale*s[i]), beta))
				}
			}
		}
	})
}

// --- MeanVarianceNormalization ---

type mvnKernel struct{ axes []int64 }

func buildMVN(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkFloat("MeanVarianceNormalization", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	return &mvnKernel{axes: b.Attrs().Ints("axes", []int64{0, 2, 3})}, nil
}

func (k *mvnKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, "MeanVarianceNormalization", in, out,
		func() error { return mvnRun[float32](ctx, k, in, out) },
		func() error { return mvnRun[float64](ctx, k, in, out) })
}

// mvnRun: y = (x - E[x]) / (sqrt(E[(x - E[x])²]) + 1e-9) over the axes,
// as the ONNX function body computes it.
func mvnRun[F float](ctx *kernels.Ctx, k *mvnKernel, in, out []*tensor.Tensor) error {
	x := in[0]
	rank := len(x.Shape)
	reduced := make([]bool, rank)
	for _, a := range k.axes {
		ax, err := normAxis(a, rank)
		if err != nil {
			return err
		}
		reduced[ax] = true
	}
	// Each element belongs to the group given by its kept coordinates.
	gstride := make([]int, rank)
	groups := 1
	for i := rank - 1; i >= 0; i-- {
		if !reduced[i] {
			gstride[i] = groups
			groups *= x.Shape[i]
		}
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	xd, yd := x.Data.([]F), y.Data.([]F)
	if len(xd) == 0 {
		return nil
	}
	gid := make([]int32, len(xd))
	idx := make([]int, rank)
	for i := range gid {
		g := 0
		for d, c := range idx {
			g += c * gstride[d]
		}
		gid[i] = int32(g)
		for d := rank - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < x.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	mean, sq := make([]float64, groups), make([]float64, groups)
	cnt := float64(len(xd) / groups)
	for i, v := range xd {
		mean[gid[i]] += float64(v)
	}
	for g := range mean {
		mean[g] /= cnt
	}
	for i, v := range xd {
		d := float64(v) - mean[gid[i]]
		sq[gid[i]] += d * d
	}
	for g := range sq {
		sq[g] = math.Sqrt(sq[g]/cnt) + 1e-9
	}
	for i, v := range xd {
		yd[i] = F((float64(v) - mean[gid[i]]) / sq[gid[i]])
	}
	return nil
}

// --- LpNormalization ---

type lpNormKernel struct {
	axis int64
	p    int64
}

func buildLpNorm(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkFloat("LpNormalization", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	a := b.Attrs()
	k := &lpNormKernel{axis: a.Int("axis", -1), p: a.Int("p", 2)}
	if k.p != 1 && k.p != 2 {
		return nil, b.Errorf("p = %d must be 1 or 2", k.p)
	}
	return k, nil
}

func (k *lpNormKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, "LpNormalization", in, out,
		func() error { return lpNormRun[float32](ctx, k, in, out) },
		func() error { return lpNormRun[float64](ctx, k, in, out) })
}

func lpNormRun[F float](ctx *kernels.Ctx, k *lpNormKernel, in, out []*tensor.Tensor) error {
	x := in[0]
	axis, err := normAxis(k.axis, len(x.Shape))
	if err != nil {
		return err
	}
	outer, n, inner := prod(x.Shape[:axis]), x.Shape[axis], prod(x.Shape[axis+1:])
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	xd, yd := x.Data.([]F), y.Data.([]F)
	ctx.Parallel(outer*inner, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for l := lo; l < hi; l++ {
			base := (l/inner)*n*inner + l%inner
			var s float64
			for i := 0; i < n; i++ {
				v := float64(xd[base+i*inner])
				if k.p == 1 {
					s += math.Abs(v)
				} else {
					s += v * v
				}
			}
			if k.p == 2 {
				s = math.Sqrt(s)
			}
			inv := 0.0 // a zero vector stays zero
			if s != 0 {
				inv = 1 / s
			}
			for i := 0; i < n; i++ {
				yd[base+i*inner] = F(float64(xd[base+i*inner]) * inv)
			}
		}
	})
	return nil
}
