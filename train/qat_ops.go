package train

import (
	"math"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
)

// Fake quantisation for quantisation-aware training (package compress/qat
// builds the graphs). The two operators live in their own domain: they are
// training-time stand-ins for a QuantizeLinear/DequantizeLinear pair, and
// an exported model replaces them by the real pair.
const (
	// QATDomain is the domain of the fake-quantisation operators.
	QATDomain = "com.edgedl.qat"
	// FakeQuantizeOp rounds an activation to the int8 (or uint8) grid of
	// an affine per-tensor quantisation and back: inputs X and Range (two
	// floats, min and max). Attributes qmin and qmax (default -128, 127)
	// and momentum (default 0.01). In training mode Range is a buffer
	// that tracks the batch minimum and maximum by an exponential moving
	// average, range = (1-momentum)*range + momentum*batch, starting from
	// the first batch when it holds [0, 0].
	FakeQuantizeOp = "FakeQuantize"
	// FakeQuantizeWeightOp rounds a weight tensor to symmetric int8 in
	// [-127, 127] with one scale per index of attribute axis (default 0):
	// scale = max|w|/127 over the channel.
	FakeQuantizeWeightOp = "FakeQuantizeWeight"
)

func init() {
	opSpecs[FakeQuantizeOp] = opSpec{diff: []int{0}, domain: QATDomain, buffers: []int{1},
		new: func(f bool) any { return pick(f, &fakeQuantOp[float32]{}, &fakeQuantOp[float64]{}) }}
	opSpecs[FakeQuantizeWeightOp] = opSpec{diff: []int{0}, weights: []int{0}, domain: QATDomain,
		new: func(f bool) any { return pick(f, &fakeQuantWeightOp[float32]{}, &fakeQuantWeightOp[float64]{}) }}
}

// AffineParams returns the scale and zero point of an asymmetric
// quantisation of the range [lo, hi] to [qmin, qmax], as ONNX Runtime's
// quantizer (and package compress/quantize) computes them: the range is
// widened to include 0, scale = (hi-lo)/(qmax-qmin) in float64 and
// zero point = round_half_even(qmin - lo/scale), clamped. A range too
// small for a float32 normal scale gives scale 1, zero point 0.
func AffineParams(lo, hi float64, qmin, qmax int32) (scale float32, zero int32) {
	rmin, rmax := math.Min(lo, 0), math.Max(hi, 0)
	s := (rmax - rmin) / float64(qmax-qmin)
	if s < 0x1p-126 || math.IsNaN(s) || math.IsInf(s, 0) {
		return 1, 0
	}
	zp := math.RoundToEven(float64(qmin) - rmin/s)
	zp = math.Max(float64(qmin), math.Min(float64(qmax), zp))
	return float32(s), int32(zp)
}

// SymmetricScale is the int8 weight scale of a channel whose largest
// magnitude is absmax: absmax/127 computed as ONNX Runtime does (the
// range 2*absmax in float32, divided by 254 in float64), or 1 for an
// all-zero channel.
func SymmetricScale(absmax float32) float32 {
	s := float64(absmax+absmax) / 254
	if s < 0x1p-126 {
		return 1
	}
	return float32(s)
}

// fakeQuantOp is FakeQuantize: y = (clamp(round(x/s)+z, qmin, qmax) - z)*s
// with round half to even, as QuantizeLinear followed by DequantizeLinear
// computes it. The backward pass is the clipped straight-through
// estimator: dx = dy where round(x/s)+z lies in [qmin, qmax], else 0.
type fakeQuantOp[F float] struct {
	qmin, qmax int32
	momentum   float64
	scale      F
	zero       F
	y          *tens[F]
}

func (o *fakeQuantOp[F]) setup(n *graph.Node, _ int64) error {
	a := kernels.AttrsOf(n)
	o.qmin, o.qmax = int32(a.Int("qmin", -128)), int32(a.Int("qmax", 127))
	o.momentum = float64(a.Float("momentum", 0.01))
	if o.qmin >= o.qmax || o.qmin < -1<<15 || o.qmax > 1<<16 {
		return errorString("FakeQuantize: qmin must be below qmax (int8 or uint8 limits)")
	}
	if !(o.momentum > 0 && o.momentum <= 1) {
		return errorString("FakeQuantize: momentum must be in (0, 1]")
	}
	return nil
}

