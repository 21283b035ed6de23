package elementwise

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// arithOp is a same-dtype binary arithmetic operator.
type arithOp uint8

const (
	opAdd arithOp = iota
	opSub
	opMul
	opDiv // integers truncate toward zero, as C and the ONNX reference do
	opMax // floats propagate NaN, as numpy.maximum
	opMin
	opPRelu // a < 0 ? a*b : a
)

// The run loops are unrolled by four (Go does not vectorise): one bounds
// check per block and four independent operations in flight.

func arithVV[T number](op arithOp, d, a, b []T) {
	a, b = a[:len(d)], b[:len(d)]
	n := len(d)
	i := 0
	switch op {
	case opAdd:
		for ; i+4 <= n; i += 4 {
			dd, aa, bb := d[i:i+4:i+4], a[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = aa[0] + bb[0]
			dd[1] = aa[1] + bb[1]
			dd[2] = aa[2] + bb[2]
			dd[3] = aa[3] + bb[3]
		}
	case opSub:
		for ; i+4 <= n; i += 4 {
			dd, aa, bb := d[i:i+4:i+4], a[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = aa[0] - bb[0]
			dd[1] = aa[1] - bb[1]
			dd[2] = aa[2] - bb[2]
			dd[3] = aa[3] - bb[3]
		}
	case opMul:
		for ; i+4 <= n; i += 4 {
			dd, aa, bb := d[i:i+4:i+4], a[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = aa[0] * bb[0]
			dd[1] = aa[1] * bb[1]
			dd[2] = aa[2] * bb[2]
			dd[3] = aa[3] * bb[3]
		}
	case opDiv:
		for ; i+4 <= n; i += 4 {
			dd, aa, bb := d[i:i+4:i+4], a[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = aa[0] / bb[0]
			dd[1] = aa[1] / bb[1]
			dd[2] = aa[2] / bb[2]
			dd[3] = aa[3] / bb[3]
		}
	case opMax:
		for ; i+4 <= n; i += 4 {
			dd, aa, bb := d[i:i+4:i+4], a[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = max(aa[0], bb[0])
			dd[1] = max(aa[1], bb[1])
			dd[2] = max(aa[2], bb[2])
			dd[3] = max(aa[3], bb[3])
		}
	case opMin:
		for ; i+4 <= n; i += 4 {
			dd, aa, bb := d[i:i+4:i+4], a[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = min(aa[0], bb[0])
			dd[1] = min(aa[1], bb[1])
			dd[2] = min(aa[2], bb[2])
			dd[3] = min(aa[3], bb[3])
		}
	case opPRelu:
		for ; i < n; i++ {
			v := a[i]
			if v < 0 {
				v *= b[i]
			}
			d[i] = v
		}
	}
	// The tail (fewer than four elements) of every op but PRelu.
	for ; i < n; i++ {
		d[i] = arith1(op, a[i], b[i])
	}
}

func arithVS[T number](op arithOp, d, a []T, s T) {
	a = a[:len(d)]
	n := len(d)
	i := 0
	switch op {
	case opAdd:
		for ; i+4 <= n; i += 4 {
			dd, aa := d[i:i+4:i+4], a[i:i+4:i+4]
			dd[0] = aa[0] + s
			dd[1] = aa[1] + s
			dd[2] = aa[2] + s
			dd[3] = aa[3] + s
		}
	case opSub:
		for ; i+4 <= n; i += 4 {
			dd, aa := d[i:i+4:i+4], a[i:i+4:i+4]
			dd[0] = aa[0] - s
			dd[1] = aa[1] - s
			dd[2] = aa[2] - s
			dd[3] = aa[3] - s
		}
	case opMul:
		for ; i+4 <= n; i += 4 {
			dd, aa := d[i:i+4:i+4], a[i:i+4:i+4]
			dd[0] = aa[0] * s
			dd[1] = aa[1] * s
			dd[2] = aa[2] * s
			dd[3] = aa[3] * s
		}
	case opDiv:
		for ; i+4 <= n; i += 4 {
			dd, aa := d[i:i+4:i+4], a[i:i+4:i+4]
			dd[0] = aa[0] / s
			dd[1] = aa[1] / s
			dd[2] = aa[2] / s
			dd[3] = aa[3] / s
		}
	case opMax:
		for ; i+4 <= n; i += 4 {
			dd, aa := d[i:i+4:i+4], a[i:i+4:i+4]
			dd[0] = max(aa[0], s)
			dd[1] = max(aa[1], s)
			dd[2] = max(aa[2], s)
			dd[3] = max(aa[3], s)
		}
	case opMin:
		for ; i+4 <= n; i += 4 {
			dd, aa := d[i:i+4:i+4], a[i:i+4:i+4]
			dd[0] = min(aa[0], s)
			dd[1] = min(aa[1], s)
			dd[2] = min(aa[2], s)
			dd[3] = min(aa[3], s)
		}
	case opPRelu:
		for ; i < n; i++ {
			v := a[i]
			if v < 0 {
				v *= s
			}
			d[i] = v
		}
	}
	// The tail (fewer than four elements) of every op but PRelu.
	for ; i < n; i++ {
		d[i] = arith1(op, a[i], s)
	}
}

func arithSV[T number](op arithOp, d []T, s T, b []T) {
	b = b[:len(d)]
	n := len(d)
	i := 0
	switch op {
	case opAdd:
		for ; i+4 <= n; i += 4 {
			dd, bb := d[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = s + bb[0]
			dd[1] = s + bb[1]
			dd[2] = s + bb[2]
			dd[3] = s + bb[3]
		}
	case opSub:
		for ; i+4 <= n; i += 4 {
			dd, bb := d[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = s - bb[0]
			dd[1] = s - bb[1]
			dd[2] = s - bb[2]
			dd[3] = s - bb[3]
		}
	case opMul:
		for ; i+4 <= n; i += 4 {
			dd, bb := d[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = s * bb[0]
			dd[1] = s * bb[1]
			dd[2] = s * bb[2]
			dd[3] = s * bb[3]
		}
	case opDiv:
		for ; i+4 <= n; i += 4 {
			dd, bb := d[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = s / bb[0]
			dd[1] = s / bb[1]
			dd[2] = s / bb[2]
			dd[3] = s / bb[3]
		}
	case opMax:
		for ; i+4 <= n; i += 4 {
			dd, bb := d[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = max(s, bb[0])
			dd[1] = max(s, bb[1])
			dd[2] = max(s, bb[2])
			dd[3] = max(s, bb[3])
		}
	case opMin:
		for ; i+4 <= n; i += 4 {
			dd, bb := d[i:i+4:i+4], b[i:i+4:i+4]
			dd[0] = min(s, bb[0])
			dd[1] = min(s, bb[1])
			dd[2] = min(s, bb[2])
			dd[3] = min(s, bb[3])
		}
	case opPRelu:
		for ; i < n; i++ {
			v := s
			if v < 0 {
				v *= b[i]
			}
			d[i] = v
		}
	}
	// The tail (fewer than four elements) of every op but PRelu.
	for ; i < n; i++ {
		d[i] = arith1(op, s, b[i])
	}
}

// arith1 is one element of op, for loop tails.
func arith1[T number](op arithOp, a, b T) T {
	switch op {
	case opAdd:
		return a + b
	case opSub:
		return a - b
	case opMul:
		return a * b
	case opDiv:
		return a / b
	case opMax:
		return max(a, b)
	case opMin:
		return min(a, b)
	}
	if a < 0 { // PRelu
		a *= b
	}
	return a
}

func arithLoops[T number](op arithOp) binLoops[T, T, T] {
	return binLoops[T, T, T]{
		vv: func(d, a, b []T) { arithVV(op, d, a, b) },
		vs: func(d, a []T, s T) { arithVS(op, d, a, s) },
		sv: func(d []T, s T, b []T) { arithSV(op, d, s, b) },
	}
}

// arith computes d = a op b over p, where d's dtype is a's.
func arith(ctx *kernels.Ctx, p *plan, op arithOp, a, b, d *tensor.Tensor) {
	switch ad := a.Data.(type) {
	case []float32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]float32), d.Data.([]float32), arithLoops[float32](op))
	case []float64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]float64), d.Data.([]float64), arithLoops[float64](op))
	case []int8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int8), d.Data.([]int8), arithLoops[int8](op))
	case []uint8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint8), d.Data.([]uint8), arithLoops[uint8](op))
	case []int16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int16), d.Data.([]int16), arithLoops[int16](op))
	case []uint16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint16), d.Data.([]uint16), arithLoops[uint16](op))
	case []int32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int32), d.Data.([]int32), arithLoops[int32](op))
	case []uint32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint32), d.Data.([]uint32), arithLoops[uint32](op))
	case []int64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int64), d.Data.([]int64), arithLoops[int64](op))
	case []uint64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint64), d.Data.([]uint64), arithLoops[uint64](op))
	default:
		panic(fmt.Sprintf("elementwise: arith on %T", a.Data)) // callers check dtypes first
	}
}

