package attention

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Attention", 23, buildAttention)
}

// Output modes of qk_matmul_output: which stage of the score pipeline is
// copied out.
const (
	qkRaw     = 0 // scale·Q·Kᵀ
	qkSoftcap = 1 // after soft-capping
	qkMasked  = 2 // after adding the mask (and causal/padding bias)
	qkSoftmax = 3 // attention probabilities
)

// attention is a compiled Attention node.
type attention struct {
	causal          bool
	qHeads, kvHeads int // attributes, 0 when unset (required for 3-D inputs)
	scale           float32
	hasScale        bool
	softcap         float32
	mode            int
	// want[i] reports whether output i is requested.
	want [4]bool
}

func buildAttention(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &attention{
		causal:   a.Int("is_causal", 0) != 0,
		qHeads:   int(a.Int("q_num_heads", 0)),
		kvHeads:  int(a.Int("kv_num_heads", 0)),
		scale:    a.Float("scale", 0),
		hasScale: a.Has("scale"),
		softcap:  a.Float("softcap", 0),
		mode:     int(a.Int("qk_matmul_output_mode", 0)),
	}
	if len(b.Inputs) < 3 {
		return nil, b.Errorf("needs Q, K and V, got %d inputs", len(b.Inputs))
	}
	if len(b.Node.Outputs) > 4 {
		return nil, b.Errorf("has %d outputs, at most 4 allowed", len(b.Node.Outputs))
	}
	if k.mode < qkRaw || k.mode > qkSoftmax {
		return nil, kernels.Unsupported("Attention", "qk_matmul_output_mode %d", k.mode)
	}
	if k.qHeads < 0 || k.kvHeads < 0 {
		return nil, b.Errorf("negative head count (q_num_heads %d, kv_num_heads %d)", k.qHeads, k.kvHeads)
	}
	if k.softcap < 0 || math.IsNaN(float64(k.softcap)) {
		return nil, b.Errorf("softcap %v must be >= 0", k.softcap)
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !isFloat(dt) {
		return nil, kernels.Unsupported("Attention", "dtype %v", dt)
	}
	for i, name := range b.Node.Outputs {
		k.want[i] = name != ""
	}
	return k, nil
}

func optional(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// dims are the sizes of one Attention call.
type dims struct {
	rank3            bool
	b, hq, hkv       int
	sq, skv, past, t int // query, new key, cached key and total key lengths
	dh, dv           int // head sizes of Q/K and of V
}

func (k *attention) shapes(q, kk, v, pk, pv *tensor.Tensor) (dims, error) {
	var d dims
	r := len(q.Shape)
	if len(kk.Shape) != r || len(v.Shape) != r || (r != 3 && r != 4) {
		return d, fmt.Errorf("Q, K, V must all be 3-D or 4-D, got %v, %v, %v", q.Shape, kk.Shape, v.Shape)
	}
	d.b = q.Shape[0]
	if kk.Shape[0] != d.b || v.Shape[0] != d.b {
		return d, fmt.Errorf("batch sizes differ: Q %v, K %v, V %v", q.Shape, kk.Shape, v.Shape)
	}
	if r == 4 {
		d.hq, d.sq, d.dh = q.Shape[1], q.Shape[2], q.Shape[3]
		d.hkv, d.skv = kk.Shape[1], kk.Shape[2]
		d.dv = v.Shape[3]
		if kk.Shape[3] != d.dh || v.Shape[1] != d.hkv || v.Shape[2] != d.skv {
			return d, fmt.Errorf("K %v and V %v do not match Q %v", kk.Shape, v.Shape, q.Shape)
		}
	} else {
		d.rank3 = true
		if k.qHeads == 0 || k.kvHeads == 0 {
			return d, fmt.Errorf("3-D inputs need q_num_heads and kv_num_heads")
		}
		d.hq, d.hkv = k.qHeads, k.kvHeads
		d.sq, d.skv = q.Shape[1], kk.Shape[1]
		if q.Shape[2]%d.hq != 0 || kk.Shape[2]%d.hkv != 0 || v.Shape[2]%d.hkv != 0 {
			return d, fmt.Errorf("hidden sizes Q %v, K %v, V %v not divisible by head counts %d, %d",
				q.Shape, kk.Shape, v.Shape, d.hq, d.hkv)
		}
		d.dh, d.dv = q.Shape[2]/d.hq, v.Shape[2]/d.hkv
		if kk.Shape[2]/d.hkv != d.dh || v.Shape[1] != d.skv {
			return d, fmt.Errorf("K %v and V %v do not match Q %v", kk.Shape, v.Shape, q.Shape)
		}
	}
	if d.hkv == 0 || d.hq%d.hkv != 0 {
		return d, fmt.Errorf("q heads %d not a multiple of kv heads %d", d.hq, d.hkv)
	}
	if (pk == nil) != (pv == nil) {
		return d, fmt.Errorf("past_key and past_value must be given together")
	}
	if pk != nil {
		if len(pk.Shape) != 4 || len(pv.Shape) != 4 {
			return d, fmt.Errorf("past_key %v and past_value %v must be 4-D", pk.Shape, pv.Shape)
		}
		d.past = pk.Shape[2]
		if pk.Shape[0] != d.b || pk.Shape[1] != d.hkv || pk.Shape[3] != d.dh ||
			pv.Shape[0] != d.b || pv.Shape[1] != d.hkv || pv.Shape[2] != d.past || pv.Shape[3] != d.dv {
			return d, fmt.Errorf("past_key %v / past_value %v do not match [%d,%d,*,%d/%d]",
				pk.Shape, pv.Shape, d.b, d.hkv, d.dh, d.dv)
		}
	}
	d.t = d.past + d.skv
	// Bound the per-item score scratch before allocating it.
	if _, err := tensor.NumElements([]int{d.b, d.hq, d.sq, d.t}); err != nil {
		return d, err
	}
	return d, nil
}

// maskView is an additive float mask broadcast to [B, Hq, Sq, L] through
// strides (0 on broadcast dims); columns at or past L are masked out.
type maskView struct {
	data       []float32
	sb, sh, sq int
	l          int
}

func newMaskView(m *tensor.Tensor, d dims) (*maskView, error) {
	r := len(m.Shape)
	if r < 2 || r > 4 {
		return nil, fmt.Errorf("attn_mask %v must have rank 2 to 4", m.Shape)
	}
	shape := make([]int, 4)
	for i := range shape {
		shape[i] = 1
	}
	copy(shape[4-r:], m.Shape)
	want := [3]int{d.b, d.hq, d.sq}
	for i, w := range want {
		if shape[i] != w && shape[i] != 1 {
			return nil, fmt.Errorf("attn_mask %v does not broadcast to [%d,%d,%d,%d]", m.Shape, d.b, d.hq, d.sq, d.t)
		}
	}
	if shape[3] > d.t {
		return nil, fmt.Errorf("attn_mask %v is longer than the %d keys", m.Shape, d.t)
	}
	mv := &maskView{l: shape[3]}
	st := tensor.Strides(shape)
	if shape[0] != 1 {
		mv.sb = st[0]
	}
	if shape[1] != 1 {
		mv.sh = st[1]
	}
	if shape[2] != 1 {
		mv.sq = st[2]
	}
	if m.DType == tensor.Bool {
		bs := m.Data.([]bool)
		mv.data = make([]float32, len(bs))
		ninf := float32(math.Inf(-1))
		for i, ok := range bs {
			if !ok {
				mv.data[i] = ninf
			}
		}
		return mv, nil
	}
	if !isFloat(m.DType) {
		return nil, fmt.Errorf("attn_mask dtype %v must be bool or float", m.DType)
	}
	var err error
	mv.data, err = f32(m)
	return mv, err
}

func (k *attention) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	q, kk, v := in[0], in[1], in[2]
	mask, pk, pv, nonpad := optional(in, 3), optional(in, 4), optional(in, 5), optional(in, 6)
	if q.DType != kk.DType || q.DType != v.DType {
		return fmt.Errorf("Q, K, V dtypes differ: %v, %v, %v", q.DType, kk.DType, v.DType)
	}
	if !isFloat(q.DType) {
		return kernels.Unsupported("Attention", "dtype %v", q.DType)
	}
	if pk != nil && pk.DType != q.DType || pv != nil && pv.DType != q.DType {
		return fmt.Errorf("past_key/past_value dtype differs from Q's %v", q.DType)
	}
	d, err := k.shapes(q, kk, v, pk, pv)
	if err != nil {
		return err
	}
	var mv *maskView
	if mask != nil {
		if mv, err = newMaskView(mask, d); err != nil {
			return err
		}
	}
	var lens []int64
	if nonpad != nil {
		if nonpad.Len() != d.b || (nonpad.DType != tensor.Int64 && nonpad.DType != tensor.Int32) {
			return fmt.Errorf("nonpad_kv_seqlen %v %v must be %d int64 lengths", nonpad.DType, nonpad.Shape, d.b)
		}
		lens = nonpad.Int64Values()
		for _, n := range lens {
			if n < 0 || n > int64(d.t) {
				return fmt.Errorf("nonpad_kv_seqlen %d out of range [0,%d]", n, d.t)
			}
		}
	}

	qf, err := f32(q)
	if err != nil {
		return err
	}
	// Keys and values: either the new K/V read in place, or the present
	// cache (past followed by new) when there is a past or it is requested.
	var kf, vf []float32
	kOff := func(b, g int) (int, int) { return (b*d.hkv + g) * d.skv * d.dh, d.dh }
	vOff := func(b, g int) (int, int) { return (b*d.hkv + g) * d.skv * d.dv, d.dv }
	if d.rank3 {
		kOff = func(b, g int) (int, int) { return b*d.skv*d.hkv*d.dh + g*d.dh, d.hkv * d.dh }
		vOff = func(b, g int) (int, int) { return b*d.skv*d.hkv*d.dv + g*d.dv, d.hkv * d.dv }
	}
	if pk != nil || k.want[1] || k.want[2] {
		pkT, err := present(ctx, pk, kk, d, d.dh)
		if err != nil {
			return err
		}
		pvT, err := present(ctx, pv, v, d, d.dv)
		if err != nil {
			return err
		}
		if k.want[1] {
			out[1] = pkT
		}
		if k.want[2] {
			out[2] = pvT
		}
		if kf, err = f32(pkT); err != nil {
			return err
		}
		if vf, err = f32(pvT); err != nil {
			return err
		}
		kOff = func(b, g int) (int, int) { return (b*d.hkv + g) * d.t * d.dh, d.dh }
		vOff = func(b, g int) (int, int) { return (b*d.hkv + g) * d.t * d.dv, d.dv }
	} else {
		if kf, err = f32(kk); err != nil {
			return err
		}
		if vf, err = f32(v); err != nil {
			return err
		}
	}

	yShape := []int{d.b, d.hq, d.sq, d.dv}
	if d.rank3 {
		yShape = []int{d.b, d.sq, d.hq * d.dv}
	}
	y, err := ctx.Alloc(q.DType, yShape)
	if err != nil {
		return err
	}
	yf := scratchF32(y)
	var qk *tensor.Tensor
	var qkf []float32
	if k.want[3] {
		if qk, err = ctx.Alloc(q.DType, []int{d.b, d.hq, d.sq, d.t}); err != nil {
			return err
		}
		qkf = scratchF32(qk)
	}

	scale := k.scale
	if !k.hasScale {
		scale = float32(1 / math.Sqrt(float64(d.dh)))
	}
	group := d.hq / d.hkv
	ninf := float32(math.Inf(-1))
	// Causal frontier: query i sees keys j <= i + offset.
	causalOff := func(b int) int {
		switch {
		case pk != nil:
			return d.past
		case lens != nil:
			return int(lens[b]) - d.sq
		}
		return 0
	}

	ctx.Parallel(d.b*d.hq, 1, func(lo, hi int) {
		s := make([]float32, d.sq*d.t)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/d.hq, bh%d.hq
			g := h / group
			qo, ldq := (b*d.hq+h)*d.sq*d.dh, d.dh
			if d.rank3 {
				qo, ldq = b*d.sq*d.hq*d.dh+h*d.dh, d.hq*d.dh
			}
			ko, ldk := kOff(b, g)
			vo, ldv := vOff(b, g)
			if d.t > 0 && d.sq > 0 {
				gemm.Sgemm(false, true, d.sq, d.t, d.dh, scale, qf[qo:], ldq, kf[ko:], ldk, 0, s, d.t)
			}
			var qkRow []float32
			if qkf != nil {
				qkRow = qkf[bh*d.sq*d.t : (bh+1)*d.sq*d.t]
			}
			if k.mode == qkRaw && qkRow != nil {
				copy(qkRow, s)
			}
			if k.softcap > 0 {
				c := k.softcap
				for i, x := range s {
					s[i] = c * float32(math.Tanh(float64(x/c)))
				}
			}
			if k.mode == qkSoftcap && qkRow != nil {
				copy(qkRow, s)
			}
			off := causalOff(b)
			kvLen := d.t
			if lens != nil {
				kvLen = int(lens[b])
			}
			for i := 0; i < d.sq; i++ {
				row := s[i*d.t : (i+1)*d.t]
				if mv != nil {
					m := mv.data[b*mv.sb+h*mv.sh+i*mv.sq:]
					for j := 0; j < mv.l; j++ {
						row[j] += m[j]
					}
					for j := mv.l; j < d.t; j++ {
						row[j] = ninf
					}
				}
				end := kvLen
				if k.causal {
					end = min(end, max(i+off+1, 0))
				}
				for j := end; j < d.t; j++ {
					row[j] = ninf
				}
			}
			if k.mode == qkMasked && qkRow != nil {
				copy(qkRow, s)
			}
			for i := 0; i < d.sq; i++ {
				softmax(s[i*d.t : (i+1)*d.t])
			}
			if k.mode == qkSoftmax && qkRow != nil {
				copy(qkRow, s)
			}
			yo, ldy := bh*d.sq*d.dv, d.dv
			if d.rank3 {
				yo, ldy = b*d.sq*d.hq*d.dv+h*d.dv, d.hq*d.dv
			}
			if d.sq > 0 && d.dv > 0 {
				if d.t == 0 {
					for i := 0; i < d.sq; i++ {
						clear(yf[yo+i*ldy : yo+i*ldy+d.dv])
					}
				} else {
					gemm.Sgemm(false, false, d.sq, d.dv, d.t, 1, s, d.t, vf[vo:], ldv, 0, yf[yo:], ldy)
				}
			}
		}
	})
	if y.DType != tensor.Float32 {
		store(y, yf)
	}
	out[0] = y
	if qk != nil {
		if qk.DType != tensor.Float32 {
			store(qk, qkf)
		}
		out[3] = qk
	}
	return nil
}

