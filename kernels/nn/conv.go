package nn

import (
	"fmt"
	"sync"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Conv", 1, buildConv)
}

// convKernel is a compiled Conv node. The ONNX weight layout
// [M, C/group, k...] is, per group, the row-major M/group × (C/group·Πk)
// left operand of the im2col product, so constant float32 weights are
// packed for the gemm micro-kernel once, at build time.
type convKernel struct {
	g      geom
	group  int
	act    Activation
	w      any             // constant weights as []float32 or []float64 (nil once packed)
	wShape []int           // shape of a constant W
	packed []*gemm.PackedA // per group, for constant float32 weights
	// pixelW holds W per group packed for gemm.SgemmPixels instead of
	// packed, for the convolutions that take the pixel path (see
	// convpixels.go); packed is then derived from it only if another path
	// is needed (packedOnce).
	pixelW     []*gemm.PixelWeights
	packedOnce sync.Once
	bias       any // constant bias, or nil
	nB         int // length of a constant bias
	// residual: input 3 is added to the convolution (after the bias,
	// before the activation): Conv -> Add(other) [-> Relu] as the
	// runtime's optimizer fuses residual blocks (AttrResidual).
	residual bool
}

// AttrResidual is the Conv attribute (int 1) the runtime's optimizer sets
// when it fuses a following Add of another value into the convolution:
// input 3 is then added to the output before the fused activation.
const AttrResidual = "edgedl_residual"

// PackedInputs implements kernels.PackedInputs: a constant W lives in the
// kernel (packed, or as k.w) and so does a constant bias, so the runtime
// passes nil for them and drops the originals.
func (k *convKernel) PackedInputs() []int {
	var ids []int
	if k.wShape != nil {
		ids = append(ids, 1)
	}
	if k.bias != nil {
		ids = append(ids, 2)
	}
	return ids
}

func buildConv(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("Conv needs inputs X and W")
	}
	if err := checkFloat("Conv", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	g, err := parseGeom(b, false)
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	k := &convKernel{g: g, group: int(b.Attrs().Int("group", 1)), residual: b.Attrs().Int(AttrResidual, 0) != 0}
	if k.residual && !b.HasInput(3) {
		return nil, b.Errorf("%s set but no input 3", AttrResidual)
	}
	if k.group < 1 || k.group > maxAttr {
		return nil, b.Errorf("group %d", k.group)
	}
	if k.act, err = ParseActivation(b.Attrs()); err != nil {
		return nil, b.Errorf("%v", err)
	}
	if w := b.ConstInput(1); w != nil {
		if len(w.Shape) < 3 {
			return nil, b.Errorf("W must have rank >= 3, has shape %v", w.Shape)
		}
		if w.Shape[0]%k.group != 0 {
			return nil, b.Errorf("W has %d output channels, not a multiple of group %d", w.Shape[0], k.group)
		}
		if g.kernel != nil && !tensor.EqualShapes(g.kernel, w.Shape[2:]) {
			return nil, b.Errorf("kernel_shape %v does not match W shape %v", g.kernel, w.Shape)
		}
		if err := checkFloat("Conv", w.DType); err != nil {
			return nil, err
		}
		k.w = constAs(b, 1)
		k.wShape = append([]int(nil), w.Shape...)
		if wf, ok := k.w.([]float32); ok && !isDepthwise(w.Shape[1], k.group) {
			mg, kdim := w.Shape[0]/k.group, prod(w.Shape[1:])
			pixels := pixelWeightsFit(w.Shape, k.group)
			for gi := 0; gi < k.group; gi++ {
				wg := wf[gi*mg*kdim : (gi+1)*mg*kdim]
				if pixels {
					k.pixelW = append(k.pixelW, gemm.PackPixelWeights(mg, kdim, wg, kdim))
				} else {
					k.packed = append(k.packed, gemm.PackA(false, mg, kdim, wg, kdim))
				}
			}
			k.w = nil // the packed copy is all the products read
		}
		if k.w == nil && k.packed == nil && k.pixelW == nil { // not a float constant after all
			k.wShape = nil
		}
	}
	if b.HasInput(2) {
		k.bias = constAs(b, 2)
		if c := b.ConstInput(2); k.bias != nil {
			k.nB = c.Len()
		}
	}
	return k, nil
}

// isDepthwise reports a convolution of each channel on its own (C/group =
// 1, group = C > 1), computed directly rather than as a product.
func isDepthwise(cg, group int) bool { return cg == 1 && group > 1 }

func (k *convKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	switch dt := in[0].DType; dt {
	case tensor.Float32:
		return convRun[float32](ctx, k, in, out, nil)
	case tensor.Float64:
		return convRun[float64](ctx, k, in, out, nil)
	case tensor.Float16, tensor.BFloat16:
		return runWidened(ctx, k, dt, in, out)
	default:
		return kernels.Unsupported("Conv", "dtype %v", dt)
	}
}

