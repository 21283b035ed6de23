package image

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	for _, v := range []int64{10, 11, 13, 18, 19} {
		kernels.Register("", "Resize", v, buildResize)
	}
	for _, v := range []int64{7, 9} {
		kernels.Register("", "Upsample", v, buildUpsample)
	}
}

// Interpolation modes.
const (
	modeNearest = iota
	modeLinear
	modeCubic
)

// Coordinate transformation modes.
const (
	ctmHalfPixel = iota
	ctmHalfPixelSymmetric
	ctmPytorchHalfPixel
	ctmAlignCorners
	ctmAsymmetric
	ctmTFHalfPixelForNN
	ctmTFCropAndResize
)

// Nearest rounding modes; nearestSimple is the pre-opset-11 rule (floor
// when upsampling, ceil when downsampling).
const (
	nearestRoundPreferFloor = iota
	nearestRoundPreferCeil
	nearestFloor
	nearestCeil
	nearestSimple
)

// Aspect-ratio policies for sizes.
const (
	aspectStretch = iota
	aspectNotLarger
	aspectNotSmaller
)

var (
	modeNames    = map[string]int{"nearest": modeNearest, "linear": modeLinear, "bilinear": modeLinear, "cubic": modeCubic}
	ctmNames     = map[string]int{"half_pixel": ctmHalfPixel, "half_pixel_symmetric": ctmHalfPixelSymmetric, "pytorch_half_pixel": ctmPytorchHalfPixel, "align_corners": ctmAlignCorners, "asymmetric": ctmAsymmetric, "tf_half_pixel_for_nn": ctmTFHalfPixelForNN, "tf_crop_and_resize": ctmTFCropAndResize}
	nearestNames = map[string]int{"round_prefer_floor": nearestRoundPreferFloor, "round_prefer_ceil": nearestRoundPreferCeil, "floor": nearestFloor, "ceil": nearestCeil}
	aspectNames  = map[string]int{"stretch": aspectStretch, "not_larger": aspectNotLarger, "not_smaller": aspectNotSmaller}
)

// resize is a compiled Resize or Upsample node.
type resize struct {
	op             string
	legacy         bool // Resize-10 and Upsample: inputs (X, scales), asymmetric
	scalesAttr     []float32
	mode           int
	ctm            int
	nearest        int
	cubicA         float64
	excludeOutside bool
	extrapolation  float32
	antialias      bool
	axes           []int64 // nil: all axes
	aspect         int
	// fixed is the plan when the input shape and the scales/sizes/roi are
	// compile-time constants.
	fixed *resizePlan
}

func lookupName(b *kernels.BuildContext, attr, def string, names map[string]int) (int, error) {
	s := b.Attrs().String(attr, def)
	v, ok := names[s]
	if !ok {
		return 0, kernels.Unsupported(b.Node.OpType, "%s %q", attr, s)
	}
	return v, nil
}

func buildResize(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &resize{op: "Resize", legacy: b.Opset < 11}
	var err error
	if k.mode, err = lookupName(b, "mode", "nearest", modeNames); err != nil {
		return nil, err
	}
	if k.legacy {
		if k.mode == modeCubic {
			return nil, b.Errorf("mode cubic needs opset 11")
		}
		k.ctm, k.nearest = ctmAsymmetric, nearestSimple
	} else {
		if k.ctm, err = lookupName(b, "coordinate_transformation_mode", "half_pixel", ctmNames); err != nil {
			return nil, err
		}
		if k.nearest, err = lookupName(b, "nearest_mode", "round_prefer_floor", nearestNames); err != nil {
			return nil, err
		}
		if k.aspect, err = lookupName(b, "keep_aspect_ratio_policy", "stretch", aspectNames); err != nil {
			return nil, err
		}
	}
	k.cubicA = float64(a.Float("cubic_coeff_a", -0.75))
	k.excludeOutside = a.Int("exclude_outside", 0) != 0
	k.extrapolation = a.Float("extrapolation_value", 0)
	k.antialias = a.Int("antialias", 0) != 0 && k.mode != modeNearest
	k.axes = a.Ints("axes", nil)
	if len(b.Inputs) < 1 {
		return nil, b.Errorf("needs an input")
	}
	return k.prepare(b)
}

