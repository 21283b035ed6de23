package reduce

import (
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "DFT", 17, func(b *kernels.BuildContext) (kernels.Kernel, error) { return buildDFT(b, false) })
	kernels.Register("", "DFT", 20, func(b *kernels.BuildContext) (kernels.Kernel, error) { return buildDFT(b, true) })
	kernels.Register("", "STFT", 17, buildSTFT)
}

func spectralSupports(dt tensor.DType) bool { return dt.IsFloat() }

// maxDFT bounds transform lengths: a plan holds O(n) twiddles (Bluestein
// twice that, rounded up to a power of two), so absurd lengths are refused
// before anything that size is allocated.
const maxDFT = 1 << 22

// dftKernel is a compiled DFT node. Opset 17 takes the axis as an
// attribute (default 1); opset 20 as an optional third input (default -2).
type dftKernel struct {
	axisInput         bool
	axis              int64
	inverse, onesided bool
}

func buildDFT(b *kernels.BuildContext, axisInput bool) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &dftKernel{
		axisInput: axisInput,
		axis:      a.Int("axis", 1),
		inverse:   a.Int("inverse", 0) != 0,
		onesided:  a.Int("onesided", 0) != 0,
	}
	if axisInput {
		k.axis = -2
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !spectralSupports(dt) {
		return nil, kernels.Unsupported("DFT", "dtype %v", dt)
	}
	return k, nil
}

// dftGeom is one DFT's geometry: the input viewed as
// [outer, dim, inner, cin] and the output as [outer, outLen, inner, cout].
type dftGeom struct {
	outer, dim, inner, cin int
	n, outLen, cout        int
	inverse, onesided      bool
}

func (k *dftKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if !spectralSupports(x.DType) {
		return kernels.Unsupported("DFT", "dtype %v", x.DType)
	}
	r := x.Rank()
	if r < 2 || (x.Shape[r-1] != 1 && x.Shape[r-1] != 2) {
		return errorf("input shape %v must end in 1 (real) or 2 (complex)", x.Shape)
	}
	axis := k.axis
	if k.axisInput && len(in) > 2 && in[2] != nil {
		v, err := scalarInt(in[2], "axis")
		if err != nil {
			return err
		}
		axis = v
	}
	if axis < 0 {
		axis += int64(r)
	}
	if axis < 0 || axis > int64(r-2) {
		return errorf("axis %d out of range for input shape %v", k.axis, x.Shape)
	}
	ax := int(axis)
	g := dftGeom{dim: x.Shape[ax], cin: x.Shape[r-1], cout: 2, inverse: k.inverse, onesided: k.onesided}
	g.outer, g.inner = 1, 1
	for _, d := range x.Shape[:ax] {
		g.outer *= d
	}
	for _, d := range x.Shape[ax+1 : r-1] {
		g.inner *= d
	}
	g.n = g.dim
	if k.inverse && k.onesided {
		g.n = 2 * (g.dim - 1)
	}
	if len(in) > 1 && in[1] != nil {
		v, err := scalarInt(in[1], "dft_length")
		if err != nil {
			return err
		}
		if v < 1 || v > maxDFT {
			return errorf("dft_length %d outside [1, %d]", v, maxDFT)
		}
		g.n = int(v)
	}
	if g.n < 1 || g.n > maxDFT {
		return errorf("DFT length %d outside [1, %d] (input shape %v)", g.n, maxDFT, x.Shape)
	}
	g.outLen = g.n
	switch {
	case k.onesided && !k.inverse:
		g.outLen = g.n/2 + 1
	case k.onesided && k.inverse:
		g.cout = 1 // irfft: a real signal
	}
	shape := append([]int(nil), x.Shape...)
	shape[ax], shape[r-1] = g.outLen, g.cout
	y, err := ctx.Alloc(x.DType, shape)
	if err != nil {
		return err
	}
	switch x.DType {
	case tensor.Float32:
		dftTyped(ctx, &g, x.F32(), y.F32())
	case tensor.Float64:
		dftTyped(ctx, &g, tensor.Data[float64](x), tensor.Data[float64](y))
	default:
		ys := make([]float32, y.Len())
		dftTyped(ctx, &g, widen(x), ys)
		narrow(y, ys)
	}
	out[0] = y
	return nil
}