// paramData returns the constant c if set, else t's data, as []F; it fails
// if t holds another element type.
func paramData[F float](c any, t *tensor.Tensor, name string) ([]F, error) {
	if c != nil {
		if v, ok := c.([]F); ok {
			return v, nil
		}
	}
	if t == nil {
		return nil, nil
	}
	v, ok := t.Data.([]F)
	if !ok {
		return nil, fmt.Errorf("%s has dtype %v, unlike X", name, t.DType)
	}
	return v, nil
}

// convShapes checks X and W's shape and returns (N, C, M, C/group).
func convShapes(x *tensor.Tensor, wShape []int, group int) (n, c, m, cg int, err error) {
	if len(x.Shape) < 3 {
		return 0, 0, 0, 0, fmt.Errorf("X must have rank >= 3, has shape %v", x.Shape)
	}
	if len(wShape) != len(x.Shape) {
		return 0, 0, 0, 0, fmt.Errorf("W shape %v does not match X shape %v", wShape, x.Shape)
	}
	n, c, m, cg = x.Shape[0], x.Shape[1], wShape[0], wShape[1]
	if cg*group != c {
		return 0, 0, 0, 0, fmt.Errorf("X has %d channels, W expects %d×group %d", c, cg, group)
	}
	if m%group != 0 {
		return 0, 0, 0, 0, fmt.Errorf("W has %d output channels, not a multiple of group %d", m, group)
	}
	return n, c, m, cg, nil
}

// outShape returns the output shape of the convolution of x, or an error.
func (k *convKernel) outShape(x, w *tensor.Tensor) ([]int, error) {
	wShape := k.wShape
	if w != nil {
		wShape = w.Shape
	} else if wShape == nil {
		return nil, fmt.Errorf("W is missing")
	}
	n, _, m, _, err := convShapes(x, wShape, k.group)
	if err != nil {
		return nil, err
	}
	win, err := k.g.resolve(x.Shape[2:], wShape[2:])
	if err != nil {
		return nil, err
	}
	return append([]int{n, m}, win.out...), nil
}

// convRun computes the convolution into a new output, or into dst when it
// is not nil (a tensor of the output's dtype and shape, possibly a view
// into a larger buffer: ConcatConv).
func convRun[F float](ctx *kernels.Ctx, k *convKernel, in, out []*tensor.Tensor, dst *tensor.Tensor) (err error) {
	x, w := in[0], in[1]
	wShape := k.wShape
	if w != nil {
		wShape = w.Shape
	} else if wShape == nil {
		return fmt.Errorf("W is missing")
	}
	n, c, m, cg, err := convShapes(x, wShape, k.group)
	if err != nil {
		return err
	}
	kernel := wShape[2:]
	if k.g.kernel != nil && !tensor.EqualShapes(k.g.kernel, kernel) {
		return fmt.Errorf("kernel_shape %v does not match W shape %v", k.g.kernel, wShape)
	}
	win, err := k.g.resolve(x.Shape[2:], kernel)
	if err != nil {
		return err
	}
	wd, err := paramData[F](k.w, w, "W")
	if err != nil {
		return err
	}
	xd := x.Data.([]F)
	var bias []F
	if k.bias != nil || len(in) > 2 && in[2] != nil {
		nb := k.nB
		if k.bias == nil || len(in) > 2 && in[2] != nil {
			nb = in[2].Len()
		}
		if nb != m {
			return fmt.Errorf("B has %d elements, want %d", nb, m)
		}
		var bt *tensor.Tensor
		if len(in) > 2 {
			bt = in[2]
		}
		if bias, err = paramData[F](k.bias, bt, "B"); err != nil {
			return err
		}
	}
	d2, is2d := to2d(win)
	// Every path writes each output once, except the generic depthwise
	// loop, which accumulates, and the empty sums of cg = 0.
	accumulates := cg == 0 || is2d && isDepthwise(cg, k.group) && !(d2.kh == 3 && d2.kw == 3 &&
		d2.dh == 1 && d2.dw == 1 && (d2.sw == 1 || d2.sw == 2))
	yShape := append([]int{n, m}, win.out...)
	// A residual of the output's shape is loaded into y and the products
	// accumulate onto it (beta = 1), the activation applied in the same
	// epilogue; y is the residual's own buffer when nothing reads it later.
	// Other residuals (broadcast ones, or paths that do not end in a
	// float32 product) are added in a pass after an unactivated conv.
	var res *tensor.Tensor
	act := k.act
	beta := F(0)
	if k.residual && len(in) > 3 {
		res = in[3]
		if res == nil || res.DType != x.DType {
			return fmt.Errorf("residual input missing or of another dtype than X")
		}
		if _, f32 := any(xd).([]float32); f32 && dst == nil && !accumulates && k.hasPacked() && k.group == 1 &&
			tensor.EqualShapes(res.Shape, yShape) && (pointwise(win) || is2d) {
			beta = 1
		} else {
			act = Activation{}
		}
	}
	var y *tensor.Tensor
	switch {
	case beta == 1 && ctx.CanOverwrite(3):
		y = &tensor.Tensor{DType: x.DType, Shape: yShape, Data: res.Data}
	case beta == 1:
		if y, err = allocFull(ctx, x.DType, yShape); err == nil {
			copy(y.Data.([]F), res.Data.([]F))
		}
	case dst != nil:
		y = dst
		if accumulates {
			clear(y.Data.([]F))
		}
	case accumulates:
		y, err = ctx.Alloc(x.DType, yShape)
	default:
		y, err = allocFull(ctx, x.DType, yShape)
	}
	if err != nil {
		return err
	}
	out[0] = y
	if res != nil && beta == 0 {
		defer func() {
			if err == nil {
				out[0], err = addResidual[F](ctx, y, res, k.act)
			}
		}()
	}
	p := convProblem[F]{ctx: ctx, kern: k, x: xd, w: wd, bias: bias, y: y.Data.([]F), n: n, c: c, m: m,
		cg: cg, group: k.group, win: win, act: act, beta: beta}
	if _, ok := any(xd).([]float32); ok && k.hasPacked() { // packed weights are float32
		p.pixels = k.pixelW != nil && is2d && usePixels(&d2, cg, pointwise(win)) && !noPixels
		if !p.pixels {
			p.packed = k.packedA()
		}
	}
	if p.packed == nil && !p.pixels && wd == nil {
		return fmt.Errorf("W is missing or has a dtype unlike X")
	}
	p.inSize, p.outSize = prod(win.in), prod(win.out)
	p.kk = prod(kernel)
	if n == 0 || p.outSize == 0 || m == 0 {
		return nil
	}
	if cg == 0 { // no input channels: every sum is empty
		for ni := 0; ni < n; ni++ {
			p.epilogue(ni, 0, m, 0, p.outSize, true)
		}
		return nil
	}
	switch {
	case is2d && isDepthwise(cg, k.group):
		return p.depthwise(x.DType, &d2)
	case pointwise(win) && p.pixels:
		return p.pixelProduct(nil)
	case pointwise(win):
		for ni := 0; ni < n; ni++ {
			for g := 0; g < k.group; g++ {
				p.mul(g, p.x[(ni*c+g*cg)*p.inSize:], p.inSize, ni, 0, p.outSize)
			}
		}
	default:
		return p.im2colGemm(x.DType, &d2, is2d)
	}
	return nil
}

