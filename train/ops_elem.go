package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
)

const elemGrain = 1 << 14

// unaryOp is an element-wise activation: Relu, LeakyRelu, Sigmoid, Tanh,
// Gelu, Clip, Neg.
type unaryOp[F float] struct {
	kind   string
	alpha  F // LeakyRelu slope
	approx bool
	lo, hi F // Clip bounds (attributes before opset 11)
	opset  int64
	y      *tens[F]
}

func (o *unaryOp[F]) setup(n *graph.Node, opset int64) error {
	a := kernels.AttrsOf(n)
	o.kind, o.opset = n.OpType, opset
	o.alpha = F(a.Float("alpha", 0.01))
	switch s := a.String("approximate", "none"); s {
	case "none":
	case "tanh":
		o.approx = true
	default:
		return fmt.Errorf("Gelu approximate=%q", s)
	}
	o.lo, o.hi = F(a.Float("min", float32(math.Inf(-1)))), F(a.Float("max", float32(math.Inf(1))))
	return nil
}

const sqrt2OverPi = 0.7978845608028654

func (o *unaryOp[F]) forward(c *call[F]) error {
	x := c.in[0]
	y := ensure(&o.y, x.shape)
	if o.kind == "Clip" && o.opset >= 11 {
		lo, err := c.scalar(1, math.Inf(-1))
		if err != nil {
			return err
		}
		hi, err := c.scalar(2, math.Inf(1))
		if err != nil {
			return err
		}
		o.lo, o.hi = F(lo), F(hi)
	}
	xd, yd := x.data, y.data
	c.e.par(len(xd), elemGrain, func(lo, hi int) {
		xs, ys := xd[lo:hi], yd[lo:hi]
		switch o.kind {
		case "Relu":
			for i, v := range xs {
				ys[i] = max(v, 0)
			}
		case "LeakyRelu":
			for i, v := range xs {
				if v < 0 {
					v *= o.alpha
				}
				ys[i] = v
			}
		case "Sigmoid":
			for i, v := range xs {
				ys[i] = 1 / (1 + expF(-v))
			}
		case "Tanh":
			for i, v := range xs {
				ys[i] = tanhF(v)
			}
		case "Gelu":
			for i, v := range xs {
				if o.approx {
					ys[i] = 0.5 * v * (1 + tanhF(sqrt2OverPi*(v+0.044715*v*v*v)))
				} else {
					ys[i] = 0.5 * v * (1 + erfF(v/math.Sqrt2))
				}
			}
		case "Clip":
			for i, v := range xs {
				ys[i] = min(max(v, o.lo), o.hi)
			}
		case "Neg":
			for i, v := range xs {
				ys[i] = -v
			}
		}
	})
	c.out[0] = y
	return nil
}

func (o *unaryOp[F]) backward(c *call[F]) error {
	x, y, dy, dx := c.in[0].data, o.y.data, c.dout[0].data, c.din[0].data
	c.e.par(len(x), elemGrain, func(lo, hi int) {
		switch o.kind {
		case "Relu":
			for i := lo; i < hi; i++ {
				if x[i] > 0 {
					dx[i] += dy[i]
				}
			}
		case "LeakyRelu":
			for i := lo; i < hi; i++ {
				if x[i] > 0 {
					dx[i] += dy[i]
				} else {
					dx[i] += o.alpha * dy[i]
				}
			}
		case "Sigmoid":
			for i := lo; i < hi; i++ {
				dx[i] += dy[i] * y[i] * (1 - y[i])
			}
		case "Tanh":
			for i := lo; i < hi; i++ {
				dx[i] += dy[i] * (1 - y[i]*y[i])
			}
		case "Gelu":
			for i := lo; i < hi; i++ {
				v := x[i]
				var d F
				if o.approx {
					u := sqrt2OverPi * (v + 0.044715*v*v*v)
					t := tanhF(u)
					d = 0.5*(1+t) + 0.5*v*(1-t*t)*sqrt2OverPi*(1+3*0.044715*v*v)
				} else {
					cdf := 0.5 * (1 + erfF(v/math.Sqrt2))
					pdf := expF(-0.5*v*v) / F(math.Sqrt(2*math.Pi))
					d = cdf + v*pdf
				}
				dx[i] += dy[i] * d
			}
		case "Clip":
			for i := lo; i < hi; i++ {
				if x[i] >= o.lo && x[i] <= o.hi {
					dx[i] += dy[i]
				}
			}
		case "Neg":
			for i := lo; i < hi; i++ {
				dx[i] -= dy[i]
			}
		}
	})
	return nil
}