func buildUpsample(b *kernels.BuildContext) (kernels.Kernel, error) {
	k := &resize{op: "Upsample", legacy: true, ctm: ctmAsymmetric, nearest: nearestSimple, cubicA: -0.75}
	var err error
	if k.mode, err = lookupName(b, "mode", "nearest", modeNames); err != nil {
		return nil, err
	}
	if k.mode == modeCubic {
		return nil, kernels.Unsupported("Upsample", "mode cubic")
	}
	if b.Opset < 9 {
		if k.scalesAttr = b.Attrs().Floats("scales", nil); k.scalesAttr == nil {
			return nil, b.Errorf("missing scales attribute")
		}
	}
	return k.prepare(b)
}

// prepare precomputes the plan when everything it depends on is constant.
func (k *resize) prepare(b *kernels.BuildContext) (kernels.Kernel, error) {
	shape := b.Inputs[0].Shape
	if shape == nil {
		return k, nil
	}
	for _, d := range shape {
		if d < 0 {
			return k, nil
		}
	}
	consts := make([]*tensor.Tensor, len(b.Inputs))
	for i := 1; i < len(b.Inputs); i++ {
		if b.Inputs[i].Present {
			if b.Inputs[i].Const == nil {
				return k, nil
			}
			consts[i] = b.Inputs[i].Const
		}
	}
	p, err := k.plan(shape, consts)
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	k.fixed = p
	return k, nil
}

// axisTaps resamples one axis: output coordinate x reads input indices
// idx[x*n : x*n+n] with weights w[...], or the extrapolation value when
// extrap[x] is set.
type axisTaps struct {
	axis    int
	in, out int
	n       int
	idx     []int32
	w       []float32
	extrap  []bool
	per     *periodic // set for 2-tap integer upscaling
}

// periodic describes the 2-tap table of an integer upscale by f: output
// f·j+r reads inputs j+off[r] and j+off[r]+1 with weights w0[r] and w1[r]
// for every j with reg[j] set (all but the clamped edges). Sampling then
// needs no index or weight loads per output.
type periodic struct {
	f      int
	off    []int
	w0, w1 []float32
	reg    []bool
}

// findPeriodic sets t.per when t is a 2-tap integer upscale.
func (t *axisTaps) findPeriodic() {
	if t.n != 2 || t.extrap != nil || t.in < 4 || t.out%t.in != 0 || t.out/t.in < 2 {
		return
	}
	f := t.out / t.in
	p := &periodic{f: f, off: make([]int, f), w0: make([]float32, f), w1: make([]float32, f), reg: make([]bool, t.in)}
	j0 := t.in / 2
	for r := 0; r < f; r++ {
		x := f*j0 + r
		p.off[r] = int(t.idx[2*x]) - j0
		p.w0[r], p.w1[r] = t.w[2*x], t.w[2*x+1]
	}
	count := 0
	for j := range p.reg {
		ok := true
		for r := 0; r < f && ok; r++ {
			x, b := f*j+r, j+p.off[r]
			ok = int(t.idx[2*x]) == b && int(t.idx[2*x+1]) == b+1 && t.w[2*x] == p.w0[r] && t.w[2*x+1] == p.w1[r]
		}
		p.reg[j] = ok
		if ok {
			count++
		}
	}
	if count >= t.in/2 {
		t.per = p
	}
}

// resizePlan is everything Run needs for one input shape.
type resizePlan struct {
	inShape, outShape []int
	taps              []*axisTaps // resampled axes, innermost first
}

