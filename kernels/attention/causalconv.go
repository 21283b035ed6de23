package attention

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "CausalConvWithState", 27, buildCausalConv)
	kernels.Register("", "SwiGLU", 28, buildSwiGLU)
}

// causalConv is a compiled CausalConvWithState node: a depthwise 1-D
// convolution over [past_state | input] (k-1 cached steps on the left), an
// optional SiLU, and the last k-1 steps as the new state.
type causalConv struct{ silu bool }

func buildCausalConv(b *kernels.BuildContext) (kernels.Kernel, error) {
	k := &causalConv{}
	switch act := b.Attrs().String("activation", "none"); act {
	case "none":
	case "silu", "swish":
		k.silu = true
	default:
		return nil, b.Errorf("unknown activation %q", act)
	}
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("needs input and weight")
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !isFloat(dt) {
		return nil, kernels.Unsupported("CausalConvWithState", "dtype %v", dt)
	}
	return k, nil
}

func (k *causalConv) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, w, bias, past := in[0], in[1], optional(in, 2), optional(in, 3)
	if !isFloat(x.DType) {
		return kernels.Unsupported("CausalConvWithState", "dtype %v", x.DType)
	}
	if len(x.Shape) != 3 || len(w.Shape) != 3 {
		return fmt.Errorf("input %v and weight %v must be 3-D", x.Shape, w.Shape)
	}
	bn, cn, ln := x.Shape[0], x.Shape[1], x.Shape[2]
	kn := w.Shape[2]
	if w.Shape[0] != cn || w.Shape[1] != 1 || kn < 1 {
		return fmt.Errorf("weight %v must be [%d,1,k>=1]", w.Shape, cn)
	}
	if bias != nil && (bias.Len() != cn || len(bias.Shape) != 1) {
		return fmt.Errorf("bias %v must be [%d]", bias.Shape, cn)
	}
	sn := kn - 1
	if past != nil && !tensor.EqualShapes(past.Shape, []int{bn, cn, sn}) {
		return fmt.Errorf("past_state %v must be [%d,%d,%d]", past.Shape, bn, cn, sn)
	}
	xf, err := f32(x)
	if err != nil {
		return err
	}
	wf, err := f32(w)
	if err != nil {
		return err
	}
	var bf, pf []float32
	if bias != nil {
		if bf, err = f32(bias); err != nil {
			return err
		}
	}
	if past != nil {
		if pf, err = f32(past); err != nil {
			return err
		}
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	st, err := ctx.Alloc(x.DType, []int{bn, cn, sn})
	if err != nil {
		return err
	}
	yf, sf := scratchF32(y), scratchF32(st)
	ctx.Parallel(bn*cn, 4, func(lo, hi int) {
		padded := make([]float32, sn+ln)
		for bc := lo; bc < hi; bc++ {
			if pf != nil {
				copy(padded, pf[bc*sn:(bc+1)*sn])
			} else {
				clear(padded[:sn])
			}
			copy(padded[sn:], xf[bc*ln:(bc+1)*ln])
			wk := wf[(bc%cn)*kn:][:kn]
			var b0 float32
			if bf != nil {
				b0 = bf[bc%cn]
			}
			o := yf[bc*ln:][:ln]
			for t := range o {
				acc := b0
				for j, wv := range wk {
					acc += wv * padded[t+j]
				}
				if k.silu {
					acc = acc / (1 + float32(math.Exp(float64(-acc))))
				}
				o[t] = acc
			}
			copy(sf[bc*sn:(bc+1)*sn], padded[ln:])
		}
	})
	if y.DType != tensor.Float32 {
		store(y, yf)
	}
	if st.DType != tensor.Float32 {
		store(st, sf)
	}
	out[0] = y
	if len(out) > 1 {
		out[1] = st
	}
	return nil
}

// swiGLU computes swish(a; alpha) · b elementwise.
type swiGLU struct{ alpha float32 }

func buildSwiGLU(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("needs a and b")
	}
	return &swiGLU{alpha: b.Attrs().Float("alpha", 1)}, nil
}

func (k *swiGLU) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	a, b := in[0], in[1]
	if !isFloat(a.DType) || a.DType != b.DType {
		return kernels.Unsupported("SwiGLU", "dtypes %v, %v", a.DType, b.DType)
	}
	if !tensor.EqualShapes(a.Shape, b.Shape) {
		return fmt.Errorf("a %v and b %v must have the same shape", a.Shape, b.Shape)
	}
	af, err := f32(a)
	if err != nil {
		return err
	}
	bf, err := f32(b)
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(a.DType, a.Shape)
	if err != nil {
		return err
	}
	yf := scratchF32(y)
	ctx.Parallel(len(yf), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := af[i]
			yf[i] = x / (1 + float32(math.Exp(float64(-k.alpha*x)))) * bf[i]
		}
	})
	if y.DType != tensor.Float32 {
		store(y, yf)
	}
	out[0] = y
	return nil
}
