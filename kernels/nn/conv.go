package nn

import (
	"fmt"

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
	w      any             // constant weights as []float32 or []float64, or nil
	packed []*gemm.PackedA // per group, for constant float32 weights
	bias   any             // constant bias, or nil
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
	k := &convKernel{g: g, group: int(b.Attrs().Int("group", 1))}
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
		if wf, ok := k.w.([]float32); ok && !isDepthwise(w.Shape[1], k.group) {
			mg, kdim := w.Shape[0]/k.group, prod(w.Shape[1:])
			for gi := 0; gi < k.group; gi++ {
				k.packed = append(k.packed, gemm.PackA(false, mg, kdim, wf[gi*mg*kdim:(gi+1)*mg*kdim], kdim))
			}
		}
	}
	if b.HasInput(2) {
		k.bias = constAs(b, 2)
	}
	return k, nil
}

// isDepthwise reports a convolution of each channel on its own (C/group =
// 1, group = C > 1), computed directly rather than as a product.
func isDepthwise(cg, group int) bool { return cg == 1 && group > 1 }

func (k *convKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	switch dt := in[0].DType; dt {
	case tensor.Float32:
		return convRun[float32](ctx, k, in, out)
	case tensor.Float64:
		return convRun[float64](ctx, k, in, out)
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

// convShapes checks X and W and returns (N, C, M, C/group).
func convShapes(x, w *tensor.Tensor, group int) (n, c, m, cg int, err error) {
	if len(x.Shape) < 3 {
		return 0, 0, 0, 0, fmt.Errorf("X must have rank >= 3, has shape %v", x.Shape)
	}
	if len(w.Shape) != len(x.Shape) {
		return 0, 0, 0, 0, fmt.Errorf("W shape %v does not match X shape %v", w.Shape, x.Shape)
	}
	n, c, m, cg = x.Shape[0], x.Shape[1], w.Shape[0], w.Shape[1]
	if cg*group != c {
		return 0, 0, 0, 0, fmt.Errorf("X has %d channels, W expects %d×group %d", c, cg, group)
	}
	if m%group != 0 {
		return 0, 0, 0, 0, fmt.Errorf("W has %d output channels, not a multiple of group %d", m, group)
	}
	return n, c, m, cg, nil
}

func convRun[F float](ctx *kernels.Ctx, k *convKernel, in, out []*tensor.Tensor) error {
	x, w := in[0], in[1]
	n, c, m, cg, err := convShapes(x, w, k.group)
	if err != nil {
		return err
	}
	kernel := w.Shape[2:]
	if k.g.kernel != nil && !tensor.EqualShapes(k.g.kernel, kernel) {
		return fmt.Errorf("kernel_shape %v does not match W shape %v", k.g.kernel, w.Shape)
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
	if len(in) > 2 && in[2] != nil {
		if in[2].Len() != m {
			return fmt.Errorf("B has %d elements, want %d", in[2].Len(), m)
		}
		if bias, err = paramData[F](k.bias, in[2], "B"); err != nil {
			return err
		}
	}
	y, err := ctx.Alloc(x.DType, append([]int{n, m}, win.out...))
	if err != nil {
		return err
	}
	out[0] = y
	p := convProblem[F]{ctx: ctx, x: xd, w: wd, bias: bias, y: y.Data.([]F), n: n, c: c, m: m,
		cg: cg, group: k.group, win: win, act: k.act}
	if _, ok := k.w.([]F); ok { // packed weights are those of k.w
		p.packed = k.packed
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
	d2, is2d := to2d(win)
	switch {
	case is2d && isDepthwise(cg, k.group):
		return p.depthwise(x.DType, &d2)
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

// convProblem is one Conv evaluation: flat data and sizes.
type convProblem[F float] struct {
	ctx           *kernels.Ctx
	x, w, bias, y []F
	packed        []*gemm.PackedA
	n, c, m, cg   int
	group         int
	win           window
	act           Activation
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
		opt := gemm.Options{Parallel: p.ctx.Parallel}
		e, fused := gemmEpilogue(p.act)
		if p.bias != nil {
			e.RowBias = any(p.bias).([]float32)[g*mg : (g+1)*mg]
		}
		opt.Epilogue = e
		bb, cc := any(b).([]float32), any(c).([]float32)
		if p.packed != nil {
			gemm.SgemmPackedA(mg, nn, kdim, 1, p.packed[g], false, bb, ldb, 0, cc, p.outSize, &opt)
		} else {
			gemm.SgemmEx(false, false, mg, nn, kdim, 1, w[g*mg*kdim:], kdim, bb, ldb, 0, cc, p.outSize, &opt)
		}
		if !fused {
			p.epilogue(n, g*mg, mg, j0, j1, false)
		}
		return
	}
	parallelGemm(p.ctx, false, false, mg, nn, kdim, 1, p.w[g*mg*kdim:], kdim, b, ldb, 0, c, p.outSize)
	p.epilogue(n, g*mg, mg, j0, j1, true)
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

// im2colGemm is the general path: for each image, group and tile of output
// positions, unfold the input patches into a (C/g·Πk) × tile matrix and
// multiply by the weights. Tiles bound the scratch space (about 1 MiB: the
// runtime holds scratch until the end of the run).
func (p *convProblem[F]) im2colGemm(dt tensor.DType, d2 *conv2d, is2d bool) error {
	kdim := p.cg * p.kk
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
						im2col2d(xs, d2, lo, hi, j0, j1, col)
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
// row r is channel, tap (ki, kj)) for output positions [j0, j1) into col
// (row stride j1-j0).
func im2col2d[F float](x []F, p *conv2d, r0, r1, j0, j1 int, col []F) {
	nn := j1 - j0
	plane := p.h * p.w
	kk := p.kh * p.kw
	for r := r0; r < r1; r++ {
		c, ki, kj := r/kk, r%kk/p.kw, r%p.kw
		xc := x[c*plane : (c+1)*plane]
		dst := col[r*nn : (r+1)*nn]
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
			} else {
				s := seg[a-ow : b-ow]
				for i := range s {
					s[i] = xrow[(a+i)*p.sw+off]
				}
			}
		}
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
