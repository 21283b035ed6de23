package attention

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("ai.onnx.preview", "FlexAttention", 1, buildFlex)
}

// flex is a compiled FlexAttention node (ai.onnx.preview): scaled
// dot-product attention whose scores and probabilities may be rewritten by
// graph attributes. The modifier graphs supported here take the whole
// [B, H, L, S] tensor and return one of the same shape.
type flex struct {
	scale             float32
	hasScale          bool
	scoreMod, probMod kernels.Subgraph
}

func buildFlex(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &flex{scale: a.Float("scale", 0), hasScale: a.Has("scale")}
	if a.Graph("mask_mod") != nil {
		return nil, kernels.Unsupported("FlexAttention", "mask_mod graph")
	}
	if len(b.Inputs) < 3 {
		return nil, b.Errorf("needs Q, K and V")
	}
	for _, name := range []string{"score_mod", "prob_mod"} {
		g := a.Graph(name)
		if g == nil {
			continue
		}
		if b.Compile == nil {
			return nil, kernels.Unsupported("FlexAttention", "graph attributes without a compiler")
		}
		sg, err := b.Compile(g)
		if err != nil {
			return nil, err
		}
		if len(sg.InputNames()) != 1 || sg.NumOutputs() != 1 {
			return nil, kernels.Unsupported("FlexAttention", "%s with %d inputs and %d outputs (want 1 and 1)",
				name, len(sg.InputNames()), sg.NumOutputs())
		}
		if name == "score_mod" {
			k.scoreMod = sg
		} else {
			k.probMod = sg
		}
	}
	return k, nil
}

func (k *flex) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	q, kk, v := in[0], in[1], in[2]
	if !isFloat(q.DType) || kk.DType != q.DType || v.DType != q.DType {
		return kernels.Unsupported("FlexAttention", "dtypes %v, %v, %v", q.DType, kk.DType, v.DType)
	}
	if len(q.Shape) != 4 || len(kk.Shape) != 4 || len(v.Shape) != 4 {
		return fmt.Errorf("Q %v, K %v, V %v must be 4-D", q.Shape, kk.Shape, v.Shape)
	}
	bn, hq, ln, dh := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	hk, sn, dv := kk.Shape[1], kk.Shape[2], v.Shape[3]
	if kk.Shape[0] != bn || kk.Shape[3] != dh || v.Shape[0] != bn || v.Shape[1] != hk || v.Shape[2] != sn {
		return fmt.Errorf("K %v and V %v do not match Q %v", kk.Shape, v.Shape, q.Shape)
	}
	if hk == 0 || hq%hk != 0 {
		return fmt.Errorf("q heads %d not a multiple of kv heads %d", hq, hk)
	}
	qf, err := f32(q)
	if err != nil {
		return err
	}
	kf, err := f32(kk)
	if err != nil {
		return err
	}
	vf, err := f32(v)
	if err != nil {
		return err
	}
	sShape := []int{bn, hq, ln, sn}
	n, err := tensor.NumElements(sShape)
	if err != nil {
		return err
	}
	scale := k.scale
	if !k.hasScale {
		scale = float32(1 / math.Sqrt(float64(dh)))
	}
	group := hq / hk
	s := make([]float32, n)
	if sn > 0 && ln > 0 {
		ctx.Parallel(bn*hq, 1, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				g := (bh/hq)*hk + (bh%hq)/group
				gemm.Sgemm(false, true, ln, sn, dh, scale, qf[bh*ln*dh:], dh, kf[g*sn*dh:], dh, 0, s[bh*ln*sn:], sn)
			}
		})
	}
	if s, err = k.apply(ctx, k.scoreMod, q.DType, sShape, s); err != nil {
		return err
	}
	if sn > 0 {
		for r := 0; r < bn*hq*ln; r++ {
			softmax(s[r*sn : (r+1)*sn])
		}
	}
	if s, err = k.apply(ctx, k.probMod, q.DType, sShape, s); err != nil {
		return err
	}
	y, err := ctx.Alloc(q.DType, []int{bn, hq, ln, dv})
	if err != nil {
		return err
	}
	yf := scratchF32(y)
	if sn > 0 && ln > 0 && dv > 0 {
		ctx.Parallel(bn*hq, 1, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				g := (bh/hq)*hk + (bh%hq)/group
				gemm.Sgemm(false, false, ln, dv, sn, 1, s[bh*ln*sn:], sn, vf[g*sn*dv:], dv, 0, yf[bh*ln*dv:], dv)
			}
		})
	}
	if y.DType != tensor.Float32 {
		store(y, yf)
	}
	out[0] = y
	return nil
}

// apply runs a modifier graph on s (viewed as a dt tensor of the given
// shape) and returns its float32 result.
func (k *flex) apply(ctx *kernels.Ctx, sg kernels.Subgraph, dt tensor.DType, shape []int, s []float32) ([]float32, error) {
	if sg == nil {
		return s, nil
	}
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, err
	}
	store(t, s)
	res, err := sg.Run(ctx, []*tensor.Tensor{t})
	if err != nil {
		return nil, err
	}
	r := res[0]
	if !tensor.EqualShapes(r.Shape, shape) || !isFloat(r.DType) {
		return nil, fmt.Errorf("modifier graph returned %v %v, want %v %v", r.DType, r.Shape, dt, shape)
	}
	return f32(r)
}
