package quant

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// convAttrs are a convolution's attributes as written in the node; missing
// lists are filled from the weight shape when the geometry is resolved.
type convAttrs struct {
	autoPad                             string
	group                               int
	kernel, strides, dilations, padding []int
}

func parseConvAttrs(a kernels.Attrs) (convAttrs, error) {
	c := convAttrs{
		autoPad:   a.String("auto_pad", "NOTSET"),
		group:     int(a.Int("group", 1)),
		kernel:    a.IntsAsInt("kernel_shape", nil),
		strides:   a.IntsAsInt("strides", nil),
		dilations: a.IntsAsInt("dilations", nil),
		padding:   a.IntsAsInt("pads", nil),
	}
	switch c.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "":
	default:
		return c, fmt.Errorf("unknown auto_pad %q", c.autoPad)
	}
	if c.group < 1 {
		return c, fmt.Errorf("group %d must be positive", c.group)
	}
	return c, nil
}

// convGeom is a convolution resolved against the input and weight shapes.
type convGeom struct {
	n, cin, cout, group int
	in, out, kernel     []int // spatial dims
	strides, dilations  []int
	padBegin            []int
	m, k                int // per group: output positions, patch length
	ng                  int // output channels per group
}

// resolve computes the output geometry; wShape is [M, C/group, k1, k2...].
func (c convAttrs) resolve(xShape, wShape []int) (*convGeom, error) {
	if len(xShape) < 3 {
		return nil, fmt.Errorf("input shape %v: need [N, C, spatial...]", xShape)
	}
	sp := len(xShape) - 2
	if len(wShape) != len(xShape) {
		return nil, fmt.Errorf("weight shape %v does not match input rank %d", wShape, len(xShape))
	}
	g := &convGeom{n: xShape[0], cin: xShape[1], cout: wShape[0], group: c.group, in: xShape[2:]}
	if g.cin != wShape[1]*c.group || g.cout%c.group != 0 {
		return nil, fmt.Errorf("input channels %d, weights %v and group %d do not agree", g.cin, wShape, c.group)
	}
	g.ng = g.cout / c.group
	g.kernel = wShape[2:]
	if c.kernel != nil && !tensor.EqualShapes(c.kernel, g.kernel) {
		return nil, fmt.Errorf("kernel_shape %v does not match weights %v", c.kernel, wShape)
	}
	ones := func(v []int, name string) ([]int, error) {
		if v == nil {
			v = make([]int, sp)
			for i := range v {
				v[i] = 1
			}
		}
		if len(v) != sp {
			return nil, fmt.Errorf("%s %v: need %d values", name, v, sp)
		}
		for _, x := range v {
			if x < 1 {
				return nil, fmt.Errorf("%s %v must be positive", name, v)
			}
		}
		return v, nil
	}
	var err error
	if g.strides, err = ones(c.strides, "strides"); err != nil {
		return nil, err
	}
	if g.dilations, err = ones(c.dilations, "dilations"); err != nil {
		return nil, err
	}
	pads := c.padding
	if pads == nil {
		pads = make([]int, 2*sp)
	}
	if len(pads) != 2*sp {
		return nil, fmt.Errorf("pads %v: need %d values", pads, 2*sp)
	}
	g.padBegin = make([]int, sp)
	g.out = make([]int, sp)
	for i := 0; i < sp; i++ {
		in, s := g.in[i], g.strides[i]
		ext := (g.kernel[i]-1)*g.dilations[i] + 1
		switch c.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out := (in + s - 1) / s
			total := max(0, (out-1)*s+ext-in)
			g.padBegin[i] = total / 2
			if c.autoPad == "SAME_LOWER" {
				g.padBegin[i] = total - total/2
			}
			g.out[i] = out
		case "VALID":
			if in < ext {
				return nil, fmt.Errorf("input %v smaller than kernel %v", g.in, g.kernel)
			}
			g.out[i] = (in-ext)/s + 1
		default:
			pb, pe := pads[i], pads[i+sp]
			if pb < 0 || pe < 0 {
				return nil, fmt.Errorf("negative pads %v", pads)
			}
			g.padBegin[i] = pb
			if in+pb+pe < ext {
				return nil, fmt.Errorf("padded input %v smaller than kernel %v", g.in, g.kernel)
			}
			g.out[i] = (in+pb+pe-ext)/s + 1
		}
	}
	g.m = product(g.out)
	g.k = wShape[1] * product(g.kernel)
	if _, err := tensor.NumElements([]int{g.m, g.k}); err != nil {
		return nil, err
	}
	return g, nil
}

