package rnn

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// trainingDomain holds the optimizer operators.
const trainingDomain = "ai.onnx.preview.training"

func init() {
	kernels.Register(trainingDomain, "Adagrad", 1, buildAdagrad)
	kernels.Register(trainingDomain, "Momentum", 1, buildMomentum)
	kernels.Register(trainingDomain, "Adam", 1, buildAdam)
}

// optimKernel applies one update rule to n tensors. Inputs are R (learning
// rate), T (update count) and then `groups` lists of n tensors (X, G and
// the optimizer states); outputs are the new X and the new states, each a
// list of n tensors.
type optimKernel struct {
	name   string
	groups int // input lists after R and T
	outs   int // output lists
	// coeffs computes the per-run scalars from R and T.
	coeffs func(r float64, t int64) [2]float64
	// f32 and f64 update whole tensors: ins are the inputs of one X in
	// list order, outs the outputs.
	f32 func(c [2]float64, ins, outs [][]float32)
	f64 func(c [2]float64, ins, outs [][]float64)
}

func (k *optimKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	if len(in) < 2 || (len(in)-2)%k.groups != 0 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("%s takes R, T and %d equally long lists of tensors, got %d inputs", k.name, k.groups, len(in))
	}
	n := (len(in) - 2) / k.groups
	if len(out) > k.outs*n {
		return fmt.Errorf("%s with %d tensors has at most %d outputs, got %d", k.name, n, k.outs*n, len(out))
	}
	if in[0].Len() != 1 || !in[0].DType.IsFloat() || in[1].Len() != 1 || !in[1].DType.IsInteger() {
		return fmt.Errorf("%s: R must be a float scalar and T an integer scalar", k.name)
	}
	c := k.coeffs(in[0].Float64At(0), in[1].Int64At(0))
	for i := 0; i < n; i++ {
		x := in[2+i]
		if x == nil {
			return fmt.Errorf("%s: input %d is missing", k.name, 2+i)
		}
		if x.DType != tensor.Float32 && x.DType != tensor.Float64 {
			return kernels.Unsupported(k.name, "dtype %v", x.DType)
		}
		ins := make([]*tensor.Tensor, k.groups)
		for g := range ins {
			t := in[2+g*n+i]
			if t == nil || t.DType != x.DType || !tensor.EqualShapes(t.Shape, x.Shape) {
				return fmt.Errorf("%s: inputs %d and %d must have the same dtype and shape", k.name, 2+i, 2+g*n+i)
			}
			ins[g] = t
		}
		outs := make([]*tensor.Tensor, k.outs)
		for o := range outs {
			t, err := ctx.Alloc(x.DType, x.Shape)
			if err != nil {
				return err
			}
			outs[o] = t
		}
		if x.DType == tensor.Float32 {
			k.f32(c, slices32(ins), slices32(outs))
		} else {
			k.f64(c, slices64(ins), slices64(outs))
		}
		for o, t := range outs {
			if j := o*n + i; j < len(out) {
				out[j] = t
			}
		}
	}
	return nil
}

func slices32(ts []*tensor.Tensor) [][]float32 {
	out := make([][]float32, len(ts))
	for i, t := range ts {
		out[i] = t.F32()
	}
	return out
}

func slices64(ts []*tensor.Tensor) [][]float64 {
	out := make([][]float64, len(ts))
	for i, t := range ts {
		out[i] = tensor.Data[float64](t)
	}
	return out
}

type adagrad struct{ decay, eps, norm float64 }

// Adagrad: r = R / (1 + T·decay); g = norm·X + G; H' = H + g²;
// X' = X - r·g / (√H' + ε).
func adagradStep[T float32 | float64](p adagrad, c [2]float64, ins, outs [][]T) {
	x, g, h := ins[0], ins[1][:len(ins[0])], ins[2][:len(ins[0])]
	xo, ho := outs[0][:len(x)], outs[1][:len(x)]
	for i, xv := range x {
		gv := p.norm*float64(xv) + float64(g[i])
		hv := float64(h[i]) + gv*gv
		xo[i] = T(float64(xv) - c[0]*gv/(math.Sqrt(hv)+p.eps))
		ho[i] = T(hv)
	}
}

