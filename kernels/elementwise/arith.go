package elementwise

import (
	"fmt"

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
	op string
	k  arithOp
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
	o, err := ctx.Alloc(dt, p.shape)
	if err != nil {
		return err
	}
	arith(ctx, p, k.k, a, b, o)
	out[0] = o
	return nil
}

// variadicKernel is Sum, Mean, Max and Min over one or more inputs.
type variadicKernel struct {
	op   string
	k    arithOp // opAdd for Sum and Mean
	mean bool
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
	if len(in) == 1 {
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
	o, err := ctx.Alloc(dt, shape)
	if err != nil {
		return err
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