// inputs returns (roi, scales, sizes) of a node's inputs, treating empty
// tensors as absent.
func (k *resize) inputs(in []*tensor.Tensor) (roi, scales, sizes *tensor.Tensor) {
	nonEmpty := func(i int) *tensor.Tensor {
		if t := optional(in, i); t != nil && t.Len() > 0 {
			return t
		}
		return nil
	}
	if k.legacy {
		return nil, nonEmpty(1), nil
	}
	return nonEmpty(1), nonEmpty(2), nonEmpty(3)
}

// plan computes output shape and tap tables, following the ONNX reference.
func (k *resize) plan(inShape []int, in []*tensor.Tensor) (*resizePlan, error) {
	r := len(inShape)
	roiT, scalesT, sizesT := k.inputs(in)
	// Axes the scales/sizes/roi refer to.
	axes := make([]int, 0, r)
	if k.axes != nil {
		seen := make([]bool, r)
		for _, a := range k.axes {
			if a < 0 {
				a += int64(r)
			}
			if a < 0 || a >= int64(r) || seen[a] {
				return nil, fmt.Errorf("invalid axes %v for rank %d", k.axes, r)
			}
			seen[a] = true
			axes = append(axes, int(a))
		}
	} else {
		for i := 0; i < r; i++ {
			axes = append(axes, i)
		}
	}
	scale := make([]float64, r)
	out := make([]int, r)
	for i := range scale {
		scale[i], out[i] = 1, inShape[i]
	}
	var scalesV []float64
	switch {
	case k.scalesAttr != nil:
		for _, s := range k.scalesAttr {
			scalesV = append(scalesV, float64(s))
		}
	case scalesT != nil:
		scalesV = floats(scalesT)
	}
	switch {
	case scalesV != nil && sizesT != nil:
		return nil, fmt.Errorf("only one of scales and sizes may be given")
	case scalesV != nil:
		if len(scalesV) != len(axes) {
			return nil, fmt.Errorf("%d scales for %d axes", len(scalesV), len(axes))
		}
		for i, a := range axes {
			s := scalesV[i]
			if !(s > 0) || math.IsInf(s, 0) {
				return nil, fmt.Errorf("scale %v must be positive and finite", s)
			}
			o := math.Floor(s * float64(inShape[a]))
			if o > float64(tensor.MaxElements) {
				return nil, fmt.Errorf("%w: output dim %v", tensor.ErrTooLarge, o)
			}
			scale[a], out[a] = s, int(o)
		}
	case sizesT != nil:
		sizes := sizesT.Int64Values()
		if len(sizes) != len(axes) {
			return nil, fmt.Errorf("%d sizes for %d axes", len(sizes), len(axes))
		}
		for i, a := range axes {
			if sizes[i] < 0 || sizes[i] > int64(tensor.MaxElements) {
				return nil, fmt.Errorf("invalid size %d", sizes[i])
			}
			if inShape[a] == 0 {
				if sizes[i] != 0 {
					return nil, fmt.Errorf("cannot resize an empty axis to %d", sizes[i])
				}
				continue
			}
			out[a] = int(sizes[i])
			scale[a] = float64(sizes[i]) / float64(inShape[a])
		}
		if k.aspect != aspectStretch {
			s := scale[axes[0]]
			for _, a := range axes[1:] {
				if k.aspect == aspectNotLarger {
					s = math.Min(s, scale[a])
				} else {
					s = math.Max(s, scale[a])
				}
			}
			for _, a := range axes {
				scale[a] = s
				out[a] = int(s*float64(inShape[a]) + 0.5)
			}
		}
	default:
		return nil, fmt.Errorf("one of scales and sizes is required")
	}
	if _, err := tensor.NumElements(out); err != nil {
		return nil, err
	}
	// Full-rank roi: starts then ends.
	roi := make([]float64, 2*r)
	for i := 0; i < r; i++ {
		roi[r+i] = 1
	}
	if roiT != nil && k.ctm == ctmTFCropAndResize {
		v := floats(roiT)
		if len(v) != 2*len(axes) {
			return nil, fmt.Errorf("roi has %d values, want %d", len(v), 2*len(axes))
		}
		for i, a := range axes {
			roi[a], roi[r+a] = v[i], v[len(axes)+i]
		}
	}
	p := &resizePlan{inShape: append([]int{}, inShape...), outShape: out}
	for a := r - 1; a >= 0; a-- {
		if out[a] == inShape[a] && scale[a] == 1 && k.ctm != ctmTFCropAndResize {
			continue
		}
		t, err := k.axisTaps(a, inShape[a], out[a], scale[a], roi[a], roi[r+a])
		if err != nil {
			return nil, err
		}
		p.taps = append(p.taps, t)
	}
	return p, nil
}