// addResidual returns act(y + r), r broadcast against y (the sum in y's
// buffer when it has y's shape, else in a new tensor).
func addResidual[F float](ctx *kernels.Ctx, y, r *tensor.Tensor, act Activation) (*tensor.Tensor, error) {
	shape, err := tensor.BroadcastShapes(y.Shape, r.Shape)
	if err != nil {
		return nil, fmt.Errorf("residual: %v", err)
	}
	z := y
	if !tensor.EqualShapes(shape, y.Shape) {
		if z, err = ctx.Alloc(y.DType, shape); err != nil {
			return nil, err
		}
	}
	yd, rd, zd := y.Data.([]F), r.Data.([]F), z.Data.([]F)
	ys, rs := tensor.BroadcastStrides(y.Shape, shape), tensor.BroadcastStrides(r.Shape, shape)
	if tensor.EqualShapes(r.Shape, shape) && z == y {
		if a := act; a.isClamp() {
			lo, hi := a.clampRange()
			for i, v := range rd {
				zd[i] = clamp(yd[i]+v, F(lo), F(hi))
			}
			return z, nil
		}
		for i, v := range rd {
			zd[i] = yd[i] + v
		}
	} else {
		idx := make([]int, len(shape))
		for i := range zd {
			yi, ri := 0, 0
			for a, v := range idx {
				yi += v * ys[a]
				ri += v * rs[a]
			}
			zd[i] = yd[yi] + rd[ri]
			for a := len(idx) - 1; a >= 0; a-- {
				if idx[a]++; idx[a] < shape[a] {
					break
				}
				idx[a] = 0
			}
		}
	}
	biasAct(zd, 0, act)
	return z, nil
}

// convProblem is one Conv evaluation: flat data and sizes.
type convProblem[F float] struct {
	ctx           *kernels.Ctx
	x, w, bias, y []F
	packed        []*gemm.PackedA
	pixels        bool // the pixel path, with kern.pixelW
	kern          *convKernel
	n, c, m, cg   int
	group         int
	win           window
	act           Activation
	beta          F   // 1: the products accumulate onto y (a residual)
	inSize        int // Π input spatial dims
	outSize       int // Π output spatial dims
	kk            int // Π kernel dims
}

// conv2d is a 1-D or 2-D window seen as 2-D (a 1-D one has height 1).
type conv2d struct {
	h, w, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw int
	eh, ew                                       int // end pads (for count_include_pad)
}

func to2d(win window) (conv2d, bool) {
	switch len(win.in) {
	case 1:
		return conv2d{h: 1, w: win.in[0], oh: 1, ow: win.out[0], kh: 1, kw: win.k[0], sh: 1,
			sw: win.s[0], dh: 1, dw: win.d[0], pw: win.pb[0], ew: win.pe[0]}, true
	case 2:
		return conv2d{h: win.in[0], w: win.in[1], oh: win.out[0], ow: win.out[1],
			kh: win.k[0], kw: win.k[1], sh: win.s[0], sw: win.s[1], dh: win.d[0], dw: win.d[1],
			ph: win.pb[0], pw: win.pb[1], eh: win.pe[0], ew: win.pe[1]}, true
	}
	return conv2d{}, false
}