// arithKernel is Add, Sub, Mul, Div and PRelu.
type arithKernel struct {
	op  string
	k   arithOp
	act *fusedClamp // Add only: a Relu or Clip the optimizer fused in
}

// Fused-activation attributes the runtime's optimizer sets on an Add or a
// Sum whose only reader was a Relu or a Clip (residual blocks): the sum is
// clamped as it is stored, which saves the activation's pass over memory.
// The names are those package kernels/nn reads on Conv and Gemm.
const (
	attrActivation      = "edgedl_activation"
	attrActivationAlpha = "edgedl_activation_alpha" // Clip's min
	attrActivationBeta  = "edgedl_activation_beta"  // Clip's max
)

// fusedClamp is a fused Relu (lo 0, hi +Inf) or Clip.
type fusedClamp struct{ lo, hi float32 }

// fusedClampOf reads the fused activation of a node, nil if there is none.
func fusedClampOf(b *kernels.BuildContext) (*fusedClamp, error) {
	a := b.Attrs()
	switch kind := a.String(attrActivation, ""); kind {
	case "":
		return nil, nil
	case "Relu":
		return &fusedClamp{0, float32(math.Inf(1))}, nil
	case "Clip":
		return &fusedClamp{a.Float(attrActivationAlpha, float32(math.Inf(-1))), a.Float(attrActivationBeta, float32(math.Inf(1)))}, nil
	default:
		return nil, b.Errorf("%s cannot fuse activation %q", b.Node.OpType, kind)
	}
}