// origin maps output coordinate x to the input coordinate; ok is false
// when tf_crop_and_resize puts it outside the input (extrapolate).
func (k *resize) origin(x, in, out int, scale, roiStart, roiEnd float64) (float64, bool) {
	fx, fin := float64(x), float64(in)
	outW := scale * fin
	switch k.ctm {
	case ctmAlignCorners:
		if outW == 1 {
			return 0, true
		}
		return fx * (fin - 1) / (outW - 1), true
	case ctmAsymmetric:
		return fx / scale, true
	case ctmTFCropAndResize:
		var xo float64
		if outW == 1 {
			xo = (roiEnd - roiStart) * (fin - 1) / 2
		} else {
			xo = fx * (roiEnd - roiStart) * (fin - 1) / (outW - 1)
		}
		xo += roiStart * (fin - 1)
		return xo, xo >= 0 && xo <= fin-1
	case ctmPytorchHalfPixel:
		if outW == 1 {
			return -0.5, true
		}
		return (fx+0.5)/scale - 0.5, true
	case ctmHalfPixelSymmetric:
		adj := float64(out) / outW
		off := fin / 2 * (1 - adj)
		return off + (fx+0.5)/scale - 0.5, true
	case ctmTFHalfPixelForNN:
		return (fx + 0.5) / scale, true
	}
	return (fx+0.5)/scale - 0.5, true
}

// axisTaps builds the tap table of one axis.
func (k *resize) axisTaps(axis, in, out int, scale, roiStart, roiEnd float64) (*axisTaps, error) {
	// Filter footprint: n taps starting at offset start from the base index.
	n, start := 1, 0
	s := math.Min(scale, 1)
	switch {
	case k.mode == modeLinear && k.antialias:
		start = int(math.Floor(-1/s)) + 1
		n = 2 - 2*start
	case k.mode == modeLinear:
		n = 2
	case k.mode == modeCubic && k.antialias:
		start = int(math.Floor(-2/s)) + 1
		n = 2 - 2*start
	case k.mode == modeCubic:
		n, start = 4, -1
	}
	if in == 0 && out > 0 {
		return nil, fmt.Errorf("cannot resize an empty axis")
	}
	if total, err := tensor.NumElements([]int{out, n}); err != nil || total > tensor.MaxElements/4 {
		return nil, fmt.Errorf("resize filter too large (%d outputs × %d taps)", out, n)
	}
	t := &axisTaps{axis: axis, in: in, out: out, n: n, idx: make([]int32, out*n), w: make([]float32, out*n)}
	coeffs := make([]float64, n)
	for x := 0; x < out; x++ {
		xo, ok := k.origin(x, in, out, scale, roiStart, roiEnd)
		if !ok {
			if t.extrap == nil {
				t.extrap = make([]bool, out)
			}
			t.extrap[x] = true
			continue
		}
		// base and ratio in (0, 1]: the reference prefers the left pixel.
		base := math.Floor(xo)
		ratio := xo - base
		if ratio == 0 {
			ratio, base = 1, base-1
		}
		if math.IsNaN(xo) || math.Abs(base) > 1<<30 {
			return nil, fmt.Errorf("resize coordinate %v out of range", xo)
		}
		b := int(base)
		idx, w := t.idx[x*n:(x+1)*n], t.w[x*n:(x+1)*n]
		if k.mode == modeNearest {
			pick := b + 1
			switch k.nearest {
			case nearestRoundPreferFloor:
				if ratio <= 0.5 {
					pick = b
				}
			case nearestRoundPreferCeil:
				if ratio < 0.5 {
					pick = b
				}
			case nearestFloor:
				if ratio != 1 {
					pick = b
				}
			case nearestSimple:
				if ratio != 1 && scale >= 1 {
					pick = b
				}
			}
			idx[0], w[0] = int32(clampInt(pick, 0, in-1)), 1
			continue
		}
		k.coefficients(coeffs, ratio, s, start)
		if k.excludeOutside {
			var sum float64
			for i := range coeffs {
				if j := b + start + i; j < 0 || j >= in {
					coeffs[i] = 0
				}
				sum += coeffs[i]
			}
			if sum != 0 {
				for i := range coeffs {
					coeffs[i] /= sum
				}
			}
		}
		for i := range coeffs {
			idx[i] = int32(clampInt(b+start+i, 0, in-1))
			w[i] = float32(coeffs[i])
		}
	}
	t.findPeriodic()
	return t, nil
}