// pointwise reports a 1×1 (×1...) kernel with unit strides and no padding:
// the convolution is then a plain product with the input.
func pointwise(win window) bool {
	for i := range win.k {
		if win.k[i] != 1 || win.s[i] != 1 || win.pb[i] != 0 || win.pe[i] != 0 {
			return false
		}
	}
	return true
}

// gemmEpilogue expresses bias and activation as a fused gemm epilogue; ok
// is false when the activation is not one the gemm kernels apply.
func gemmEpilogue(act Activation) (e gemm.Epilogue, ok bool) {
	switch act.Kind {
	case ActNone:
	case ActRelu:
		e.Act = gemm.ActReLU
	case ActClip:
		e.Act, e.Min, e.Max = gemm.ActClip, act.Alpha, act.Beta
	default:
		return e, false
	}
	return e, true
}

// mul computes output channels of group g, columns [j0, j1) of image n:
// Y = W_g · B (B is C/g·Πk × (j1-j0) with row stride ldb), then adds the
// bias and applies the activation. The product is split over the workers.
func (p *convProblem[F]) mul(g int, b []F, ldb int, n, j0, j1 int) {
	mg := p.m / p.group
	kdim := p.cg * p.kk
	nn := j1 - j0
	c := p.y[(n*p.m+g*mg)*p.outSize+j0:]
	if w, ok := any(p.w).([]float32); ok {
		opt := p.gemmOptions()
		_, fused := gemmEpilogue(p.act)
		opt.Epilogue.RowBias = p.groupBias(g)
		bb, cc := any(b).([]float32), any(c).([]float32)
		if p.packed != nil {
			gemm.SgemmPackedA(mg, nn, kdim, 1, p.packed[g], false, bb, ldb, float32(p.beta), cc, p.outSize, &opt)
		} else {
			gemm.SgemmEx(false, false, mg, nn, kdim, 1, w[g*mg*kdim:], kdim, bb, ldb, float32(p.beta), cc, p.outSize, &opt)
		}
		if !fused {
			p.epilogue(n, g*mg, mg, j0, j1, false)
		}
		return
	}
	parallelGemm(p.ctx, false, false, mg, nn, kdim, 1, p.w[g*mg*kdim:], kdim, b, ldb, 0, c, p.outSize)
	p.epilogue(n, g*mg, mg, j0, j1, true)
}

// gemmOptions returns the threading and the fused part of the epilogue
// (the activation, when the gemm kernels apply it; not the bias) of the
// products of p.
func (p *convProblem[F]) gemmOptions() gemm.Options {
	e, _ := gemmEpilogue(p.act)
	return gemm.Options{Parallel: p.ctx.Parallel, Epilogue: e}
}

// epilogue applies the activation (and, if withBias, adds the bias) to
// output channels [m0, m0+rows) of image n, columns [j0, j1).
func (p *convProblem[F]) epilogue(n, m0, rows, j0, j1 int, withBias bool) {
	if (p.bias == nil || !withBias) && p.act.Kind == ActNone {
		return
	}
	p.ctx.Parallel(rows, max(1, 4096/max(j1-j0, 1)), func(lo, hi int) {
		for mi := m0 + lo; mi < m0+hi; mi++ {
			var b F
			if p.bias != nil && withBias {
				b = p.bias[mi]
			}
			base := (n*p.m + mi) * p.outSize
			biasAct(p.y[base+j0:base+j1], b, p.act)
		}
	})
}

// noIndirect turns the indirect path off (tests and A/B benchmarks).
var noIndirect = false