// binaryOp is Add, Sub, Mul or Div with numpy broadcasting.
type binaryOp[F float] struct {
	kind byte
	bc   *bcast
	sa   []int
	sb   []int
	y    *tens[F]
}

func (o *binaryOp[F]) setup(n *graph.Node, opset int64) error {
	if opset < 7 && kernels.AttrsOf(n).Int("broadcast", 0) != 0 {
		return fmt.Errorf("legacy broadcast attribute (opset %d) is not supported", opset)
	}
	o.kind = n.OpType[0]
	return nil
}

func (o *binaryOp[F]) forward(c *call[F]) error {
	a, b := c.in[0], c.in[1]
	if a == nil || b == nil {
		return c.errorf("inputs must be float tensors")
	}
	if o.bc == nil || !slices.Equal(o.sa, a.shape) || !slices.Equal(o.sb, b.shape) {
		bc, err := newBcast(a.shape, b.shape)
		if err != nil {
			return c.errorf("%v", err)
		}
		o.bc, o.sa, o.sb = bc, slices.Clone(a.shape), slices.Clone(b.shape)
	}
	y := ensure(&o.y, o.bc.out)
	ad, bd, yd := a.data, b.data, y.data
	if len(ad) == len(yd) && len(bd) == len(yd) {
		c.e.par(len(yd), elemGrain, func(lo, hi int) {
			binRun(o.kind, yd[lo:hi], ad[lo:hi], 1, bd[lo:hi], 1)
		})
	} else {
		o.bc.each(func(off, ia, da, ib, db, n int) {
			binRun(o.kind, yd[off:off+n], ad[ia:], da, bd[ib:], db)
		})
	}
	c.out[0] = y
	return nil
}

func binRun[F float](kind byte, y, a []F, da int, b []F, db int) {
	switch kind {
	case 'A':
		for j := range y {
			y[j] = a[j*da] + b[j*db]
		}
	case 'S':
		for j := range y {
			y[j] = a[j*da] - b[j*db]
		}
	case 'M':
		for j := range y {
			y[j] = a[j*da] * b[j*db]
		}
	case 'D':
		for j := range y {
			y[j] = a[j*da] / b[j*db]
		}
	}
}

func (o *binaryOp[F]) backward(c *call[F]) error {
	a, b, y, dy := c.in[0].data, c.in[1].data, o.y.data, c.dout[0].data
	ga, gb := c.din[0], c.din[1]
	o.bc.each(func(off, ia, da, ib, db, n int) {
		dys := dy[off : off+n]
		if ga != nil {
			g := ga.data
			for j, d := range dys {
				switch o.kind {
				case 'M':
					d *= b[ib+j*db]
				case 'D':
					d /= b[ib+j*db]
				}
				g[ia+j*da] += d
			}
		}
		if gb != nil {
			g := gb.data
			for j, d := range dys {
				switch o.kind {
				case 'S':
					d = -d
				case 'M':
					d *= a[ia+j*da]
				case 'D':
					d = -d * y[off+j] / b[ib+j*db]
				}
				g[ib+j*db] += d
			}
		}
	})
	return nil
}

// viewOp is an op that changes only the shape: Identity, Flatten, Reshape,
// Squeeze, Unsqueeze. The output shares the input's data.
type viewOp[F float] struct {
	kind   string
	axis   int
	axes   []int64 // attribute axes (Squeeze/Unsqueeze before opset 13)
	allowZ bool
	opset  int64
	y      tens[F]
}

func (o *viewOp[F]) setup(n *graph.Node, opset int64) error {
	a := kernels.AttrsOf(n)
	o.kind, o.opset = n.OpType, opset
	o.axis = int(a.Int("axis", 1))
	o.axes = a.Ints("axes", nil)
	o.allowZ = a.Int("allowzero", 0) != 0
	return nil
}