// addClamp32 sets d = min(max(a + b, lo), hi) (NaN stays NaN), over the
// threads.
func addClamp32(ctx *kernels.Ctx, c *fusedClamp, d, a, b []float32) {
	lo, hi := c.lo, c.hi
	ctx.Parallel(len(d), 1<<14, func(i0, i1 int) {
		dd, aa, bb := d[i0:i1], a[i0:i1], b[i0:i1]
		n := len(dd)
		aa, bb = aa[:n], bb[:n]
		i := 0
		for ; i+4 <= n; i += 4 {
			x, y, z := dd[i:i+4:i+4], aa[i:i+4:i+4], bb[i:i+4:i+4]
			x[0] = min(max(y[0]+z[0], lo), hi)
			x[1] = min(max(y[1]+z[1], lo), hi)
			x[2] = min(max(y[2]+z[2], lo), hi)
			x[3] = min(max(y[3]+z[3], lo), hi)
		}
		for ; i < n; i++ {
			dd[i] = min(max(aa[i]+bb[i], lo), hi)
		}
	})
}

// apply applies c to the data of t in place.
func (c *fusedClamp) apply(ctx *kernels.Ctx, t *tensor.Tensor) {
	switch d := t.Data.(type) {
	case []float32:
		ctx.Parallel(len(d), 1<<14, func(i0, i1 int) {
			for i, v := range d[i0:i1] {
				d[i0+i] = min(max(v, c.lo), c.hi)
			}
		})
	case []float64:
		lo, hi := float64(c.lo), float64(c.hi)
		ctx.Parallel(len(d), 1<<14, func(i0, i1 int) {
			for i, v := range d[i0:i1] {
				d[i0+i] = min(max(v, lo), hi)
			}
		})
	case []int8:
		reluInts(d)
	case []int16:
		reluInts(d)
	case []int32:
		reluInts(d)
	case []int64:
		reluInts(d)
	}
	// unsigned integers are never negative; Clip is fused only with
	// float32 bounds (float models)
}

// reluInts is a fused Relu on signed integers.
func reluInts[T int8 | int16 | int32 | int64](d []T) {
	for i, v := range d {
		d[i] = max(v, 0)
	}
}

// uninitAllocator is implemented by allocators that can hand out a
// recycled buffer without zeroing it (the runtime's recycler); its
// AllocUninit has the contract of kernels.Allocator.Alloc except that the
// contents are arbitrary.
type uninitAllocator interface {
	AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error)
}

// allocFull allocates an output that the kernel writes completely, so its
// old contents need not be cleared.
func allocFull(ctx *kernels.Ctx, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if ctx != nil && dt != tensor.String {
		if u, ok := ctx.Allocator.(uninitAllocator); ok {
			return u.AllocUninit(dt, shape)
		}
	}
	return ctx.Alloc(dt, shape)
}