// im2colGemm is the general path: for each image, group and tile of output
// positions, unfold the input patches into a (C/g·Πk) × tile matrix and
// multiply by the weights. Tiles bound the scratch space (about 1 MiB: the
// runtime holds scratch until the end of the run).
func (p *convProblem[F]) im2colGemm(dt tensor.DType, d2 *conv2d, is2d bool) error {
	kdim := p.cg * p.kk
	if p.pixels {
		return p.pixelProduct(d2)
	}
	if p.packed != nil && is2d && useIndirect(d2, p.cg, p.m/p.group) && !noIndirect {
		return p.indirect(d2)
	}
	if p.packed != nil && is2d {
		// float32 with packed weights: the gemm asks for the unfolded
		// input an L2-sized block at a time, so it is never stored whole.
		// The input is first copied into zero-padded planes, so that the
		// unfolding is plain row copies without bounds.
		x32, y32 := any(p.x).([]float32), any(p.y).([]float32)
		mg := p.m / p.group
		opt := p.gemmOptions()
		pd := newPadded(d2)
		scratch, err := allocFull(p.ctx, tensor.Float32, []int{p.cg, pd.hp, pd.wp}) // pad writes every element
		if err != nil {
			return err
		}
		defer p.ctx.Free(scratch)
		xp := scratch.F32()
		for n := 0; n < p.n; n++ {
			for g := 0; g < p.group; g++ {
				xs := x32[(n*p.c+g*p.cg)*p.inSize : (n*p.c+(g+1)*p.cg)*p.inSize]
				p.ctx.Parallel(p.cg, max(1, 4096/p.inSize), func(lo, hi int) { pd.pad(xs, xp, lo, hi) })
				src := func(dst []float32, ld, p0, kb, j0, nc int) {
					pd.im2col(xp, p0, p0+kb, j0, j0+nc, dst, ld)
				}
				opt.Epilogue.RowBias = p.groupBias(g)
				gemm.SgemmPackedASource(mg, p.outSize, kdim, 1, p.packed[g], src, float32(p.beta),
					y32[(n*p.m+g*mg)*p.outSize:], p.outSize, &opt)
				if _, fused := gemmEpilogue(p.act); !fused {
					p.epilogue(n, g*mg, mg, 0, p.outSize, false)
				}
			}
		}
		return nil
	}
	tn := min(max(64, (1<<18)/kdim), p.outSize)
	scratch, err := p.ctx.Alloc(dt, []int{kdim * tn})
	if err != nil {
		return err
	}
	col := scratch.Data.([]F)
	for n := 0; n < p.n; n++ {
		for g := 0; g < p.group; g++ {
			xs := p.x[(n*p.c+g*p.cg)*p.inSize : (n*p.c+(g+1)*p.cg)*p.inSize]
			for j0 := 0; j0 < p.outSize; j0 += tn {
				j1 := min(j0+tn, p.outSize)
				nn := j1 - j0
				p.ctx.Parallel(kdim, max(1, 8192/nn), func(lo, hi int) {
					if is2d {
						im2col2d(xs, d2, lo, hi, j0, j1, col[lo*nn:], nn)
					} else {
						im2colND(xs, &p.win, lo, hi, j0, j1, col)
					}
				})
				p.mul(g, col, nn, n, j0, j1)
			}
		}
	}
	return nil
}

// padded is the geometry of a conv2d's input copied into zero-padded
// planes of hp×wp, input (0, 0) at (ph, pw): exactly the rows and columns
// the taps reach, so the unfolding needs no bounds tests.
type padded struct {
	d      *conv2d
	hp, wp int
}

func newPadded(d *conv2d) padded {
	return padded{d: d, hp: (d.oh-1)*d.sh + (d.kh-1)*d.dh + 1, wp: (d.ow-1)*d.sw + (d.kw-1)*d.dw + 1}
}

// pad copies channels [c0, c1) of x into the planes xp and zeroes their
// padding (xp need not be zeroed beforehand).
func (q padded) pad(x, xp []float32, c0, c1 int) {
	d := q.d
	plane := d.h * d.w
	r0, r1 := max(0, d.ph), min(q.hp, d.h+d.ph) // padded rows holding input rows
	q0, q1 := max(0, d.pw), min(q.wp, d.w+d.pw)
	for c := c0; c < c1; c++ {
		pc := xp[c*q.hp*q.wp : (c+1)*q.hp*q.wp]
		if r0 >= r1 || q0 >= q1 {
			clear(pc)
			continue
		}
		xc := x[c*plane : (c+1)*plane]
		clear(pc[:r0*q.wp])
		clear(pc[r1*q.wp:])
		for r := r0; r < r1; r++ {
			ih := r - d.ph
			row := pc[r*q.wp : (r+1)*q.wp]
			clear(row[:q0])
			copy(row[q0:q1], xc[ih*d.w+q0-d.pw:])
			clear(row[q1:])
		}
	}
}

// im2col is im2col2d reading the padded planes xp: rows [r0, r1) of the
// unfolded input, output positions [j0, j1), row r at col[(r-r0)*ld:].
func (q padded) im2col(xp []float32, r0, r1, j0, j1 int, col []float32, ld int) {
	d := q.d
	kk := d.kh * d.kw
	nn := j1 - j0
	rowStep := d.sh * q.wp
	for r := r0; r < r1; r++ {
		c, ki, kj := r/kk, r%kk/d.kw, r%d.kw
		base := c*q.hp*q.wp + ki*d.dh*q.wp + kj*d.dw
		dst := col[(r-r0)*ld : (r-r0)*ld+nn]
		oh, ow := j0/d.ow, j0%d.ow
		src := base + oh*rowStep + ow*d.sw
		for pos := 0; pos < nn; {
			cnt := min(d.ow-ow, nn-pos)
			seg := dst[pos : pos+cnt]
			switch d.sw {
			case 1:
				copy(seg, xp[src:])
			case 2:
				gatherS2(seg, xp[src:])
			default:
				xs := xp[src:]
				for i := range seg {
					seg[i] = xs[i*d.sw]
				}
			}
			pos += cnt
			oh++
			ow = 0
			src = base + oh*rowStep
		}
	}
}

