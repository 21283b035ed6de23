package attention

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "LinearAttention", 27, buildLinearAttention)
}

// linearAttention is a compiled LinearAttention node: a recurrent
// key-value state S (d_k × d_v per KV head) updated once per time step by
//
//	S ← exp(g_t) ⊙ S                      (gated rules)
//	v_t ← β_t (v_t − Sᵀ (e_t ⊙ k_t))       (delta rules; e is the erase gate)
//	S ← S + k_t v_tᵀ
//	o_t = scale · Sᵀ q_t                   (query heads share their group's S)
type linearAttention struct {
	qHeads, kvHeads int
	scale           float32
	gating, delta   bool
}

func buildLinearAttention(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &linearAttention{
		qHeads:  int(a.Int("q_num_heads", 0)),
		kvHeads: int(a.Int("kv_num_heads", 0)),
		scale:   a.Float("scale", 0),
	}
	switch rule := a.String("update_rule", "gated_delta"); rule {
	case "linear":
	case "gated":
		k.gating = true
	case "delta":
		k.delta = true
	case "gated_delta":
		k.gating, k.delta = true, true
	default:
		return nil, b.Errorf("unknown update_rule %q", rule)
	}
	if k.qHeads <= 0 || k.kvHeads <= 0 || k.qHeads%k.kvHeads != 0 {
		return nil, b.Errorf("q_num_heads %d must be a positive multiple of kv_num_heads %d", k.qHeads, k.kvHeads)
	}
	if len(b.Inputs) < 3 {
		return nil, b.Errorf("needs query, key and value")
	}
	if k.gating != b.HasInput(4) {
		return nil, b.Errorf("decay input must be given exactly for the gated update rules")
	}
	if k.delta != b.HasInput(5) {
		return nil, b.Errorf("beta input must be given exactly for the delta update rules")
	}
	if b.HasInput(6) && !k.delta {
		return nil, b.Errorf("erase_gate needs a delta update rule")
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !isFloat(dt) {
		return nil, kernels.Unsupported("LinearAttention", "dtype %v", dt)
	}
	return k, nil
}

func (k *linearAttention) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	q, kk, v := in[0], in[1], in[2]
	past, decay, beta, erase := optional(in, 3), optional(in, 4), optional(in, 5), optional(in, 6)
	if !isFloat(q.DType) {
		return kernels.Unsupported("LinearAttention", "dtype %v", q.DType)
	}
	if len(q.Shape) != 3 || len(kk.Shape) != 3 || len(v.Shape) != 3 {
		return fmt.Errorf("query %v, key %v, value %v must be 3-D", q.Shape, kk.Shape, v.Shape)
	}
	bn, tn := q.Shape[0], q.Shape[1]
	hq, hk := k.qHeads, k.kvHeads
	if q.Shape[2]%hq != 0 || v.Shape[2]%hk != 0 {
		return fmt.Errorf("hidden sizes of query %v / value %v not divisible by heads %d / %d", q.Shape, v.Shape, hq, hk)
	}
	dk, dv := q.Shape[2]/hq, v.Shape[2]/hk
	same := func(s []int, last int) bool { return len(s) == 3 && s[0] == bn && s[1] == tn && s[2] == last }
	if !same(kk.Shape, hk*dk) || !same(v.Shape, hk*dv) {
		return fmt.Errorf("key %v / value %v do not match query %v", kk.Shape, v.Shape, q.Shape)
	}
	// Per-step decay and beta widths: per key dim or per head (decay),
	// per head or shared (beta).
	decayW, betaW := 0, 0
	if decay != nil {
		switch {
		case same(decay.Shape, hk*dk):
			decayW = dk
		case same(decay.Shape, hk):
			decayW = 1
		default:
			return fmt.Errorf("decay %v must be [%d,%d,%d] or [%d,%d,%d]", decay.Shape, bn, tn, hk*dk, bn, tn, hk)
		}
	}
	if beta != nil {
		switch {
		case same(beta.Shape, hk):
			betaW = 1
		case same(beta.Shape, 1):
			betaW = 0
		default:
			return fmt.Errorf("beta %v must be [%d,%d,%d] or [%d,%d,1]", beta.Shape, bn, tn, hk, bn, tn)
		}
	}
	if erase != nil && !same(erase.Shape, hk*dk) {
		return fmt.Errorf("erase_gate %v must be [%d,%d,%d]", erase.Shape, bn, tn, hk*dk)
	}
	stateShape := []int{bn, hk, dk, dv}
	stateDT := q.DType
	if past != nil {
		if !tensor.EqualShapes(past.Shape, stateShape) {
			return fmt.Errorf("past_state %v must be %v", past.Shape, stateShape)
		}
		stateDT = past.DType
	}
	conv := func(t *tensor.Tensor) ([]float32, error) {
		if t == nil {
			return nil, nil
		}
		return f32(t)
	}
	qf, err := conv(q)
	if err != nil {
		return err
	}
	kf, err := conv(kk)
	if err != nil {
		return err
	}
	vf, err := conv(v)
	if err != nil {
		return err
	}
	df, err := conv(decay)
	if err != nil {
		return err
	}
	bf, err := conv(beta)
	if err != nil {
		return err
	}
	ef, err := conv(erase)
	if err != nil {
		return err
	}
	pf, err := conv(past)
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(q.DType, []int{bn, tn, hq * dv})
	if err != nil {
		return err
	}
	st, err := ctx.Alloc(stateDT, stateShape)
	if err != nil {
		return err
	}
	yf, sf := scratchF32(y), scratchF32(st)
	if pf != nil {
		copy(sf, pf)
	}
	scale := k.scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(dk)))
	}
	group := hq / hk
	// Each (batch, kv head) state evolves independently.
	ctx.Parallel(bn*hk, 1, func(lo, hi int) {
		vt := make([]float32, dv)
		gate := make([]float32, dk)
		for bh := lo; bh < hi; bh++ {
			b, g := bh/hk, bh%hk
			s := sf[bh*dk*dv : (bh+1)*dk*dv]
			for t := 0; t < tn; t++ {
				row := b*tn + t
				kt := kf[row*hk*dk+g*dk:][:dk]
				copy(vt, vf[row*hk*dv+g*dv:][:dv])
				if df != nil {
					if decayW == 1 {
						e := float32(math.Exp(float64(df[row*hk+g])))
						for i := range s {
							s[i] *= e
						}
					} else {
						for d, x := range df[row*hk*dk+g*dk:][:dk] {
							gate[d] = float32(math.Exp(float64(x)))
						}
						for d := 0; d < dk; d++ {
							sr := s[d*dv : (d+1)*dv]
							for m := range sr {
								sr[m] *= gate[d]
							}
						}
					}
				}
				if k.delta {
					// retrieved[m] = Σ_d S[d,m]·k'[d]; v ← β(v − retrieved)
					bt := bf[row*max(betaW*hk, 1)+betaW*g]
					var er []float32
					if ef != nil {
						er = ef[row*hk*dk+g*dk:][:dk]
					}
					for d := 0; d < dk; d++ {
						kd := kt[d]
						if er != nil {
							kd *= er[d]
						}
						sr := s[d*dv : (d+1)*dv]
						for m, x := range sr {
							vt[m] -= x * kd
						}
					}
					for m := range vt {
						vt[m] *= bt
					}
				}
				for d := 0; d < dk; d++ {
					kd := kt[d]
					sr := s[d*dv : (d+1)*dv]
					for m := range sr {
						sr[m] += kd * vt[m]
					}
				}
				for h := g * group; h < (g+1)*group; h++ {
					qt := qf[row*hq*dk+h*dk:][:dk]
					o := yf[row*hq*dv+h*dv:][:dv]
					clear(o)
					for d := 0; d < dk; d++ {
						qd := qt[d] * scale
						sr := s[d*dv : (d+1)*dv]
						for m, x := range sr {
							o[m] += qd * x
						}
					}
				}
			}
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