// dftTyped transforms every line of x along the DFT axis.
func dftTyped[T float32 | float64](ctx *kernels.Ctx, g *dftGeom, x, y []T) {
	lines := g.outer * g.inner
	if lines == 0 {
		return
	}
	// numpy transforms complex64 signals in single precision but real
	// float32 ones in double; the reference outputs follow that split.
	if xs, ok := any(x).([]float32); ok && !g.onesided && g.cin == 2 {
		if p := planFFT32(g.n); p != nil {
			dft32(ctx, g, p, xs, any(y).([]float32))
			return
		}
	}
	p := planFFT(g.n)
	ctx.Parallel(lines, max(1, 4096/g.n), func(lo, hi int) {
		buf := make([]complex128, g.n)
		scratch := make([]complex128, p.scratchLen())
		for l := lo; l < hi; l++ {
			o, i := l/g.inner, l%g.inner
			at := func(t int) complex128 { // input element t of this line
				j := ((o*g.dim+t)*g.inner + i) * g.cin
				if g.cin == 2 {
					return complex(float64(x[j]), float64(x[j+1]))
				}
				return complex(float64(x[j]), 0)
			}
			if g.inverse && g.onesided {
				// Rebuild the Hermitian spectrum from its first half.
				h := func(k int) complex128 {
					if k < g.dim {
						return at(k)
					}
					return 0
				}
				clear(buf)
				buf[0] = complex(real(h(0)), 0)
				for k := 1; k <= (g.n-1)/2; k++ {
					v := h(k)
					buf[k], buf[g.n-k] = v, complex(real(v), -imag(v))
				}
				if g.n%2 == 0 {
					buf[g.n/2] = complex(real(h(g.n/2)), 0)
				}
			} else {
				m := min(g.dim, g.n)
				for t := 0; t < m; t++ {
					buf[t] = at(t)
				}
				clear(buf[m:])
			}
			scale := 1.0
			if g.inverse { // ifft(X) = conj(fft(conj(X))) / n
				for t := range buf {
					buf[t] = complex(real(buf[t]), -imag(buf[t]))
				}
				scale = 1 / float64(g.n)
			}
			p.transform(buf, scratch)
			sign := 1.0
			if g.inverse {
				sign = -1
			}
			for t := 0; t < g.outLen; t++ {
				j := ((o*g.outLen+t)*g.inner + i) * g.cout
				y[j] = T(real(buf[t]) * scale)
				if g.cout == 2 {
					y[j+1] = T(sign * imag(buf[t]) * scale)
				}
			}
		}
	})
}

// dft32 is the full complex transform of float32 lines with the
// single-precision mixed-radix plan, which rounds like numpy's pocketfft.
func dft32(ctx *kernels.Ctx, g *dftGeom, p *fft32Plan, x, y []float32) {
	fct := float32(1)
	if g.inverse {
		fct = float32(1 / float64(g.n))
	}
	ctx.Parallel(g.outer*g.inner, max(1, 4096/g.n), func(lo, hi int) {
		buf, ch := make([]c32, g.n), make([]c32, g.n)
		for l := lo; l < hi; l++ {
			o, i := l/g.inner, l%g.inner
			m := min(g.dim, g.n)
			for t := 0; t < m; t++ {
				j := ((o*g.dim+t)*g.inner + i) * g.cin
				buf[t] = c32{x[j], 0}
				if g.cin == 2 {
					buf[t].i = x[j+1]
				}
			}
			clear(buf[m:])
			p.exec(buf, ch, !g.inverse, fct)
			for t := 0; t < g.outLen; t++ {
				j := ((o*g.outLen+t)*g.inner + i) * 2
				y[j], y[j+1] = buf[t].r, buf[t].i
			}
		}
	})
}