// outRange returns the output positions [lo, hi) whose input position
// o*s + off lies in [0, n).
func outRange(off, s, n, outN int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if n-1-off < 0 {
		return 0, 0
	}
	hi = (n-1-off)/s + 1
	if hi > outN {
		hi = outN
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// im2col2d writes rows [r0, r1) of the unfolded input x (channels of h×w;
// row r is channel, tap (ki, kj)) for output positions [j0, j1) into col:
// row r at col[(r-r0)*ld:].
func im2col2d[F float](x []F, p *conv2d, r0, r1, j0, j1 int, col []F, ld int) {
	nn := j1 - j0
	plane := p.h * p.w
	kk := p.kh * p.kw
	for r := r0; r < r1; r++ {
		c, ki, kj := r/kk, r%kk/p.kw, r%p.kw
		xc := x[c*plane : (c+1)*plane]
		dst := col[(r-r0)*ld : (r-r0)*ld+nn]
		off := kj*p.dw - p.pw
		lo, hi := outRange(off, p.sw, p.w, p.ow)
		oh, ow := j0/p.ow, j0%p.ow
		for pos := 0; pos < nn; oh, ow = oh+1, 0 {
			cnt := min(p.ow-ow, nn-pos)
			seg := dst[pos : pos+cnt]
			pos += cnt
			ih := oh*p.sh - p.ph + ki*p.dh
			a, b := max(lo, ow), min(hi, ow+cnt)
			if ih < 0 || ih >= p.h || a >= b {
				clear(seg)
				continue
			}
			xrow := xc[ih*p.w : (ih+1)*p.w]
			clear(seg[:a-ow])
			clear(seg[b-ow:])
			if p.sw == 1 {
				copy(seg[a-ow:b-ow], xrow[a+off:b+off])
			} else if s32, ok := any(seg[a-ow : b-ow]).([]float32); ok && p.sw == 2 {
				gatherS2(s32, any(xrow[2*a+off:]).([]float32))
			} else {
				s := seg[a-ow : b-ow]
				for i := range s {
					s[i] = xrow[(a+i)*p.sw+off]
				}
			}
		}
	}
}

// gatherS2Go sets dst[i] = src[2i] for i < len(dst).
func gatherS2Go(dst, src []float32) {
	if len(dst) == 0 {
		return
	}
	src = src[:2*len(dst)-1]
	for i := range dst {
		dst[i] = src[2*i]
	}
}

// im2colND is im2col2d for any spatial rank (3-D convolutions).
func im2colND[F float](x []F, win *window, r0, r1, j0, j1 int, col []F) {
	nd := len(win.in)
	nn := j1 - j0
	plane := prod(win.in)
	kk := prod(win.k)
	kidx := make([]int, nd)
	oc := make([]int, nd)
	for r := r0; r < r1; r++ {
		c := r / kk
		xc := x[c*plane : (c+1)*plane]
		for i, f := nd-1, r%kk; i >= 0; i-- { // tap coordinates
			kidx[i] = f % win.k[i]
			f /= win.k[i]
		}
		for i, f := nd-1, j0; i >= 0; i-- { // first output position
			oc[i] = f % win.out[i]
			f /= win.out[i]
		}
		dst := col[r*nn : (r+1)*nn]
		for pos := range dst {
			idx, ok := 0, true
			for i := 0; i < nd; i++ {
				v := oc[i]*win.s[i] - win.pb[i] + kidx[i]*win.d[i]
				if v < 0 || v >= win.in[i] {
					ok = false
					break
				}
				idx = idx*win.in[i] + v
			}
			if ok {
				dst[pos] = xc[idx]
			} else {
				dst[pos] = 0
			}
			for i := nd - 1; i >= 0; i-- {
				if oc[i]++; oc[i] < win.out[i] {
					break
				}
				oc[i] = 0
			}
		}
	}
}

// depthwise convolves each channel with its own filters (group == C, any
// channel multiplier M/C), directly on the planes: no unfolding.
func (p *convProblem[F]) depthwise(dt tensor.DType, d *conv2d) error {
	mult := p.m / p.c
	planes := p.n * p.m
	flat := dt == tensor.Float32 && d.kh == 3 && d.kw == 3 && d.sh == d.sw && (d.sw == 1 || d.sw == 2) &&
		d.dh == 1 && d.dw == 1 && p.act.isClamp()
	var plan *dwPlan
	if flat {
		plan = newDWPlan(d)
	}
	if plan != nil {
		lo, hi := p.act.clampRange()
		forChunks(p.ctx, planes, 1, func(_, lo_, hi_ int) {
			x32, y32, w32 := any(p.x).([]float32), any(p.y).([]float32), any(p.w).([]float32)
			for pl := lo_; pl < hi_; pl++ {
				n, m := pl/p.m, pl%p.m
				ch := m / mult
				var b float32
				if p.bias != nil {
					b = float32(p.bias[m])
				}
				plan.run(x32[(n*p.c+ch)*p.inSize:(n*p.c+ch+1)*p.inSize], (*[9]float32)(w32[m*9:m*9+9]),
					y32[pl*p.outSize:(pl+1)*p.outSize], b, lo, hi)
			}
		})
		return nil
	}
	var scratch []F
	var per int
	if flat {
		per = dwFlatScratch(d)
		t, err := p.ctx.Alloc(dt, []int{numChunks(p.ctx, planes, 1), per})
		if err != nil {
			return err
		}
		scratch = t.Data.([]F)
	}
	forChunks(p.ctx, planes, 1, func(wk, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			n, m := pl/p.m, pl%p.m
			ch := m / mult
			var b F
			if p.bias != nil {
				b = p.bias[m]
			}
			xs := p.x[(n*p.c+ch)*p.inSize : (n*p.c+ch+1)*p.inSize]
			ys := p.y[pl*p.outSize : (pl+1)*p.outSize]
			ws := p.w[m*p.kk : (m+1)*p.kk]
			if flat {
				lo, hi := p.act.clampRange()
				dwPadded3x3(any(xs).([]float32), (*[9]float32)(any(ws).([]float32)), any(ys).([]float32), d,
					float32(b), lo, hi, any(scratch[wk*per:(wk+1)*per]).([]float32))
				continue
			}
			depthwisePlane(xs, ws, ys, d, b, p.act)
		}
	})
	return nil
}

// dwFlatScratch is the scratch size of dwPadded3x3: the zero-padded input
// (rows of the taps of every output, plus slack for the vector loads) and,
// for stride 1, the flat output.
func dwFlatScratch(d *conv2d) int {
	if d.sw == 1 {
		wp := d.ow + 2
		return (d.oh+2)*wp + 8 + d.oh*wp
	}
	return (2*d.oh+1)*(2*d.ow+1) + 8
}

// dwPadded3x3 is the float32 3×3 depthwise plane for strides 1 and 2. The
// input is copied into a zero-padded buffer holding exactly the taps of the
// outputs, so the vector row kernels never meet a border. With stride 1 the
// rows of the buffer (length ow+2) are contiguous runs of one long row, and
// a single kernel call computes the whole plane (two junk columns per row,
// dropped when copying out).
func dwPadded3x3(x []float32, w *[9]float32, y []float32, d *conv2d, bias, lo, hi float32, scratch []float32) {
	s := d.sw
	wp, hp := s*(d.ow-1)+3, s*(d.oh-1)+3
	pad := scratch[:hp*wp+8]
	// padded (r, c) holds input (r - ph, c - pw); only the padding is cleared
	c0, c1 := max(0, d.pw), min(wp, d.w+d.pw)
	for r := 0; r < hp; r++ {
		row := pad[r*wp : (r+1)*wp]
		if ih := r - d.ph; ih >= 0 && ih < d.h && c0 < c1 {
			clear(row[:c0])
			copy(row[c0:c1], x[ih*d.w+c0-d.pw:ih*d.w+c1-d.pw])
			clear(row[c1:])
		} else {
			clear(row)
		}
	}
	clear(pad[hp*wp:])
	if s == 2 {
		for oh := 0; oh < d.oh; oh++ {
			dwRow3s2F32(pad[2*oh*wp:], wp, w, y[oh*d.ow:(oh+1)*d.ow], bias, lo, hi)
		}
		return
	}
	if d.ow%8 == 0 { // rows of whole vectors: straight into y
		for oh := 0; oh < d.oh; oh++ {
			dwRow3s1F32(pad[oh*wp:], wp, w, y[oh*d.ow:(oh+1)*d.ow], bias, lo, hi)
		}
		return
	}
	z := scratch[len(pad) : len(pad)+d.oh*wp]
	dwRow3s1F32(pad, wp, w, z, bias, lo, hi)
	for oh := 0; oh < d.oh; oh++ {
		copy(y[oh*d.ow:(oh+1)*d.ow], z[oh*wp:oh*wp+d.ow])
	}
}

// depthwisePlane convolves one h×w plane with one kh×kw filter into y
// (oh×ow, zeroed), then adds the bias and applies the activation.
func depthwisePlane[F float](x, wk, y []F, d *conv2d, bias F, act Activation) {
	if d.kh == 3 && d.kw == 3 && d.dh == 1 && d.dw == 1 && (d.sw == 1 || d.sw == 2) {
		lo, hi := act.clampRange()
		depthwise3x3(x, wk, y, d, bias, F(lo), F(hi))
		if !act.isClamp() {
			biasAct(y, 0, act)
		}
		return
	}
	for oh := 0; oh < d.oh; oh++ {
		row := y[oh*d.ow : (oh+1)*d.ow]
		ih0 := oh*d.sh - d.ph
		kiLo, kiHi := validRange(ih0, d.kh, d.dh, d.h)
		for ki := kiLo; ki < kiHi; ki++ {
			ih := ih0 + ki*d.dh
			xrow := x[ih*d.w : (ih+1)*d.w]
			for kj := 0; kj < d.kw; kj++ {
				wv := wk[ki*d.kw+kj]
				off := kj*d.dw - d.pw
				lo, hi := outRange(off, d.sw, d.w, d.ow)
				if d.sw == 1 {
					axpy(row[lo:hi], xrow[lo+off:hi+off], wv)
				} else {
					for o := lo; o < hi; o++ {
						row[o] += wv * xrow[o*d.sw+off]
					}
				}
			}
		}
		biasAct(row, bias, act)
	}
}

// axpy computes y += a*x.
func axpy[F float](y, x []F, a F) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// depthwise3x3 is depthwisePlane for the 3×3, undilated, stride-1 or -2
// filters of mobile networks, with the bias and a clamp to [lo, hi] fused
// into the store. Interior outputs (all nine taps inside the input) take a
// loop without bounds tests; the border goes through depthwiseAt.
func depthwise3x3[F float](x, wk, y []F, d *conv2d, bias, lo, hi F) {
	w := (*[9]F)(wk[:9])
	// Interior columns: all three taps inside the row.
	cLo, cHi := outRange(-d.pw, d.sw, d.w, d.ow)
	c2lo, c2hi := outRange(2-d.pw, d.sw, d.w, d.ow)
	cLo, cHi = max(cLo, c2lo), min(cHi, c2hi)
	if cHi < cLo {
		cHi = cLo
	}
	for oh := 0; oh < d.oh; oh++ {
		row := y[oh*d.ow : (oh+1)*d.ow]
		ih0 := oh*d.sh - d.ph
		if ih0 < 0 || ih0+2 >= d.h || cLo >= cHi {
			for o := range row {
				row[o] = clamp(depthwiseAt(x, w, d, ih0, o)+bias, lo, hi)
			}
			continue
		}
		for o := 0; o < cLo; o++ {
			row[o] = clamp(depthwiseAt(x, w, d, ih0, o)+bias, lo, hi)
		}
		for o := cHi; o < d.ow; o++ {
			row[o] = clamp(depthwiseAt(x, w, d, ih0, o)+bias, lo, hi)
		}
		base := ih0*d.w + cLo*d.sw - d.pw
		seg := row[cLo:cHi]
		if d.sw != 1 {
			dwRow3s2(x[base:], d.w, w, seg, bias, lo, hi)
		} else if x32, ok := any(x).([]float32); ok {
			dwRow3s1F32(x32[base:], d.w, any(w).(*[9]float32), any(seg).([]float32),
				float32(bias), float32(lo), float32(hi))
		} else {
			dwRow3s1(x[base:], d.w, w, seg, bias, lo, hi)
		}
	}
}

// dwRow3s1 computes len(y) stride-1 outputs from the three input rows
// starting at x[0], x[ld], x[2ld], sliding the window along in registers.
func dwRow3s1[F float](x []F, ld int, w *[9]F, y []F, bias, lo, hi F) {
	n := len(y)
	p0, q0, p1, q1, p2, q2 := x[0], x[1], x[ld], x[ld+1], x[2*ld], x[2*ld+1]
	// b_r[i] is the newest tap of output i in row r
	b0, b1, b2 := x[2:2+n], x[ld+2:ld+2+n], x[2*ld+2:2*ld+2+n]
	b0, b1, b2 = b0[:len(y)], b1[:len(y)], b2[:len(y)]
	for i := range y {
		r0, r1, r2 := b0[i], b1[i], b2[i]
		s := w[0]*p0 + w[1]*q0 + w[2]*r0 + w[3]*p1 + w[4]*q1 + w[5]*r1 + w[6]*p2 + w[7]*q2 + w[8]*r2
		y[i] = clamp(s+bias, lo, hi)
		p0, q0, p1, q1, p2, q2 = q0, r0, q1, r1, q2, r2
	}
}

// dwRow3s2 is dwRow3s1 with stride 2.
func dwRow3s2[F float](x []F, ld int, w *[9]F, y []F, bias, lo, hi F) {
	n := len(y)
	a0, a1, a2 := x[:2*n+1], x[ld:ld+2*n+1], x[2*ld:2*ld+2*n+1]
	p0, p1, p2 := a0[0], a1[0], a2[0]
	for i := range y {
		j := 2 * i
		q0, r0 := a0[j+1], a0[j+2]
		q1, r1 := a1[j+1], a1[j+2]
		q2, r2 := a2[j+1], a2[j+2]
		s := w[0]*p0 + w[1]*q0 + w[2]*r0 + w[3]*p1 + w[4]*q1 + w[5]*r1 + w[6]*p2 + w[7]*q2 + w[8]*r2
		y[i] = clamp(s+bias, lo, hi)
		p0, p1, p2 = r0, r1, r2
	}
}

// depthwiseAt computes output column o of the row whose window starts at
// input row ih0, skipping taps outside the input.
func depthwiseAt[F float](x []F, w *[9]F, d *conv2d, ih0, o int) F {
	var s F
	iw0 := o*d.sw - d.pw
	for ki := 0; ki < 3; ki++ {
		ih := ih0 + ki
		if ih < 0 || ih >= d.h {
			continue
		}
		for kj := 0; kj < 3; kj++ {
			if iw := iw0 + kj; iw >= 0 && iw < d.w {
				s += w[ki*3+kj] * x[ih*d.w+iw]
			}
		}
	}
	return s
}
