package nn

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
)

// Attribute names of the fused-activation epilogue that the runtime's
// optimizer sets on Conv, ConvTranspose, Gemm and MatMul nodes when it folds
// a following activation into them (see the package documentation).
const (
	AttrActivation      = "edgedl_activation"
	AttrActivationAlpha = "edgedl_activation_alpha"
	AttrActivationBeta  = "edgedl_activation_beta"
)

// ActKind is a fused activation function.
type ActKind uint8

// The activations a kernel epilogue can apply.
const (
	ActNone        ActKind = iota
	ActRelu                // max(x, 0)
	ActClip                // min(max(x, alpha), beta); Relu6 is Clip(0, 6)
	ActLeakyRelu           // x if x >= 0 else alpha*x
	ActSigmoid             // 1 / (1 + exp(-x))
	ActHardSigmoid         // max(0, min(1, alpha*x + beta))
	ActHardSwish           // x * max(0, min(1, x/6 + 1/2))
	ActTanh                // tanh(x)
)

var actNames = map[string]ActKind{
	"": ActNone, "Relu": ActRelu, "Clip": ActClip, "LeakyRelu": ActLeakyRelu,
	"Sigmoid": ActSigmoid, "HardSigmoid": ActHardSigmoid, "HardSwish": ActHardSwish, "Tanh": ActTanh,
}

// Activation is a parsed epilogue: the function and its parameters.
type Activation struct {
	Kind        ActKind
	Alpha, Beta float32
}

// ParseActivation reads the edgedl_activation attributes of a node. The
// defaults of alpha and beta are those of the ONNX operator of the same
// name (Clip: -Inf and +Inf; LeakyRelu: 0.01; HardSigmoid: 0.2 and 0.5).
func ParseActivation(a kernels.Attrs) (Activation, error) {
	name := a.String(AttrActivation, "")
	kind, ok := actNames[name]
	if !ok {
		return Activation{}, fmt.Errorf("unknown %s %q", AttrActivation, name)
	}
	act := Activation{Kind: kind}
	switch kind {
	case ActClip:
		act.Alpha = a.Float(AttrActivationAlpha, float32(math.Inf(-1)))
		act.Beta = a.Float(AttrActivationBeta, float32(math.Inf(1)))
	case ActLeakyRelu:
		act.Alpha = a.Float(AttrActivationAlpha, 0.01)
	case ActHardSigmoid:
		act.Alpha = a.Float(AttrActivationAlpha, 0.2)
		act.Beta = a.Float(AttrActivationBeta, 0.5)
	}
	return act, nil
}

// Apply applies the activation to x in place.
func (a Activation) Apply(x []float32) { biasAct(x, 0, a) }

// biasAct computes x[i] = act(x[i] + bias) in place: the epilogue run on
// each output row while it is still in cache. The switch is outside the
// loops so each one stays branch-light.
func biasAct[F float](x []F, bias F, a Activation) {
	switch a.Kind {
	case ActNone:
		if bias != 0 {
			for i := range x {
				x[i] += bias
			}
		}
	case ActRelu, ActClip:
		// Branch-free: the signs of activations are unpredictable.
		lo, hi := a.clampRange()
		for i, v := range x {
			x[i] = clamp(v+bias, F(lo), F(hi))
		}
	case ActLeakyRelu:
		al := F(a.Alpha)
		for i, v := range x {
			v += bias
			if v < 0 {
				v *= al
			}
			x[i] = v
		}
	case ActSigmoid:
		for i, v := range x {
			x[i] = F(sigmoid(float64(v + bias)))
		}
	case ActHardSigmoid:
		al, be := F(a.Alpha), F(a.Beta)
		for i, v := range x {
			x[i] = clamp01(al*(v+bias) + be)
		}
	case ActHardSwish:
		for i, v := range x {
			v += bias
			x[i] = v * clamp01(v/6+0.5)
		}
	case ActTanh:
		for i, v := range x {
			x[i] = F(math.Tanh(float64(v + bias)))
		}
	}
}

// clampRange returns the bounds of a Relu or Clip activation, and (-Inf,
// +Inf) for ActNone.
func (a Activation) clampRange() (lo, hi float32) {
	switch a.Kind {
	case ActRelu:
		return 0, float32(math.Inf(1))
	case ActClip:
		return a.Alpha, a.Beta
	}
	return float32(math.Inf(-1)), float32(math.Inf(1))
}

// isClamp reports whether the activation is a clamp (or nothing), which
// kernels fuse into their store.
func (a Activation) isClamp() bool {
	return a.Kind == ActNone || a.Kind == ActRelu || a.Kind == ActClip
}

// clamp bounds v to [lo, hi] without branches; NaN stays NaN.
func clamp[F float](v, lo, hi F) F { return min(max(v, lo), hi) }

func clamp01[F float](v F) F {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

func sigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}
