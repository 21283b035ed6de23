package elementwise

import (
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// cmpOp is a comparison. Greater and GreaterOrEqual run as Less and
// LessOrEqual with the operands swapped.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opLt
	opLe
)

func cmpVV[T ordered](op cmpOp, d []bool, a, b []T) {
	a, b = a[:len(d)], b[:len(d)]
	switch op {
	case opEq:
		for i := range d {
			d[i] = a[i] == b[i]
		}
	case opLt:
		for i := range d {
			d[i] = a[i] < b[i]
		}
	case opLe:
		for i := range d {
			d[i] = a[i] <= b[i]
		}
	}
}

func cmpVS[T ordered](op cmpOp, d []bool, a []T, s T) {
	a = a[:len(d)]
	switch op {
	case opEq:
		for i := range d {
			d[i] = a[i] == s
		}
	case opLt:
		for i := range d {
			d[i] = a[i] < s
		}
	case opLe:
		for i := range d {
			d[i] = a[i] <= s
		}
	}
}

func cmpSV[T ordered](op cmpOp, d []bool, s T, b []T) {
	b = b[:len(d)]
	switch op {
	case opEq:
		for i := range d {
			d[i] = s == b[i]
		}
	case opLt:
		for i := range d {
			d[i] = s < b[i]
		}
	case opLe:
		for i := range d {
			d[i] = s <= b[i]
		}
	}
}

func cmpLoops[T ordered](op cmpOp) binLoops[T, T, bool] {
	return binLoops[T, T, bool]{
		vv: func(d []bool, a, b []T) { cmpVV(op, d, a, b) },
		vs: func(d []bool, a []T, s T) { cmpVS(op, d, a, s) },
		sv: func(d []bool, s T, b []T) { cmpSV(op, d, s, b) },
	}
}

// cmpKernel is Equal, Less, LessOrEqual, Greater and GreaterOrEqual.
type cmpKernel struct {
	op   string
	k    cmpOp
	swap bool
}

func (k *cmpKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	dt, err := sameDType(k.op, in)
	if err != nil {
		return err
	}
	ok := numTypes
	if k.k == opEq {
		ok = allTypes
	}
	if !ok.has(dt) {
		return kernels.Unsupported(k.op, "dtype %v", dt)
	}
	if isHalf(dt) {
		return viaFloat32(ctx, k, in, out, dt, false)
	}
	a, b := in[0], in[1]
	if k.swap {
		a, b = b, a
	}
	p, err := newPlan(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	o, err := ctx.Alloc(tensor.Bool, p.shape)
	if err != nil {
		return err
	}
	d := o.Data.([]bool)
	switch ad := a.Data.(type) {
	case []float32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]float32), d, cmpLoops[float32](k.k))
	case []float64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]float64), d, cmpLoops[float64](k.k))
	case []int8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int8), d, cmpLoops[int8](k.k))
	case []uint8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint8), d, cmpLoops[uint8](k.k))
	case []int16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int16), d, cmpLoops[int16](k.k))
	case []uint16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint16), d, cmpLoops[uint16](k.k))
	case []int32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int32), d, cmpLoops[int32](k.k))
	case []uint32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint32), d, cmpLoops[uint32](k.k))
	case []int64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int64), d, cmpLoops[int64](k.k))
	case []uint64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint64), d, cmpLoops[uint64](k.k))
	case []string:
		runBinary(ctx, p, grainMath, ad, b.Data.([]string), d, cmpLoops[string](k.k))
	case []bool: // Equal only
		runBinary(ctx, p, grainCheap, ad, b.Data.([]bool), d, logicLoops(opXnor))
	}
	out[0] = o
	return nil
}

// logicOp is a boolean (And, Or, Xor) or bitwise operator.
type logicOp uint8

const (
	opAnd logicOp = iota
	opOr
	opXor
	opXnor // bool equality
)

func logicLoops(op logicOp) binLoops[bool, bool, bool] {
	return binLoops[bool, bool, bool]{
		vv: func(d, a, b []bool) {
			a, b = a[:len(d)], b[:len(d)]
			switch op {
			case opAnd:
				for i := range d {
					d[i] = a[i] && b[i]
				}
			case opOr:
				for i := range d {
					d[i] = a[i] || b[i]
				}
			case opXor:
				for i := range d {
					d[i] = a[i] != b[i]
				}
			case opXnor:
				for i := range d {
					d[i] = a[i] == b[i]
				}
			}
		},
		vs: func(d, a []bool, s bool) { logicVS(op, d, a, s) },
		sv: func(d []bool, s bool, b []bool) { logicVS(op, d, b, s) }, // all commutative
	}
}

