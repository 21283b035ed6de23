package elementwise

import (
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// reg registers one builder for every since-version of op that edgedl
// supports. Later versions mostly widen the dtype list, which the kernels
// check at run time, so they share a builder; versions whose semantics
// changed (Clip-11) are registered separately.
func reg(op string, build kernels.Builder, versions ...int64) {
	for _, v := range versions {
		kernels.Register("", op, v, build)
	}
}

func init() {
	// Unary math and activations: name, integer dtypes allowed, versions.
	for _, u := range []struct {
		op       string
		ints     bool
		versions []int64
	}{
		{"Abs", true, []int64{6, 13}},
		{"Neg", true, []int64{6, 13}},
		{"Floor", false, []int64{6, 13}},
		{"Ceil", false, []int64{6, 13}},
		{"Round", false, []int64{11, 22}},
		{"Sqrt", false, []int64{6, 13}},
		{"Reciprocal", false, []int64{6, 13}},
		{"Exp", false, []int64{6, 13}},
		{"Log", false, []int64{6, 13}},
		{"Sin", false, []int64{7, 22}},
		{"Cos", false, []int64{7, 22}},
		{"Tan", false, []int64{7, 22}},
		{"Asin", false, []int64{7, 22}},
		{"Acos", false, []int64{7, 22}},
		{"Atan", false, []int64{7, 22}},
		{"Sinh", false, []int64{9, 22}},
		{"Cosh", false, []int64{9, 22}},
		{"Asinh", false, []int64{9, 22}},
		{"Acosh", false, []int64{9, 22}},
		{"Atanh", false, []int64{9, 22}},
		{"Sign", true, []int64{9, 13}},
		{"Erf", false, []int64{9, 13}},
		{"Relu", true, []int64{6, 13, 14}},
		{"LeakyRelu", false, []int64{6, 16}},
		{"Elu", false, []int64{6, 22}},
		{"Selu", false, []int64{6, 22}},
		{"Celu", false, []int64{12}},
		{"Sigmoid", false, []int64{6, 13}},
		{"HardSigmoid", false, []int64{6, 22}},
		{"HardSwish", false, []int64{14, 22}},
		{"Tanh", false, []int64{6, 13}},
		{"Softplus", false, []int64{1, 22}},
		{"Softsign", false, []int64{1, 22}},
		{"Gelu", false, []int64{20}},
		{"Mish", false, []int64{18, 22}},
		{"Swish", false, []int64{24}},
		{"ThresholdedRelu", false, []int64{10, 22}},
		{"Shrink", false, []int64{9}},
		{"Clip", false, []int64{6}}, // attributes min and max
	} {
		reg(u.op, unaryBuilder(u.ints), u.versions...)
	}
	reg("Clip", buildClip, 11, 12, 13)
	reg("IsNaN", buildPred, 9, 13, 20)
	reg("IsInf", buildPred, 10, 20)
	reg("Not", buildNot, 1)
	reg("BitwiseNot", buildNot, 18)

	reg("Add", arithBuilder(opAdd), 7, 13, 14)
	reg("Sub", arithBuilder(opSub), 7, 13, 14)
	reg("Mul", arithBuilder(opMul), 7, 13, 14)
	reg("Div", arithBuilder(opDiv), 7, 13, 14)
	reg("PRelu", arithBuilder(opPRelu), 7, 9, 16)
	reg("Pow", buildPow, 7, 12, 13, 15)
	reg("Mod", buildMod, 10, 13)
	// Before opset 8 these required equal shapes, a special case of broadcasting.
	reg("Sum", variadicBuilder(opAdd, false), 6, 8, 13)
	reg("Mean", variadicBuilder(opAdd, true), 6, 8, 13)
	reg("Max", variadicBuilder(opMax, false), 6, 8, 12, 13)
	reg("Min", variadicBuilder(opMin, false), 6, 8, 12, 13)

	reg("Equal", cmpBuilder(opEq, false), 7, 11, 13, 19)
	reg("Less", cmpBuilder(opLt, false), 7, 9, 13)
	reg("LessOrEqual", cmpBuilder(opLe, false), 12, 16)
	reg("Greater", cmpBuilder(opLt, true), 7, 9, 13)
	reg("GreaterOrEqual", cmpBuilder(opLe, true), 12, 16)
	reg("And", logicBuilder(opAnd, false), 7)
	reg("Or", logicBuilder(opOr, false), 7)
	reg("Xor", logicBuilder(opXor, false), 7)
	reg("BitwiseAnd", logicBuilder(opAnd, true), 18)
	reg("BitwiseOr", logicBuilder(opOr, true), 18)
	reg("BitwiseXor", logicBuilder(opXor, true), 18)
	reg("BitShift", buildShift, 11)
	reg("Where", buildWhere, 9, 16)

	reg("Cast", buildCast, 6, 9, 13, 19, 21, 23, 24, 25)
	reg("CastLike", buildCastLike, 15, 19, 21, 23, 24, 25)
}

func unaryBuilder(ints bool) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if err := checkInputs(b, 1, 1); err != nil {
			return nil, err
		}
		op := b.Node.OpType
		ok := floatTypes
		if ints {
			ok |= intTypes
		}
		if err := checkBuildDTypes(b, ok, 0); err != nil {
			return nil, err
		}
		act, err := ActivationFromAttrs(op, b.Attrs())
		if err != nil {
			return nil, b.Errorf("%v", err)
		}
		return &unaryKernel{op: op, k: act.k, p: act.p, ints: ints}, nil
	}
}