// coefficients fills c with the filter weights for fractional offset
// ratio; s is min(scale, 1) and start the first tap's offset.
func (k *resize) coefficients(c []float64, ratio, s float64, start int) {
	A := k.cubicA
	cubic := func(x float64) float64 {
		x = math.Abs(x)
		switch {
		case x <= 1:
			return ((A+2)*x-(A+3))*x*x + 1
		case x < 2:
			return ((A*x-5*A)*x+8*A)*x - 4*A
		}
		return 0
	}
	switch {
	case k.mode == modeLinear && !k.antialias:
		c[0], c[1] = 1-ratio, ratio
		return
	case k.mode == modeCubic && !k.antialias:
		c[0], c[1], c[2], c[3] = cubic(ratio+1), cubic(ratio), cubic(1-ratio), cubic(2-ratio)
		return
	}
	var sum float64
	for i := range c {
		x := s * (float64(start+i) - ratio)
		if k.mode == modeLinear {
			c[i] = math.Max(0, math.Min(1, 1-math.Abs(x)))
		} else {
			c[i] = cubic(x)
		}
		sum += c[i]
	}
	for i := range c {
		c[i] /= sum
	}
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func (k *resize) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	p := k.fixed
	if p == nil || !tensor.EqualShapes(p.inShape, x.Shape) {
		var err error
		if p, err = k.plan(x.Shape, in); err != nil {
			return err
		}
	}
	y, err := ctx.Alloc(x.DType, p.outShape)
	if err != nil {
		return err
	}
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	if len(p.taps) == 0 {
		tensor.CopyData(y.Data, x.Data)
		return nil
	}
	if k.mode == modeNearest {
		return k.gatherNearest(ctx, p, x, y)
	}
	if !isFloat(x.DType) {
		return kernels.Unsupported(k.op, "%s mode on dtype %v", map[int]string{modeLinear: "linear", modeCubic: "cubic"}[k.mode], x.DType)
	}
	src, err := f32(x)
	if err != nil {
		return err
	}
	shape := append([]int{}, p.inShape...)
	final := scratch(y)
	r := len(shape)
	if len(p.taps) == 2 && p.taps[0].axis == r-1 && p.taps[1].axis == r-2 {
		// The common image case (H and W of NCHW): both passes fused per
		// output row, with no intermediate tensor.
		k.pass2D(ctx, p.taps[1], p.taps[0], src, final, p.outShape)
		store(y, final)
		return nil
	}
	for i, t := range p.taps {
		shape[t.axis] = t.out
		var dst []float32
		if i == len(p.taps)-1 {
			dst = final
		} else {
			n, _ := tensor.NumElements(shape)
			dst = make([]float32, n)
		}
		k.pass(ctx, t, src, dst, shape)
		src = dst
	}
	store(y, final)
	return nil
}