func (o *viewOp[F]) forward(c *call[F]) error {
	x := c.in[0]
	shape, err := o.shapeFor(c, x.shape)
	if err != nil {
		return c.errorf("%v", err)
	}
	if numel(shape) != len(x.data) {
		return c.errorf("cannot reshape %v to %v", x.shape, shape)
	}
	o.y.shape, o.y.data = shape, x.data
	c.out[0] = &o.y
	return nil
}

func (o *viewOp[F]) shapeFor(c *call[F], in []int) ([]int, error) {
	r := len(in)
	switch o.kind {
	case "Identity":
		return slices.Clone(in), nil
	case "Flatten":
		ax := o.axis
		if ax < 0 {
			ax += r
		}
		if ax < 0 || ax > r {
			return nil, fmt.Errorf("axis %d out of range for rank %d", o.axis, r)
		}
		return []int{numel(in[:ax]), numel(in[ax:])}, nil
	case "Reshape":
		spec := c.ints(1)
		if spec == nil {
			return nil, fmt.Errorf("missing shape input")
		}
		out := make([]int, len(spec))
		infer := -1
		known := 1
		for i, d := range spec {
			switch {
			case d == -1:
				if infer >= 0 {
					return nil, fmt.Errorf("shape %v has two -1", spec)
				}
				infer = i
				continue
			case d == 0 && !o.allowZ:
				if i >= r {
					return nil, fmt.Errorf("shape %v copies dim %d of rank-%d input", spec, i, r)
				}
				out[i] = in[i]
			case d < 0:
				return nil, fmt.Errorf("shape %v has a negative dim", spec)
			default:
				out[i] = int(d)
			}
			known *= out[i]
		}
		if infer >= 0 {
			if known == 0 {
				return nil, fmt.Errorf("cannot infer -1 in %v", spec)
			}
			out[infer] = numel(in) / known
		}
		return out, nil
	case "Squeeze", "Unsqueeze":
		axes := o.axes
		if o.opset >= 13 {
			axes = c.ints(1)
		}
		if o.kind == "Squeeze" {
			drop := make([]bool, r)
			if axes == nil {
				for i, d := range in {
					drop[i] = d == 1
				}
			}
			for _, a := range axes {
				ax, err := normAxis(int(a), r)
				if err != nil {
					return nil, err
				}
				if in[ax] != 1 {
					return nil, fmt.Errorf("cannot squeeze dim %d of size %d", ax, in[ax])
				}
				drop[ax] = true
			}
			var out []int
			for i, d := range in {
				if !drop[i] {
					out = append(out, d)
				}
			}
			return out, nil
		}
		nr := r + len(axes)
		ins := make([]bool, nr)
		for _, a := range axes {
			ax, err := normAxis(int(a), nr)
			if err != nil {
				return nil, err
			}
			ins[ax] = true
		}
		out := make([]int, 0, nr)
		k := 0
		for i := 0; i < nr; i++ {
			if ins[i] {
				out = append(out, 1)
			} else {
				if k >= r {
					return nil, fmt.Errorf("bad axes %v", axes)
				}
				out = append(out, in[k])
				k++
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown view op")
}

func (o *viewOp[F]) backward(c *call[F]) error {
	dx, dy := c.din[0].data, c.dout[0].data
	for i, v := range dy {
		dx[i] += v
	}
	return nil
}

// transposeOp permutes dims.
type transposeOp[F float] struct {
	perm []int
	y    *tens[F]
}

func (o *transposeOp[F]) setup(n *graph.Node, _ int64) error {
	o.perm = kernels.AttrsOf(n).IntsAsInt("perm", nil)
	return nil
}

func (o *transposeOp[F]) permFor(r int) ([]int, error) {
	if o.perm == nil {
		p := make([]int, r)
		for i := range p {
			p[i] = r - 1 - i
		}
		return p, nil
	}
	if len(o.perm) != r {
		return nil, fmt.Errorf("perm %v does not match rank %d", o.perm, r)
	}
	seen := make([]bool, r)
	for _, p := range o.perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation", o.perm)
		}
		seen[p] = true
	}
	return o.perm, nil
}

// permute visits the output of transposing shape by perm in order,
// calling fn(outIndex, inIndex).
func permute(shape, perm []int, fn func(o, i int)) {
	r := len(shape)
	st := make([]int, r) // input stride of each output dim
	is := stridesOf(shape)
	out := make([]int, r)
	for k, p := range perm {
		st[k], out[k] = is[p], shape[p]
	}
	n := numel(shape)
	idx := make([]int, r)
	in := 0
	for o := 0; o < n; o++ {
		fn(o, in)
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			in += st[d]
			if idx[d] < out[d] {
				break
			}
			in -= st[d] * out[d]
			idx[d] = 0
		}
	}
}