func buildClip(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 1, 3); err != nil {
		return nil, err
	}
	if err := checkBuildDTypes(b, numTypes, 0, 1, 2); err != nil {
		return nil, err
	}
	return clipKernel{}, nil
}

func buildPred(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 1, 1); err != nil {
		return nil, err
	}
	if err := checkBuildDTypes(b, floatTypes, 0); err != nil {
		return nil, err
	}
	k := &predKernel{op: b.Node.OpType}
	if k.op == "IsInf" {
		k.pos = b.Attrs().Int("detect_positive", 1) != 0
		k.neg = b.Attrs().Int("detect_negative", 1) != 0
		if !k.pos && !k.neg {
			return nil, b.Errorf("detect_positive and detect_negative are both 0")
		}
	}
	return k, nil
}

func buildNot(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 1, 1); err != nil {
		return nil, err
	}
	ok := boolType
	if b.Node.OpType == "BitwiseNot" {
		ok = intTypes
	}
	if err := checkBuildDTypes(b, ok, 0); err != nil {
		return nil, err
	}
	return &notKernel{op: b.Node.OpType}, nil
}

func arithBuilder(k arithOp) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if err := checkInputs(b, 2, 2); err != nil {
			return nil, err
		}
		if err := checkBuildDTypes(b, numTypes, 0, 1); err != nil {
			return nil, err
		}
		ak := &arithKernel{op: b.Node.OpType, k: k}
		if k == opAdd {
			var err error
			if ak.act, err = fusedClampOf(b); err != nil {
				return nil, err
			}
		}
		return ak, nil
	}
}

func variadicBuilder(k arithOp, mean bool) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if err := checkInputs(b, 1, -1); err != nil {
			return nil, err
		}
		for i := range b.Inputs {
			if !b.Inputs[i].Present {
				return nil, b.Errorf("input %d is empty", i)
			}
		}
		ok := numTypes
		if mean {
			ok = floatTypes
		}
		for i := range b.Inputs {
			if err := checkBuildDTypes(b, ok, i); err != nil {
				return nil, err
			}
		}
		vk := &variadicKernel{op: b.Node.OpType, k: k, mean: mean}
		if k == opAdd && !mean {
			var err error
			if vk.act, err = fusedClampOf(b); err != nil {
				return nil, err
			}
		}
		return vk, nil
	}
}

func buildPow(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 2, 2); err != nil {
		return nil, err
	}
	if err := checkBuildDTypes(b, numTypes, 0, 1); err != nil {
		return nil, err
	}
	return &powKernel{}, nil
}

func buildMod(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 2, 2); err != nil {
		return nil, err
	}
	if err := checkBuildDTypes(b, numTypes, 0, 1); err != nil {
		return nil, err
	}
	fmod := b.Attrs().Int("fmod", 0)
	if fmod != 0 && fmod != 1 {
		return nil, b.Errorf("fmod must be 0 or 1, got %d", fmod)
	}
	return &modKernel{fmod: fmod == 1}, nil
}

func cmpBuilder(k cmpOp, swap bool) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if err := checkInputs(b, 2, 2); err != nil {
			return nil, err
		}
		ok := numTypes
		if k == opEq {
			ok = allTypes
		}
		if err := checkBuildDTypes(b, ok, 0, 1); err != nil {
			return nil, err
		}
		return &cmpKernel{op: b.Node.OpType, k: k, swap: swap}, nil
	}
}

func logicBuilder(k logicOp, bitwise bool) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if err := checkInputs(b, 2, 2); err != nil {
			return nil, err
		}
		ok := boolType
		if bitwise {
			ok = intTypes
		}
		if err := checkBuildDTypes(b, ok, 0, 1); err != nil {
			return nil, err
		}
		return &logicKernel{op: b.Node.OpType, k: k, bitwise: bitwise}, nil
	}
}

func buildShift(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 2, 2); err != nil {
		return nil, err
	}
	if err := checkBuildDTypes(b, uintTypes, 0, 1); err != nil {
		return nil, err
	}
	switch dir := b.Attrs().String("direction", ""); dir {
	case "LEFT":
		return &shiftKernel{left: true}, nil
	case "RIGHT":
		return &shiftKernel{}, nil
	default:
		return nil, b.Errorf("direction must be LEFT or RIGHT, got %q", dir)
	}
}

func buildWhere(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 3, 3); err != nil {
		return nil, err
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && dt != tensor.Bool {
		return nil, b.Errorf("condition must be bool, is %v", dt)
	}
	if err := checkBuildDTypes(b, allTypes, 1, 2); err != nil {
		return nil, err
	}
	return whereKernel{}, nil
}