// pass applies t along its axis; shape is the output shape of the pass.
func (k *resize) pass(ctx *kernels.Ctx, t *axisTaps, src, dst []float32, shape []int) {
	outer, inner := 1, 1
	for _, d := range shape[:t.axis] {
		outer *= d
	}
	for _, d := range shape[t.axis+1:] {
		inner *= d
	}
	n, ext := t.n, k.extrapolation
	if inner == 1 {
		// Last axis: one dot product per output element.
		ctx.Parallel(outer, max(1, 16384/max(t.out*n, 1)), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				d := dst[o*t.out : (o+1)*t.out]
				sampleRow(d, src[o*t.in:(o+1)*t.in], t)
				if t.extrap != nil {
					for x, e := range t.extrap {
						if e {
							d[x] = ext
						}
					}
				}
			}
		})
		return
	}
	// Inner axes: each output row is a weighted sum of input rows.
	ctx.Parallel(outer*t.out, max(1, 8192/(inner*n)), func(lo, hi int) {
		for ox := lo; ox < hi; ox++ {
			o, x := ox/t.out, ox%t.out
			d := dst[ox*inner : (ox+1)*inner]
			if t.extrap != nil && t.extrap[x] {
				for i := range d {
					d[i] = ext
				}
				continue
			}
			blendRows(d, src[o*t.in*inner:], inner, t.idx[x*n:(x+1)*n], t.w[x*n:(x+1)*n])
		}
	})
}

// blendRows sets d = Σ_j w[j]·row(idx[j]), rows of length len(d) taken
// from src with the given stride.
func blendRows(d, src []float32, stride int, idx []int32, w []float32) {
	if len(idx) == 2 {
		w0, w1 := w[0], w[1]
		r0 := src[int(idx[0])*stride:][:len(d)]
		r1 := src[int(idx[1])*stride:][:len(d)]
		for i := range d {
			d[i] = w0*r0[i] + w1*r1[i]
		}
		return
	}
	r0 := src[int(idx[0])*stride:][:len(d)]
	for i, v := range r0 {
		d[i] = w[0] * v
	}
	for j := 1; j < len(idx); j++ {
		if w[j] == 0 {
			continue
		}
		wj, r := w[j], src[int(idx[j])*stride:][:len(d)]
		for i := range d {
			d[i] += wj * r[i]
		}
	}
}

// sampleRow sets d[x] = Σ_k w[x·n+k]·s[idx[x·n+k]].
func sampleRow(d, s []float32, t *axisTaps) {
	n, idx, w := t.n, t.idx, t.w
	if p := t.per; p != nil {
		if p.f == 2 {
			o0, o1 := p.off[0], p.off[1]
			a0, a1, b0, b1 := p.w0[0], p.w1[0], p.w0[1], p.w1[1]
			for j, ok := range p.reg {
				if ok {
					d[2*j] = a0*s[j+o0] + a1*s[j+o0+1]
					d[2*j+1] = b0*s[j+o1] + b1*s[j+o1+1]
					continue
				}
				for x := 2 * j; x < 2*j+2; x++ {
					d[x] = w[2*x]*s[idx[2*x]] + w[2*x+1]*s[idx[2*x+1]]
				}
			}
			return
		}
		for j, ok := range p.reg {
			for r := 0; r < p.f; r++ {
				x := p.f*j + r
				if ok {
					b := j + p.off[r]
					d[x] = p.w0[r]*s[b] + p.w1[r]*s[b+1]
				} else {
					d[x] = w[2*x]*s[idx[2*x]] + w[2*x+1]*s[idx[2*x+1]]
				}
			}
		}
		return
	}
	if n == 2 {
		idx, w = idx[:2*len(d)], w[:2*len(d)]
		for x := range d {
			d[x] = w[2*x]*s[idx[2*x]] + w[2*x+1]*s[idx[2*x+1]]
		}
		return
	}
	for x := range d {
		var acc float32
		for j := x * n; j < (x+1)*n; j++ {
			acc += w[j] * s[idx[j]]
		}
		d[x] = acc
	}
}