func (k *arithKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	dt, err := sameDType(k.op, in)
	if err != nil {
		return err
	}
	if isHalf(dt) {
		return viaFloat32(ctx, k, in, out, dt, true)
	}
	if !numTypes.has(dt) {
		return kernels.Unsupported(k.op, "dtype %v", dt)
	}
	a, b := in[0], in[1]
	p, err := newPlan(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	if k.k == opPRelu && !tensor.EqualShapes(p.shape, a.Shape) {
		return fmt.Errorf("slope of shape %v does not broadcast to X's shape %v", b.Shape, a.Shape)
	}
	if k.k == opDiv && dt.IsInteger() && zeroDivisor(b) {
		return fmt.Errorf("integer division by zero")
	}
	o, err := allocFull(ctx, dt, p.shape) // the loops write every element
	if err != nil {
		return err
	}
	out[0] = o
	if k.act != nil && dt == tensor.Float32 && tensor.EqualShapes(a.Shape, b.Shape) {
		addClamp32(ctx, k.act, o.F32(), a.F32(), b.F32())
		return nil
	}
	arith(ctx, p, k.k, a, b, o)
	if k.act != nil {
		k.act.apply(ctx, o)
	}
	return nil
}

// variadicKernel is Sum, Mean, Max and Min over one or more inputs.
type variadicKernel struct {
	op   string
	k    arithOp // opAdd for Sum and Mean
	mean bool
	act  *fusedClamp // Sum only: a Relu or Clip the optimizer fused in
}

// MayAlias reports that a single-input Sum/Max/Min returns its input.
func (k *variadicKernel) MayAlias() bool { return true }

func (k *variadicKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	dt, err := sameDType(k.op, in)
	if err != nil {
		return err
	}
	ok := numTypes
	if k.mean {
		ok = floatTypes
	}
	if !ok.has(dt) {
		return kernels.Unsupported(k.op, "dtype %v", dt)
	}
	for i, t := range in {
		if t == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	if len(in) == 1 && k.act == nil {
		t := in[0]
		out[0] = &tensor.Tensor{DType: t.DType, Shape: append([]int{}, t.Shape...), Data: t.Data}
		return nil
	}
	if isHalf(dt) {
		return viaFloat32(ctx, k, in, out, dt, true)
	}
	shapes := make([][]int, len(in))
	for i, t := range in {
		shapes[i] = t.Shape
	}
	shape, err := tensor.BroadcastShapes(shapes...)
	if err != nil {
		return fmt.Errorf("input shapes %v cannot be broadcast together", shapes)
	}
	if k.act != nil && len(in) == 2 && dt == tensor.Float32 && tensor.EqualShapes(in[0].Shape, in[1].Shape) {
		o, err := allocFull(ctx, dt, shape)
		if err != nil {
			return err
		}
		addClamp32(ctx, k.act, o.F32(), in[0].F32(), in[1].F32())
		out[0] = o
		return nil
	}
	o, err := ctx.Alloc(dt, shape)
	if err != nil {
		return err
	}
	if len(in) == 1 { // a fused activation: o = act(in[0])
		if err := broadcastAny(ctx, o, in[0]); err != nil {
			return err
		}
		k.act.apply(ctx, o)
		out[0] = o
		return nil
	}
	// The first pair writes o directly when it spans the full shape;
	// otherwise in[0] is broadcast into o first. Later inputs accumulate
	// in place (d and a are the same slice, which the loops allow).
	p, err := newPlan(in[0].Shape, in[1].Shape)
	if err != nil {
		return err
	}
	rest := in[2:]
	if tensor.EqualShapes(p.shape, shape) {
		arith(ctx, p, k.k, in[0], in[1], o)
	} else {
		if err := broadcastAny(ctx, o, in[0]); err != nil {
			return err
		}
		rest = in[1:]
	}
	for _, t := range rest {
		p, err := newPlan(shape, t.Shape)
		if err != nil {
			return err
		}
		arith(ctx, p, k.k, o, t, o)
	}
	if k.mean {
		scale := &tensor.Tensor{DType: dt, Shape: []int{}}
		switch dt {
		case tensor.Float32:
			scale.Data = []float32{float32(len(in))}
		case tensor.Float64:
			scale.Data = []float64{float64(len(in))}
		}
		p, err := newPlan(shape, nil)
		if err != nil {
			return err
		}
		arith(ctx, p, opDiv, o, scale, o)
	}
	if k.act != nil {
		k.act.apply(ctx, o)
	}
	out[0] = o
	return nil
}

// broadcastAny copies src broadcast to dst's shape into dst (same dtype).
func broadcastAny(ctx *kernels.Ctx, dst, src *tensor.Tensor) error {
	switch d := dst.Data.(type) {
	case []float32:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]float32))
	case []float64:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]float64))
	case []int8:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]int8))
	case []uint8:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]uint8))
	case []int16:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]int16))
	case []uint16:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]uint16))
	case []int32:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]int32))
	case []uint32:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]uint32))
	case []int64:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]int64))
	case []uint64:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]uint64))
	case []bool:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]bool))
	case []string:
		return broadcastInto(ctx, dst.Shape, d, src.Shape, src.Data.([]string))
	}
	return fmt.Errorf("cannot broadcast %T", dst.Data)
}