func stridesOf(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

func (o *transposeOp[F]) forward(c *call[F]) error {
	x := c.in[0]
	perm, err := o.permFor(len(x.shape))
	if err != nil {
		return c.errorf("%v", err)
	}
	out := make([]int, len(perm))
	for k, p := range perm {
		out[k] = x.shape[p]
	}
	y := ensure(&o.y, out)
	permute(x.shape, perm, func(oi, ii int) { y.data[oi] = x.data[ii] })
	c.out[0] = y
	return nil
}

func (o *transposeOp[F]) backward(c *call[F]) error {
	x := c.in[0]
	perm, _ := o.permFor(len(x.shape))
	dx, dy := c.din[0].data, c.dout[0].data
	permute(x.shape, perm, func(oi, ii int) { dx[ii] += dy[oi] })
	return nil
}

// concatOp joins its inputs along axis.
type concatOp[F float] struct {
	axis  int
	outer int
	sizes []int // per input: elements per outer index
	y     *tens[F]
}

func (o *concatOp[F]) setup(n *graph.Node, _ int64) error {
	a := kernels.AttrsOf(n)
	if !a.Has("axis") {
		return fmt.Errorf("missing attribute axis")
	}
	o.axis = int(a.Int("axis", 0))
	return nil
}

func (o *concatOp[F]) forward(c *call[F]) error {
	if len(c.in) == 0 || c.in[0] == nil {
		return c.errorf("needs float inputs")
	}
	first := c.in[0].shape
	r := len(first)
	ax, err := normAxis(o.axis, r)
	if err != nil {
		return c.errorf("%v", err)
	}
	out := slices.Clone(first)
	out[ax] = 0
	o.sizes = o.sizes[:0]
	inner := numel(first[ax+1:])
	for k, t := range c.in {
		if t == nil || len(t.shape) != r {
			return c.errorf("input %d is not a float tensor of rank %d", k, r)
		}
		for d := range r {
			if d != ax && t.shape[d] != first[d] {
				return c.errorf("input shapes %v and %v differ off axis %d", first, t.shape, ax)
			}
		}
		out[ax] += t.shape[ax]
		o.sizes = append(o.sizes, t.shape[ax]*inner)
	}
	o.outer = numel(first[:ax])
	y := ensure(&o.y, out)
	row := numel(out[ax:])
	for i := 0; i < o.outer; i++ {
		off := i * row
		for k, t := range c.in {
			s := o.sizes[k]
			copy(y.data[off:off+s], t.data[i*s:(i+1)*s])
			off += s
		}
	}
	c.out[0] = y
	return nil
}

func (o *concatOp[F]) backward(c *call[F]) error {
	dy := c.dout[0].data
	row := 0
	for _, s := range o.sizes {
		row += s
	}
	for i := 0; i < o.outer; i++ {
		off := i * row
		for k, s := range o.sizes {
			if g := c.din[k]; g != nil {
				dst := g.data[i*s : (i+1)*s]
				for j, v := range dy[off : off+s] {
					dst[j] += v
				}
			}
			off += s
		}
	}
	return nil
}

// softmaxOp is Softmax or LogSoftmax. Before opset 13 the input is
// coerced to 2-D at axis (default 1); from 13 the op runs along one axis
// (default -1).
type softmaxOp[F float] struct {
	log             bool
	axis            int
	legacy          bool
	outer, n, inner int
	y               *tens[F]
}

func (o *softmaxOp[F]) setup(n *graph.Node, opset int64) error {
	a := kernels.AttrsOf(n)
	o.log = n.OpType == "LogSoftmax"
	o.legacy = opset < 13
	def := int64(-1)
	if o.legacy {
		def = 1
	}
	o.axis = int(a.Int("axis", def))
	return nil
}

func (o *softmaxOp[F]) forward(c *call[F]) error {
	x := c.in[0]
	r := len(x.shape)
	if r == 0 {
		return c.errorf("input must have rank >= 1")
	}
	ax, err := normAxis(o.axis, r)
	if err != nil {
		return c.errorf("%v", err)
	}
	if o.legacy {
		o.outer, o.n, o.inner = numel(x.shape[:ax]), numel(x.shape[ax:]), 1
	} else {
		o.outer, o.n, o.inner = numel(x.shape[:ax]), x.shape[ax], numel(x.shape[ax+1:])
	}
	y := ensure(&o.y, x.shape)
	n, inner := o.n, o.inner
	c.e.par(o.outer*inner, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			base := (r/inner)*n*inner + r%inner
			m := F(math.Inf(-1))
			for k := 0; k < n; k++ {
				m = max(m, x.data[base+k*inner])
			}
			var s F
			for k := 0; k < n; k++ {
				e := expF(x.data[base+k*inner] - m)
				y.data[base+k*inner] = e
				s += e
			}
			if o.log {
				ls := logF(s) + m
				for k := 0; k < n; k++ {
					y.data[base+k*inner] = x.data[base+k*inner] - ls
				}
			} else {
				for k := 0; k < n; k++ {
					y.data[base+k*inner] /= s
				}
			}
		}
	})
	c.out[0] = y
	return nil
}