func (o *fakeQuantOp[F]) forward(c *call[F]) error {
	x := c.in[0]
	if len(c.in) < 2 || c.in[1] == nil || len(c.in[1].data) != 2 {
		return c.errorf("needs float X and a two-element Range [min, max]")
	}
	r := c.in[1].data
	if c.training && !c.e.noStats && c.e.vals[c.nd.in[1]].buffer && len(x.data) > 0 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range x.data {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			lo, hi = math.Min(lo, f), math.Max(hi, f)
		}
		if lo <= hi {
			if r[0] == 0 && r[1] == 0 {
				r[0], r[1] = F(lo), F(hi)
			} else {
				m := o.momentum
				r[0] = F((1-m)*float64(r[0]) + m*lo)
				r[1] = F((1-m)*float64(r[1]) + m*hi)
			}
		}
	}
	s, z := AffineParams(float64(r[0]), float64(r[1]), o.qmin, o.qmax)
	o.scale, o.zero = F(s), F(z)
	y := ensure(&o.y, x.shape)
	qmin, qmax, scale, zero := F(o.qmin), F(o.qmax), o.scale, o.zero
	xd, yd := x.data, y.data
	c.e.par(len(xd), elemGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			q := F(math.RoundToEven(float64(xd[i]/scale))) + zero
			yd[i] = (min(max(q, qmin), qmax) - zero) * scale
		}
	})
	c.out[0] = y
	return nil
}

func (o *fakeQuantOp[F]) backward(c *call[F]) error {
	x, dy, dx := c.in[0].data, c.dout[0].data, c.din[0].data
	qmin, qmax, scale, zero := F(o.qmin), F(o.qmax), o.scale, o.zero
	c.e.par(len(x), elemGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			q := F(math.RoundToEven(float64(x[i]/scale))) + zero
			if q >= qmin && q <= qmax {
				dx[i] += dy[i]
			}
		}
	})
	return nil
}

// fakeQuantWeightOp is FakeQuantizeWeight: per-channel symmetric int8,
// y = clamp(round(w/s_c), -127, 127)*s_c with s_c = SymmetricScale(max|w_c|),
// the values a DequantizeLinear of compress/quantize's int8 weights gives.
// The scale covers every weight, so nothing is clipped and the
// straight-through gradient is the identity: dw = dy.
type fakeQuantWeightOp[F float] struct {
	axis int
	y    *tens[F]
	sc   []F
}

func (o *fakeQuantWeightOp[F]) setup(n *graph.Node, _ int64) error {
	o.axis = int(kernels.AttrsOf(n).Int("axis", 0))
	return nil
}

func (o *fakeQuantWeightOp[F]) forward(c *call[F]) error {
	w := c.in[0]
	axis := o.axis
	if axis < 0 {
		axis += len(w.shape)
	}
	if axis < 0 || axis >= len(w.shape) {
		return c.errorf("axis %d is out of range for weight of shape %v", o.axis, w.shape)
	}
	outer, ch, inner := 1, w.shape[axis], 1
	for i, d := range w.shape {
		if i < axis {
			outer *= d
		} else if i > axis {
			inner *= d
		}
	}
	o.sc = resize(o.sc, ch)
	absmax := make([]float32, ch)
	for b := 0; b < outer; b++ {
		for k := 0; k < ch; k++ {
			for _, v := range w.data[(b*ch+k)*inner : (b*ch+k+1)*inner] {
				absmax[k] = max(absmax[k], float32(math.Abs(float64(v))))
			}
		}
	}
	for k, a := range absmax {
		o.sc[k] = F(SymmetricScale(a))
	}
	y := ensure(&o.y, w.shape)
	for b := 0; b < outer; b++ {
		for k := 0; k < ch; k++ {
			s := o.sc[k]
			base := (b*ch + k) * inner
			for i, v := range w.data[base : base+inner] {
				q := F(math.RoundToEven(float64(v / s)))
				y.data[base+i] = min(max(q, -127), 127) * s
			}
		}
	}
	c.out[0] = y
	return nil
}

func (o *fakeQuantWeightOp[F]) backward(c *call[F]) error {
	dy, dx := c.dout[0].data, c.din[0].data
	for i, g := range dy {
		dx[i] += g
	}
	return nil
}
