package reduce

import (
	"math"
	"slices"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "NegativeLogLikelihoodLoss", 12, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return buildLoss(b, false)
	})
	kernels.Register("", "SoftmaxCrossEntropyLoss", 12, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return buildLoss(b, true)
	})
}

type reduction uint8

const (
	reduceNone reduction = iota
	reduceSum
	reduceMean
)

// lossKernel is a compiled NegativeLogLikelihoodLoss or
// SoftmaxCrossEntropyLoss node. Both gather -log p[n, target, d] over the
// class axis 1 of an [N, C, d1...] input; the softmax variant first turns
// scores into log-probabilities (its optional second output).
type lossKernel struct {
	name      string
	softmax   bool
	red       reduction
	ignore    int64
	hasIgnore bool
}

func buildLoss(b *kernels.BuildContext, softmax bool) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &lossKernel{name: b.Node.OpType, softmax: softmax}
	switch r := a.String("reduction", "mean"); r {
	case "none":
		k.red = reduceNone
	case "sum":
		k.red = reduceSum
	case "mean":
		k.red = reduceMean
	default:
		return nil, b.Errorf("unknown reduction %q", r)
	}
	if a.Has("ignore_index") {
		k.ignore, k.hasIgnore = a.Int("ignore_index", 0), true
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !lossSupports(dt) {
		return nil, kernels.Unsupported(k.name, "dtype %v", dt)
	}
	return k, nil
}

func lossSupports(dt tensor.DType) bool {
	switch dt {
	case tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16:
		return true
	}
	return false
}

func (k *lossKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, target := in[0], in[1]
	var weight *tensor.Tensor
	if len(in) > 2 {
		weight = in[2]
	}
	if !lossSupports(x.DType) {
		return kernels.Unsupported(k.name, "dtype %v", x.DType)
	}
	if target.DType != tensor.Int64 && target.DType != tensor.Int32 {
		return kernels.Unsupported(k.name, "target dtype %v", target.DType)
	}
	if x.Rank() < 2 {
		return errorf("input must have rank >= 2, got shape %v", x.Shape)
	}
	n, c := x.Shape[0], x.Shape[1]
	d := 1
	for _, v := range x.Shape[2:] {
		d *= v
	}
	want := append([]int{n}, x.Shape[2:]...)
	if !slices.Equal(target.Shape, want) {
		return errorf("target shape %v does not match input shape %v", target.Shape, x.Shape)
	}
	var w []float64
	if weight != nil {
		if weight.DType != x.DType || !slices.Equal(weight.Shape, []int{c}) {
			return errorf("weight must be %v of shape [%d], got %v%v", x.DType, c, weight.DType, weight.Shape)
		}
		w = make([]float64, c)
		for i := range w {
			w[i] = weight.Float64At(i)
		}
	}
	lossShape := []int{}
	if k.red == reduceNone {
		lossShape = target.Shape
	}
	loss, err := ctx.Alloc(x.DType, lossShape)
	if err != nil {
		return err
	}
	var logProb *tensor.Tensor
	if k.softmax && len(out) > 1 {
		if logProb, err = ctx.Alloc(x.DType, x.Shape); err != nil {
			return err
		}
	}
	t := target.Int64Values()
	switch x.DType {
	case tensor.Float32:
		var lp []float32
		if logProb != nil {
			lp = logProb.F32()
		}
		err = lossTyped(k, x.F32(), lp, loss.F32(), t, w, n, c, d)
	case tensor.Float64:
		var lp []float64
		if logProb != nil {
			lp = tensor.Data[float64](logProb)
		}
		err = lossTyped(k, tensor.Data[float64](x), lp, tensor.Data[float64](loss), t, w, n, c, d)
	default: // float16, bfloat16
		var lp []float32
		if logProb != nil {
			lp = make([]float32, logProb.Len())
		}
		l := make([]float32, loss.Len())
		err = lossTyped(k, widen(x), lp, l, t, w, n, c, d)
		narrow(loss, l)
		if logProb != nil {
			narrow(logProb, lp)
		}
	}
	if err != nil {
		return err
	}
	out[0] = loss
	if len(out) > 1 {
		out[1] = logProb
	}
	return nil
}

// lossTyped computes the loss of x ([n, c, d]) against targets t ([n, d]).
// For the softmax variant it also writes log-probabilities into lp when
// lp is not nil.
func lossTyped[T float32 | float64](k *lossKernel, x, lp, loss []T, t []int64, w []float64, n, c, d int) error {
	var lse []float64 // log-sum-exp over classes per (n, d)
	if k.softmax {
		lse = make([]float64, n*d)
		s := make([]float64, d)
		for i := 0; i < n; i++ {
			blk := x[i*c*d : (i+1)*c*d]
			m := lse[i*d : (i+1)*d]
			for j := range m {
				m[j] = math.Inf(-1)
			}
			for cl := 0; cl < c; cl++ {
				for j, v := range blk[cl*d : (cl+1)*d] {
					m[j] = max(m[j], float64(v))
				}
			}
			clear(s)
			for cl := 0; cl < c; cl++ {
				for j, v := range blk[cl*d : (cl+1)*d] {
					s[j] += math.Exp(float64(v) - m[j])
				}
			}
			for j := range m {
				m[j] += math.Log(s[j])
			}
			if lp != nil {
				for cl := 0; cl < c; cl++ {
					o := i*c*d + cl*d
					for j, v := range blk[cl*d : (cl+1)*d] {
						lp[o+j] = T(float64(v) - m[j])
					}
				}
			}
		}
	}
	var sum, wsum float64
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			p := i*d + j
			cl := t[p]
			if k.hasIgnore && cl == k.ignore {
				if k.red == reduceNone {
					loss[p] = 0
				}
				continue
			}
			if cl < 0 || cl >= int64(c) {
				return errorf("target %d at position %d is outside [0, %d)", cl, p, c)
			}
			v := -float64(x[i*c*d+int(cl)*d+j])
			if lse != nil {
				v += lse[p]
			}
			wt := 1.0
			if w != nil {
				wt = w[cl]
			}
			v *= wt
			if k.red == reduceNone {
				loss[p] = T(v)
			}
			sum += v
			wsum += wt
		}
	}
	switch k.red {
	case reduceSum:
		loss[0] = T(sum)
	case reduceMean:
		loss[0] = T(sum / wsum)
	}
	return nil
}