func buildAdagrad(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	p := adagrad{
		decay: float64(a.Float("decay_factor", 0)),
		eps:   float64(a.Float("epsilon", 0)),
		norm:  float64(a.Float("norm_coefficient", 0)),
	}
	return &optimKernel{
		name: "Adagrad", groups: 3, outs: 2,
		coeffs: func(r float64, t int64) [2]float64 { return [2]float64{r / (1 + float64(t)*p.decay)} },
		f32:    func(c [2]float64, ins, outs [][]float32) { adagradStep(p, c, ins, outs) },
		f64:    func(c [2]float64, ins, outs [][]float64) { adagradStep(p, c, ins, outs) },
	}, nil
}

type momentum struct {
	alpha, beta, norm float64
	nesterov          bool
}

// Momentum: g = norm·X + G; V' = α·V + β'·g with β' = 1 on the first
// update (T = 0); standard: X' = X - R·V'; nesterov: X' = X - R·(g + α·V').
func momentumStep[T float32 | float64](p momentum, c [2]float64, ins, outs [][]T) {
	x, g, v := ins[0], ins[1][:len(ins[0])], ins[2][:len(ins[0])]
	xo, vo := outs[0][:len(x)], outs[1][:len(x)]
	for i, xv := range x {
		gv := p.norm*float64(xv) + float64(g[i])
		vv := p.alpha*float64(v[i]) + c[1]*gv
		if p.nesterov {
			xo[i] = T(float64(xv) - c[0]*(gv+p.alpha*vv))
		} else {
			xo[i] = T(float64(xv) - c[0]*vv)
		}
		vo[i] = T(vv)
	}
}

func buildMomentum(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	for _, name := range []string{"alpha", "beta", "mode", "norm_coefficient"} {
		if !a.Has(name) {
			return nil, b.Errorf("missing required attribute %q", name)
		}
	}
	p := momentum{
		alpha: float64(a.Float("alpha", 0)),
		beta:  float64(a.Float("beta", 0)),
		norm:  float64(a.Float("norm_coefficient", 0)),
	}
	switch m := a.String("mode", ""); m {
	case "standard":
	case "nesterov":
		p.nesterov = true
	default:
		return nil, b.Errorf("unknown mode %q", m)
	}
	return &optimKernel{
		name: "Momentum", groups: 3, outs: 2,
		coeffs: func(r float64, t int64) [2]float64 {
			if t > 0 {
				return [2]float64{r, p.beta}
			}
			return [2]float64{r, 1}
		},
		f32: func(c [2]float64, ins, outs [][]float32) { momentumStep(p, c, ins, outs) },
		f64: func(c [2]float64, ins, outs [][]float64) { momentumStep(p, c, ins, outs) },
	}, nil
}

type adam struct{ alpha, beta, eps, norm, post float64 }

// Adam: g = norm·X + G; V' = α·V + (1-α)·g; H' = β·H + (1-β)·g²;
// r = R·√(1-β^T)/(1-α^T) (just R when T = 0);
// X' = (1 - norm_post)·(X - r·V'/(√H' + ε)).
func adamStep[T float32 | float64](p adam, c [2]float64, ins, outs [][]T) {
	n := len(ins[0])
	x, g, v, h := ins[0], ins[1][:n], ins[2][:n], ins[3][:n]
	xo, vo, ho := outs[0][:n], outs[1][:n], outs[2][:n]
	for i, xv := range x {
		gv := p.norm*float64(xv) + float64(g[i])
		vv := p.alpha*float64(v[i]) + (1-p.alpha)*gv
		hv := p.beta*float64(h[i]) + (1-p.beta)*gv*gv
		xn := float64(xv) - c[0]*vv/(math.Sqrt(hv)+p.eps)
		xo[i], vo[i], ho[i] = T((1-p.post)*xn), T(vv), T(hv)
	}
}

func buildAdam(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	p := adam{
		alpha: float64(a.Float("alpha", 0.9)),
		beta:  float64(a.Float("beta", 0.999)),
		eps:   float64(a.Float("epsilon", 0)),
		norm:  float64(a.Float("norm_coefficient", 0)),
		post:  float64(a.Float("norm_coefficient_post", 0)),
	}
	return &optimKernel{
		name: "Adam", groups: 4, outs: 3,
		coeffs: func(r float64, t int64) [2]float64 {
			if t > 0 {
				ft := float64(t)
				r *= math.Sqrt(1-math.Pow(p.beta, ft)) / (1 - math.Pow(p.alpha, ft))
			}
			return [2]float64{r}
		},
		f32: func(c [2]float64, ins, outs [][]float32) { adamStep(p, c, ins, outs) },
		f64: func(c [2]float64, ins, outs [][]float64) { adamStep(p, c, ins, outs) },
	}, nil
}