// scratchF32 returns t's data if it is float32, else a float32 buffer of
// t's length to be stored into t afterwards.
func scratchF32(t *tensor.Tensor) []float32 {
	if d, ok := t.Data.([]float32); ok {
		return d
	}
	return make([]float32, t.Len())
}

// softmax normalises row in place. A row with no finite score (every key
// masked) becomes all zeros rather than NaN, so fully padded queries give a
// zero output.
func softmax(row []float32) {
	m := float32(math.Inf(-1))
	for _, x := range row {
		if x > m {
			m = x
		}
	}
	if math.IsInf(float64(m), -1) {
		clear(row)
		return
	}
	var sum float32
	for i, x := range row {
		e := float32(math.Exp(float64(x - m)))
		row[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range row {
		row[i] *= inv
	}
}

// present allocates the [B, Hkv, past+S, D] cache of the node's dtype:
// the past entries followed by the new ones (cur is [B,Hkv,S,D], or
// [B,S,Hkv·D] for 3-D inputs).
func present(ctx *kernels.Ctx, past, cur *tensor.Tensor, d dims, hd int) (*tensor.Tensor, error) {
	t, err := ctx.Alloc(cur.DType, []int{d.b, d.hkv, d.t, hd})
	if err != nil {
		return nil, err
	}
	var pd any
	if past != nil {
		pd = past.Data
	}
	switch dst := t.Data.(type) {
	case []float32:
		concatKV(dst, pd, cur.Data.([]float32), d, hd)
	case []float64:
		concatKV(dst, pd, cur.Data.([]float64), d, hd)
	case []uint16:
		concatKV(dst, pd, cur.Data.([]uint16), d, hd)
	default:
		return nil, kernels.Unsupported("Attention", "dtype %v", cur.DType)
	}
	return t, nil
}

func concatKV[T float32 | float64 | uint16](dst []T, pastAny any, cur []T, d dims, hd int) {
	var past []T
	if pastAny != nil {
		past = pastAny.([]T)
	}
	for b := 0; b < d.b; b++ {
		for g := 0; g < d.hkv; g++ {
			o := dst[(b*d.hkv+g)*d.t*hd:]
			if d.past > 0 {
				n := copy(o, past[(b*d.hkv+g)*d.past*hd:(b*d.hkv+g+1)*d.past*hd])
				o = o[n:]
			}
			if !d.rank3 {
				copy(o, cur[(b*d.hkv+g)*d.skv*hd:(b*d.hkv+g+1)*d.skv*hd])
				continue
			}
			for s := 0; s < d.skv; s++ {
				src := cur[(b*d.skv+s)*d.hkv*hd+g*hd:]
				copy(o[s*hd:(s+1)*hd], src[:hd])
			}
		}
	}
}