// pass2D resamples the last two axes at once. Input rows are resampled
// along W once into a small cache (consecutive output rows share input
// rows), and each output row blends the cached rows it needs.
func (k *resize) pass2D(ctx *kernels.Ctx, th, tw *axisTaps, src, dst []float32, out []int) {
	planes := 1
	for _, d := range out[:len(out)-2] {
		planes *= d
	}
	ext := k.extrapolation
	ctx.Parallel(planes*th.out, max(1, 8192/(tw.out*tw.n)), func(lo, hi int) {
		c := newRowCache(th.n+1, tw.out)
		rows := make([][]float32, th.n)
		for py := lo; py < hi; py++ {
			p, y := py/th.out, py%th.out
			d := dst[py*tw.out : (py+1)*tw.out]
			if th.extrap != nil && th.extrap[y] {
				for i := range d {
					d[i] = ext
				}
				continue
			}
			idx, w := th.idx[y*th.n:(y+1)*th.n], th.w[y*th.n:(y+1)*th.n]
			for j, r := range idx {
				key := p*th.in + int(r)
				row, hit := c.get(key)
				if !hit {
					sampleRow(row, src[key*tw.in:(key+1)*tw.in], tw)
					if tw.extrap != nil {
						for x, e := range tw.extrap {
							if e {
								row[x] = ext
							}
						}
					}
				}
				rows[j] = row
			}
			if len(rows) == 2 {
				w0, w1 := w[0], w[1]
				r0, r1 := rows[0][:len(d)], rows[1][:len(d)]
				for i := range d {
					d[i] = w0*r0[i] + w1*r1[i]
				}
				continue
			}
			for i, v := range rows[0][:len(d)] {
				d[i] = w[0] * v
			}
			for j := 1; j < len(rows); j++ {
				wj, r := w[j], rows[j][:len(d)]
				for i := range d {
					d[i] += wj * r[i]
				}
			}
		}
	})
}

// rowCache keeps the most recently used resampled rows, keyed by their
// input row, for one worker.
type rowCache struct {
	keys []int
	used []int
	rows [][]float32
	tick int
}

func newRowCache(n, width int) *rowCache {
	c := &rowCache{keys: make([]int, n), used: make([]int, n), rows: make([][]float32, n)}
	for i := range c.keys {
		c.keys[i] = -1
		c.rows[i] = make([]float32, width)
	}
	return c
}

// get returns the row for key and whether it already holds that key's
// data; on a miss it recycles the least recently used slot. Rows handed
// out for one output row stay valid because the cache has a spare slot
// beyond the taps an output row needs.
func (c *rowCache) get(key int) ([]float32, bool) {
	c.tick++
	lru := 0
	for i, k := range c.keys {
		if k == key {
			c.used[i] = c.tick
			return c.rows[i], true
		}
		if c.used[i] < c.used[lru] {
			lru = i
		}
	}
	c.keys[lru], c.used[lru] = key, c.tick
	return c.rows[lru], false
}