// stftKernel is a compiled STFT node: frames of frame_length samples,
// frame_step apart, each multiplied by the window and transformed.
type stftKernel struct{ onesided bool }

func buildSTFT(b *kernels.BuildContext) (kernels.Kernel, error) {
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !spectralSupports(dt) {
		return nil, kernels.Unsupported("STFT", "dtype %v", dt)
	}
	return &stftKernel{onesided: b.Attrs().Int("onesided", 1) != 0}, nil
}

func (k *stftKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if !spectralSupports(x.DType) {
		return kernels.Unsupported("STFT", "dtype %v", x.DType)
	}
	if x.Rank() != 3 || (x.Shape[2] != 1 && x.Shape[2] != 2) {
		return errorf("signal must be [batch, length, 1 or 2], got %v", x.Shape)
	}
	step, err := scalarInt(in[1], "frame_step")
	if err != nil {
		return err
	}
	var window []float64
	if len(in) > 2 && in[2] != nil {
		if in[2].Rank() != 1 {
			return errorf("window must be 1-D, got shape %v", in[2].Shape)
		}
		window = make([]float64, in[2].Len())
		for i := range window {
			window[i] = in[2].Float64At(i)
		}
	}
	batch, length, cin := x.Shape[0], x.Shape[1], x.Shape[2]
	fl := int64(length)
	if window != nil {
		fl = int64(len(window))
	}
	if len(in) > 3 && in[3] != nil {
		if fl, err = scalarInt(in[3], "frame_length"); err != nil {
			return err
		}
		if window != nil && int64(len(window)) != fl {
			return errorf("window length %d differs from frame_length %d", len(window), fl)
		}
	}
	if step < 1 || fl < 1 || fl > int64(length) || fl > maxDFT {
		return errorf("frame_step %d and frame_length %d invalid for signal length %d", step, fl, length)
	}
	n := int(fl)
	frames := 1 + (length-n)/int(step)
	bins := n
	if k.onesided {
		bins = n/2 + 1
	}
	y, err := ctx.Alloc(x.DType, []int{batch, frames, bins, 2})
	if err != nil {
		return err
	}
	g := stftGeom{frames: frames, length: length, cin: cin, n: n, step: int(step), bins: bins, window: window}
	switch x.DType {
	case tensor.Float32:
		stftTyped(ctx, &g, x.F32(), y.F32(), batch)
	case tensor.Float64:
		stftTyped(ctx, &g, tensor.Data[float64](x), tensor.Data[float64](y), batch)
	default:
		ys := make([]float32, y.Len())
		stftTyped(ctx, &g, widen(x), ys, batch)
		narrow(y, ys)
	}
	out[0] = y
	return nil
}

type stftGeom struct {
	frames, length, cin, n, step, bins int
	window                             []float64
}

func stftTyped[T float32 | float64](ctx *kernels.Ctx, g *stftGeom, x, y []T, batch int) {
	p := planFFT(g.n)
	ctx.Parallel(batch*g.frames, max(1, 4096/g.n), func(lo, hi int) {
		buf := make([]complex128, g.n)
		scratch := make([]complex128, p.scratchLen())
		for f := lo; f < hi; f++ {
			b, fr := f/g.frames, f%g.frames
			src := (b*g.length + fr*g.step) * g.cin
			for t := range buf {
				w := 1.0
				if g.window != nil {
					w = g.window[t]
				}
				j := src + t*g.cin
				if g.cin == 2 {
					buf[t] = complex(float64(x[j])*w, float64(x[j+1])*w)
				} else {
					buf[t] = complex(float64(x[j])*w, 0)
				}
			}
			p.transform(buf, scratch)
			dst := f * g.bins * 2
			for t := 0; t < g.bins; t++ {
				y[dst+2*t] = T(real(buf[t]))
				y[dst+2*t+1] = T(imag(buf[t]))
			}
		}
	})
}
