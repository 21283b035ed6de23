package attention

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "RotaryEmbedding", 23, buildRotary)
}

// rotary is a compiled RotaryEmbedding node.
type rotary struct {
	interleaved bool
	rotDim      int // 0: the whole head
	numHeads    int // required for 3-D input
}

func buildRotary(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &rotary{
		interleaved: a.Int("interleaved", 0) != 0,
		rotDim:      int(a.Int("rotary_embedding_dim", 0)),
		numHeads:    int(a.Int("num_heads", 0)),
	}
	if k.rotDim < 0 || k.rotDim%2 != 0 || k.numHeads < 0 {
		return nil, b.Errorf("invalid rotary_embedding_dim %d or num_heads %d", k.rotDim, k.numHeads)
	}
	if len(b.Inputs) < 3 {
		return nil, b.Errorf("needs input, cos_cache and sin_cache")
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !isFloat(dt) {
		return nil, kernels.Unsupported("RotaryEmbedding", "dtype %v", dt)
	}
	return k, nil
}

func (k *rotary) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, cosT, sinT, pos := in[0], in[1], in[2], optional(in, 3)
	if !isFloat(x.DType) {
		return kernels.Unsupported("RotaryEmbedding", "dtype %v", x.DType)
	}
	// Walk the input as [B, S, H, D] with strides, whatever its layout.
	var bn, sn, hn, dn, sb, ss, sh int
	switch len(x.Shape) {
	case 4: // [B, H, S, D]
		bn, hn, sn, dn = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		sb, sh, ss = hn*sn*dn, sn*dn, dn
	case 3: // [B, S, H·D]
		if k.numHeads == 0 || x.Shape[2]%k.numHeads != 0 {
			return fmt.Errorf("3-D input %v needs num_heads dividing its last dim (num_heads %d)", x.Shape, k.numHeads)
		}
		bn, sn, hn = x.Shape[0], x.Shape[1], k.numHeads
		dn = x.Shape[2] / hn
		sb, ss, sh = sn*hn*dn, hn*dn, dn
	default:
		return fmt.Errorf("input %v must be 3-D or 4-D", x.Shape)
	}
	rd := k.rotDim
	if rd == 0 {
		rd = dn
	}
	if rd > dn || rd%2 != 0 {
		return fmt.Errorf("rotary_embedding_dim %d invalid for head size %d", rd, dn)
	}
	half := rd / 2
	// cos/sin rows are indexed by (b, s): through position_ids into a
	// [max_pos, half] cache, or directly in a [B, S, half] cache.
	var rows []int64
	if pos != nil {
		if len(pos.Shape) != 2 || pos.Shape[0] != bn || pos.Shape[1] != sn {
			return fmt.Errorf("position_ids %v must be [%d,%d]", pos.Shape, bn, sn)
		}
		if len(cosT.Shape) != 2 || !tensor.EqualShapes(cosT.Shape, sinT.Shape) || cosT.Shape[1] != half {
			return fmt.Errorf("cos_cache %v / sin_cache %v must be [max_pos,%d]", cosT.Shape, sinT.Shape, half)
		}
		rows = pos.Int64Values()
		for _, p := range rows {
			if p < 0 || p >= int64(cosT.Shape[0]) {
				return fmt.Errorf("position id %d out of range [0,%d)", p, cosT.Shape[0])
			}
		}
	} else {
		want := []int{bn, sn, half}
		if !tensor.EqualShapes(cosT.Shape, want) || !tensor.EqualShapes(sinT.Shape, want) {
			return fmt.Errorf("cos_cache %v / sin_cache %v must be %v without position_ids", cosT.Shape, sinT.Shape, want)
		}
	}
	xf, err := f32(x)
	if err != nil {
		return err
	}
	cf, err := f32(cosT)
	if err != nil {
		return err
	}
	sf, err := f32(sinT)
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	yf := scratchF32(y)
	ctx.Parallel(bn*sn, 8, func(lo, hi int) {
		for bs := lo; bs < hi; bs++ {
			b, s := bs/sn, bs%sn
			row := bs
			if rows != nil {
				row = int(rows[bs])
			}
			c, si := cf[row*half:(row+1)*half], sf[row*half:(row+1)*half]
			for h := 0; h < hn; h++ {
				o := b*sb + s*ss + h*sh
				src, dst := xf[o:o+dn], yf[o:o+dn]
				if k.interleaved {
					for i := 0; i < half; i++ {
						x1, x2 := src[2*i], src[2*i+1]
						dst[2*i] = c[i]*x1 - si[i]*x2
						dst[2*i+1] = si[i]*x1 + c[i]*x2
					}
				} else {
					for i := 0; i < half; i++ {
						x1, x2 := src[i], src[i+half]
						dst[i] = c[i]*x1 - si[i]*x2
						dst[i+half] = si[i]*x1 + c[i]*x2
					}
				}
				copy(dst[rd:], src[rd:])
			}
		}
	})
	if y.DType != tensor.Float32 {
		store(y, yf)
	}
	out[0] = y
	return nil
}