func (o *softmaxOp[F]) backward(c *call[F]) error {
	y, dy, dx := o.y.data, c.dout[0].data, c.din[0].data
	n, inner := o.n, o.inner
	c.e.par(o.outer*inner, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			base := (r/inner)*n*inner + r%inner
			var s F
			if o.log {
				for k := 0; k < n; k++ {
					s += dy[base+k*inner]
				}
				for k := 0; k < n; k++ {
					i := base + k*inner
					dx[i] += dy[i] - expF(y[i])*s
				}
			} else {
				for k := 0; k < n; k++ {
					i := base + k*inner
					s += dy[i] * y[i]
				}
				for k := 0; k < n; k++ {
					i := base + k*inner
					dx[i] += y[i] * (dy[i] - s)
				}
			}
		}
	})
	return nil
}

// dropoutOp zeroes elements with probability ratio in training mode and
// scales the kept ones by 1/(1-ratio); outside training it is the identity.
// Masks come from the program's seeded generator, so a run is reproducible.
type dropoutOp[F float] struct {
	ratio float64
	opset int64
	scale F
	mask  []F // 0 or scale, per element; nil when the last forward kept all
	y     *tens[F]
	view  tens[F]
}

func (o *dropoutOp[F]) setup(n *graph.Node, opset int64) error {
	o.opset = opset
	o.ratio = float64(kernels.AttrsOf(n).Float("ratio", 0.5))
	return nil
}

func (o *dropoutOp[F]) forward(c *call[F]) error {
	x := c.in[0]
	ratio := o.ratio
	if o.opset >= 12 {
		var err error
		if ratio, err = c.scalar(1, 0.5); err != nil {
			return err
		}
	}
	if !(ratio >= 0 && ratio < 1) {
		return c.errorf("ratio %v must be in [0, 1)", ratio)
	}
	if !c.training || ratio == 0 {
		o.mask = nil
		o.view.shape, o.view.data = x.shape, x.data
		c.out[0] = &o.view
		return nil
	}
	y := ensure(&o.y, x.shape)
	o.mask = resize(o.mask, len(x.data))
	o.scale = F(1 / (1 - ratio))
	rng := c.e.rng
	thr := uint64(ratio * (1 << 53))
	for i, v := range x.data {
		if rng.Uint64()>>11 < thr {
			o.mask[i], y.data[i] = 0, 0
		} else {
			o.mask[i], y.data[i] = o.scale, v*o.scale
		}
	}
	c.out[0] = y
	return nil
}

func (o *dropoutOp[F]) backward(c *call[F]) error {
	dx, dy := c.din[0].data, c.dout[0].data
	if o.mask == nil {
		for i, v := range dy {
			dx[i] += v
		}
		return nil
	}
	for i, v := range dy {
		dx[i] += v * o.mask[i]
	}
	return nil
}