// gatherNearest resizes in one gather over all axes, on the native dtype.
func (k *resize) gatherNearest(ctx *kernels.Ctx, p *resizePlan, x, y *tensor.Tensor) error {
	r := len(p.inShape)
	inStrides := tensor.Strides(p.inShape)
	// offs[a][i]: input offset of output coordinate i along axis a, or -1
	// to extrapolate.
	offs := make([][]int, r)
	for a := 0; a < r; a++ {
		offs[a] = make([]int, p.outShape[a])
		for i := range offs[a] {
			offs[a][i] = i * inStrides[a]
		}
	}
	for _, t := range p.taps {
		for i := range offs[t.axis] {
			if t.extrap != nil && t.extrap[i] {
				offs[t.axis][i] = -1
			} else {
				offs[t.axis][i] = int(t.idx[i]) * inStrides[t.axis]
			}
		}
	}
	switch d := y.Data.(type) {
	case []float32:
		gather(ctx, d, x.Data.([]float32), offs, p.outShape, k.extrapolation)
	case []float64:
		gather(ctx, d, x.Data.([]float64), offs, p.outShape, float64(k.extrapolation))
	case []uint16:
		var e uint16
		switch x.DType {
		case tensor.Float16:
			e = tensor.FloatToHalf(k.extrapolation)
		case tensor.BFloat16:
			e = tensor.FloatToBFloat16(k.extrapolation)
		default:
			e = uint16(k.extrapolation)
		}
		gather(ctx, d, x.Data.([]uint16), offs, p.outShape, e)
	case []int8:
		gather(ctx, d, x.Data.([]int8), offs, p.outShape, int8(k.extrapolation))
	case []uint8:
		gather(ctx, d, x.Data.([]uint8), offs, p.outShape, uint8(k.extrapolation))
	case []int16:
		gather(ctx, d, x.Data.([]int16), offs, p.outShape, int16(k.extrapolation))
	case []int32:
		gather(ctx, d, x.Data.([]int32), offs, p.outShape, int32(k.extrapolation))
	case []uint32:
		gather(ctx, d, x.Data.([]uint32), offs, p.outShape, uint32(k.extrapolation))
	case []int64:
		gather(ctx, d, x.Data.([]int64), offs, p.outShape, int64(k.extrapolation))
	case []uint64:
		gather(ctx, d, x.Data.([]uint64), offs, p.outShape, uint64(k.extrapolation))
	case []bool:
		gather(ctx, d, x.Data.([]bool), offs, p.outShape, k.extrapolation != 0)
	case []string:
		gather(ctx, d, x.Data.([]string), offs, p.outShape, "")
	default:
		return kernels.Unsupported(k.op, "dtype %v", x.DType)
	}
	return nil
}

// gather fills dst (shape out) with src elements at the summed per-axis
// offsets; a -1 offset on any axis selects fill.
func gather[T any](ctx *kernels.Ctx, dst, src []T, offs [][]int, out []int, fill T) {
	r := len(out)
	last := offs[r-1]
	w := out[r-1]
	rows := len(dst) / w
	lastExt := false
	for _, o := range last {
		lastExt = lastExt || o < 0
	}
	ctx.Parallel(rows, max(1, 4096/w), func(lo, hi int) {
		coord := make([]int, r-1)
		rem := lo
		for a := r - 2; a >= 0; a-- {
			coord[a] = rem % out[a]
			rem /= out[a]
		}
		prev := -1 // base of the previous row, to copy repeated rows
		for row := lo; row < hi; row++ {
			base, ext := 0, false
			for a := 0; a < r-1; a++ {
				o := offs[a][coord[a]]
				if o < 0 {
					ext = true
				}
				base += o
			}
			d := dst[row*w : (row+1)*w]
			switch {
			case ext:
				for i := range d {
					d[i] = fill
				}
				base = -1
			case base == prev:
				copy(d, dst[(row-1)*w:row*w])
			case lastExt:
				for i, o := range last {
					if o < 0 {
						d[i] = fill
					} else {
						d[i] = src[base+o]
					}
				}
			default:
				s := src[base:]
				for i, o := range last {
					d[i] = s[o]
				}
			}
			prev = base
			for a := r - 2; a >= 0; a-- {
				coord[a]++
				if coord[a] < out[a] {
					break
				}
				coord[a] = 0
			}
		}
	})
}