func logicVS(op logicOp, d, a []bool, s bool) {
	a = a[:len(d)]
	switch op {
	case opAnd:
		for i := range d {
			d[i] = a[i] && s
		}
	case opOr:
		for i := range d {
			d[i] = a[i] || s
		}
	case opXor:
		for i := range d {
			d[i] = a[i] != s
		}
	case opXnor:
		for i := range d {
			d[i] = a[i] == s
		}
	}
}

func bitVS[T integer](op logicOp, d, a []T, s T) {
	a = a[:len(d)]
	switch op {
	case opAnd:
		for i := range d {
			d[i] = a[i] & s
		}
	case opOr:
		for i := range d {
			d[i] = a[i] | s
		}
	case opXor:
		for i := range d {
			d[i] = a[i] ^ s
		}
	}
}

func bitLoops[T integer](op logicOp) binLoops[T, T, T] {
	return binLoops[T, T, T]{
		vv: func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			switch op {
			case opAnd:
				for i := range d {
					d[i] = a[i] & b[i]
				}
			case opOr:
				for i := range d {
					d[i] = a[i] | b[i]
				}
			case opXor:
				for i := range d {
					d[i] = a[i] ^ b[i]
				}
			}
		},
		vs: func(d, a []T, s T) { bitVS(op, d, a, s) },
		sv: func(d []T, s T, b []T) { bitVS(op, d, b, s) },
	}
}

// logicKernel is And, Or, Xor (bool) and BitwiseAnd, BitwiseOr, BitwiseXor
// (integers).
type logicKernel struct {
	op      string
	k       logicOp
	bitwise bool
}

func (k *logicKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	dt, err := sameDType(k.op, in)
	if err != nil {
		return err
	}
	if k.bitwise && !dt.IsInteger() || !k.bitwise && dt != tensor.Bool {
		return kernels.Unsupported(k.op, "dtype %v", dt)
	}
	a, b := in[0], in[1]
	p, err := newPlan(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	o, err := ctx.Alloc(dt, p.shape)
	if err != nil {
		return err
	}
	switch ad := a.Data.(type) {
	case []bool:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]bool), o.Data.([]bool), logicLoops(k.k))
	case []int8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int8), o.Data.([]int8), bitLoops[int8](k.k))
	case []uint8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint8), o.Data.([]uint8), bitLoops[uint8](k.k))
	case []int16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int16), o.Data.([]int16), bitLoops[int16](k.k))
	case []uint16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint16), o.Data.([]uint16), bitLoops[uint16](k.k))
	case []int32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int32), o.Data.([]int32), bitLoops[int32](k.k))
	case []uint32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint32), o.Data.([]uint32), bitLoops[uint32](k.k))
	case []int64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int64), o.Data.([]int64), bitLoops[int64](k.k))
	case []uint64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint64), o.Data.([]uint64), bitLoops[uint64](k.k))
	}
	out[0] = o
	return nil
}

// shiftKernel is BitShift (unsigned integers). Shifting by the width or
// more gives 0, as numpy does.
type shiftKernel struct{ left bool }

func (k *shiftKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	dt, err := sameDType("BitShift", in)
	if err != nil {
		return err
	}
	if !uintTypes.has(dt) {
		return kernels.Unsupported("BitShift", "dtype %v", dt)
	}
	a, b := in[0], in[1]
	p, err := newPlan(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	o, err := ctx.Alloc(dt, p.shape)
	if err != nil {
		return err
	}
	switch ad := a.Data.(type) {
	case []uint8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint8), o.Data.([]uint8), shiftLoops[uint8](k.left))
	case []uint16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint16), o.Data.([]uint16), shiftLoops[uint16](k.left))
	case []uint32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint32), o.Data.([]uint32), shiftLoops[uint32](k.left))
	case []uint64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint64), o.Data.([]uint64), shiftLoops[uint64](k.left))
	}
	out[0] = o
	return nil
}

func shiftLoops[T unsigned](left bool) binLoops[T, T, T] {
	if left {
		return elemLoops(func(a, b T) T { return a << b })
	}
	return elemLoops(func(a, b T) T { return a >> b })
}