// outShape is [N, M, out...].
func (g *convGeom) outShape() []int { return append([]int{g.n, g.cout}, g.out...) }

// packedConvWeights are a convolution's weights packed per group, as the
// B operand (patch × output channel) of the integer GEMM.
type packedConvWeights struct {
	shape []int
	b     []*PackedB
	// dw holds depthwise weights (one input channel per group, 1-D or 2-D)
	// as w − wZero, [M, kernel...]; such convolutions skip the GEMM.
	dw []int32
	// vn, if set, is the VNNI form of the weights (vnniconv.go), used
	// instead of b.
	vn *vnniConvW
	// dwv, if set, is the VNNI form of 3×3 depthwise weights
	// (vnnidw.go), used instead of dw when the geometry suits it.
	dwv *dwVNNIW
}

// packConvWeights packs weights [M, C/g, k...] with zero points wZero (none,
// one, or one per output channel) for group groups; words, if not nil,
// provides the storage.
func packConvWeights(w *tensor.Tensor, wZero []int32, group int, words []int64) (*packedConvWeights, error) {
	if w.Rank() < 3 || w.Shape[0]%group != 0 {
		return nil, fmt.Errorf("weight shape %v does not fit group %d", w.Shape, group)
	}
	if !is8bit(w.DType) {
		return nil, kernels.Unsupported("conv", "weight dtype %v", w.DType)
	}
	m := w.Shape[0]
	if len(wZero) > 1 && len(wZero) != m {
		return nil, fmt.Errorf("%d weight zero points for %d output channels", len(wZero), m)
	}
	ng, k := m/group, product(w.Shape[1:])
	p := &packedConvWeights{shape: append([]int{}, w.Shape...)}
	if w.Shape[1] == 1 && group > 1 && w.Rank() <= 4 {
		p.dw = make([]int32, w.Len())
		for i := range p.dw {
			var z int32
			if len(wZero) == 1 {
				z = wZero[0]
			} else if len(wZero) > 1 {
				z = wZero[i/k]
			}
			p.dw[i] = int32(w.Int64At(i)) - z
		}
		p.dwv = packDWVNNI(w, wZero)
		return p, nil
	}
	if words == nil {
		if p.vn = packVNNIConv(w, wZero, group); p.vn != nil {
			return p, nil
		}
	}
	p.b = make([]*PackedB, group)
	per := PackedWords(k, ng)
	if words == nil {
		words = make([]int64, per*group)
	}
	for g := 0; g < group; g++ {
		zg := wZero
		if len(wZero) > 1 {
			zg = wZero[g*ng : (g+1)*ng]
		}
		var err error
		switch wd := w.Data.(type) {
		case []int8:
			p.b[g], err = PackBInto(words[g*per:(g+1)*per], k, ng, wd[g*ng*k:], k, true, zg)
		case []uint8:
			p.b[g], err = PackBInto(words[g*per:(g+1)*per], k, ng, wd[g*ng*k:], k, true, zg)
		default:
			return nil, kernels.Unsupported("conv", "weight dtype %v", w.DType)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// runConv convolves the 8-bit input x (zero point xZero) with packed
// weights and writes y through the output stage. Each image and group is an
// im2row into scratch (positions × patch, padding with the zero point), one
// GEMM into int32 scratch, and a transposing output pass.
func runConv(ctx *kernels.Ctx, attrs convAttrs, x *tensor.Tensor, xZero int32, w *packedConvWeights, st *outputStage) (*tensor.Tensor, error) {
	g, err := attrs.resolve(x.Shape, w.shape)
	if err != nil {
		return nil, err
	}
	lo, hi, _ := qrange(x.DType)
	if int64(xZero) < lo || int64(xZero) > hi {
		return nil, fmt.Errorf("input zero point %d out of range for %v", xZero, x.DType)
	}
	// the VNNI kernels write every output element
	fast := w.vn != nil || (w.dwv != nil && dwVNNIFits(g))
	var y *tensor.Tensor
	if fast {
		y, err = allocUninit(ctx, st.dt, g.outShape())
	} else {
		y, err = ctx.Alloc(st.dt, g.outShape())
	}
	if err != nil {
		return nil, err
	}
	if y.Len() == 0 {
		return y, nil
	}
	if w.dwv != nil && dwVNNIFits(g) {
		switch xd := x.Data.(type) {
		case []int8:
			dwVNNI(ctx, g, xd, xZero, w.dwv, st, y)
		case []uint8:
			dwVNNI(ctx, g, xd, xZero, w.dwv, st, y)
		default:
			return nil, kernels.Unsupported("conv", "input dtype %v", x.DType)
		}
		return y, nil
	}
	if w.dw != nil {
		switch xd := x.Data.(type) {
		case []int8:
			depthwise(ctx, g, xd, xZero, w.dw, st, y)
		case []uint8:
			depthwise(ctx, g, xd, xZero, w.dw, st, y)
		default:
			return nil, kernels.Unsupported("conv", "input dtype %v", x.DType)
		}
		return y, nil
	}
	if w.vn != nil {
		if len(g.in) > 2 {
			return nil, kernels.Unsupported("conv", "%d-D convolution with VNNI weights", len(g.in))
		}
		switch xd := x.Data.(type) {
		case []int8:
			err = convVNNI(ctx, g, xd, xZero, w, st, y)
		case []uint8:
			err = convVNNI(ctx, g, xd, xZero, w, st, y)
		default:
			return nil, kernels.Unsupported("conv", "input dtype %v", x.DType)
		}
		if err != nil {
			return nil, err
		}
		return y, nil
	}
	col, err := ctx.Alloc(x.DType, []int{g.m, g.k})
	if err != nil {
		return nil, err
	}
	acc, err := ctx.Alloc(tensor.Int32, []int{g.m, g.ng})
	if err != nil {
		return nil, err
	}
	switch xd := x.Data.(type) {
	case []int8:
		convLoop(ctx, g, xd, int8(xZero), col.Data.([]int8), acc.Data.([]int32), w, st, y)
	case []uint8:
		convLoop(ctx, g, xd, uint8(xZero), col.Data.([]uint8), acc.Data.([]int32), w, st, y)
	default:
		return nil, kernels.Unsupported("conv", "input dtype %v", x.DType)
	}
	return y, nil
}

func convLoop[T int8 | uint8](ctx *kernels.Ctx, g *convGeom, x []T, zp T, col []T, acc []int32, w *packedConvWeights, st *outputStage, y *tensor.Tensor) {
	inSize := product(g.in)
	cg := g.cin / g.group
	aZero := []int32{int32(zp)}
	for n := 0; n < g.n; n++ {
		for gr := 0; gr < g.group; gr++ {
			xi := x[(n*g.cin+gr*cg)*inSize : (n*g.cin+(gr+1)*cg)*inSize]
			im2row(ctx, g, xi, zp, col)
			gemm(ctx, g.m, col, g.k, aZero, w.b[gr], acc, g.ng)
			off := (n*g.cout + gr*g.ng) * g.m
			// Blocks of positions keep the transposed reads of acc in cache.
			const rb = 64
			ctx.Parallel((g.m+rb-1)/rb, max(1, (1<<14)/(rb*g.ng)), func(lo, hi int) {
				for b := lo; b < hi; b++ {
					i0, i1 := b*rb, min((b+1)*rb, g.m)
					st.columns(y, off+i0, acc[i0*g.ng:], g.ng, i1-i0, g.m, g.ng, gr*g.ng)
				}
			})
		}
	}
}

// im2row writes, for each output position, the input patch it sees (cg
// channels × kernel) as one row of col; out-of-image taps get the zero
// point, so they contribute nothing once it is subtracted.
func im2row[T int8 | uint8](ctx *kernels.Ctx, g *convGeom, x []T, zp T, col []T) {
	sp := len(g.in)
	if sp == 1 || sp == 2 {
		// 1-D is 2-D with a unit height.
		ih, iw, oh, ow, kh, kw := 1, g.in[sp-1], 1, g.out[sp-1], 1, g.kernel[sp-1]
		sh, sw, dh, dw, ph, pw := 1, g.strides[sp-1], 1, g.dilations[sp-1], 0, g.padBegin[sp-1]
		if sp == 2 {
			ih, oh, kh, sh, dh, ph = g.in[0], g.out[0], g.kernel[0], g.strides[0], g.dilations[0], g.padBegin[0]
		}
		cg := len(x) / (ih * iw)
		ctx.Parallel(oh, max(1, (1<<14)/(ow*g.k)), func(lo, hi int) {
			for y := lo; y < hi; y++ {
				for xo := 0; xo < ow; xo++ {
					row := col[(y*ow+xo)*g.k : (y*ow+xo+1)*g.k]
					idx := 0
					for c := 0; c < cg; c++ {
						plane := x[c*ih*iw : (c+1)*ih*iw]
						for ky := 0; ky < kh; ky++ {
							yy := y*sh - ph + ky*dh
							dst := row[idx : idx+kw]
							idx += kw
							if yy < 0 || yy >= ih {
								for i := range dst {
									dst[i] = zp
								}
								continue
							}
							line := plane[yy*iw : (yy+1)*iw]
							x0 := xo*sw - pw
							if x0 >= 0 && x0+(kw-1)*dw < iw {
								if dw == 1 {
									copy(dst, line[x0:x0+kw])
									continue
								}
								for i := range dst {
									dst[i] = line[x0+i*dw]
								}
								continue
							}
							for i := range dst {
								if xx := x0 + i*dw; xx >= 0 && xx < iw {
									dst[i] = line[xx]
								} else {
									dst[i] = zp
								}
							}
						}
					}
				}
			}
		})
		return
	}
	// General N-D: walk output positions and kernel taps with odometers.
	inSize, kSize := product(g.in), product(g.kernel)
	inStr := tensor.Strides(g.in)
	cg := len(x) / inSize
	ctx.Parallel(g.m, max(1, (1<<14)/g.k), func(lo, hi int) {
		opos := make([]int, sp)
		kpos := make([]int, sp)
		for m := lo; m < hi; m++ {
			r := m
			for d := sp - 1; d >= 0; d-- {
				opos[d] = r % g.out[d]
				r /= g.out[d]
			}
			row := col[m*g.k : (m+1)*g.k]
			clear(kpos)
			for t := 0; t < kSize; t++ {
				off, ok := 0, true
				for d := 0; d < sp; d++ {
					p := opos[d]*g.strides[d] - g.padBegin[d] + kpos[d]*g.dilations[d]
					if p < 0 || p >= g.in[d] {
						ok = false
						break
					}
					off += p * inStr[d]
				}
				for c := 0; c < cg; c++ {
					if ok {
						row[c*kSize+t] = x[c*inSize+off]
					} else {
						row[c*kSize+t] = zp
					}
				}
				for d := sp - 1; d >= 0; d-- {
					if kpos[d]++; kpos[d] < g.kernel[d] {
						break
					}
					kpos[d] = 0
				}
			}
		}
	})
}
