package image

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Col2Im", 18, buildCol2Im)
}

// col2im is a compiled Col2Im node: the inverse of im2col, summing each
// column entry [N, C·∏block, L] back into its image position.
type col2im struct {
	dilations, pads, strides []int
}

func buildCol2Im(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &col2im{dilations: a.IntsAsInt("dilations", nil), pads: a.IntsAsInt("pads", nil), strides: a.IntsAsInt("strides", nil)}
	if len(b.Inputs) < 3 {
		return nil, b.Errorf("needs input, image_shape and block_shape")
	}
	return k, nil
}

func (k *col2im) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	img, blk := in[1].Int64Values(), in[2].Int64Values()
	nd := len(img)
	if len(blk) != nd || nd == 0 || len(x.Shape) != 3 {
		return fmt.Errorf("input %v, image_shape %v, block_shape %v are inconsistent", x.Shape, img, blk)
	}
	get := func(v []int, n, def int) ([]int, error) {
		if v == nil {
			v = make([]int, n)
			for i := range v {
				v[i] = def
			}
		}
		if len(v) != n {
			return nil, fmt.Errorf("attribute has %d values, want %d", len(v), n)
		}
		return v, nil
	}
	dil, err := get(k.dilations, nd, 1)
	if err != nil {
		return err
	}
	pads, err := get(k.pads, 2*nd, 0)
	if err != nil {
		return err
	}
	str, err := get(k.strides, nd, 1)
	if err != nil {
		return err
	}
	imgI, blkI := make([]int, nd), make([]int, nd)
	blocks := make([]int, nd) // sliding positions per axis
	kprod, lprod := 1, 1
	for i := 0; i < nd; i++ {
		if img[i] < 0 || blk[i] <= 0 || img[i] > int64(tensor.MaxElements) || blk[i] > int64(tensor.MaxElements) ||
			dil[i] <= 0 || str[i] <= 0 || pads[i] < 0 || pads[nd+i] < 0 {
			return fmt.Errorf("invalid image_shape %v, block_shape %v, dilations %v, strides %v or pads %v", img, blk, dil, str, pads)
		}
		imgI[i], blkI[i] = int(img[i]), int(blk[i])
		span := dil[i]*(blkI[i]-1) + 1
		blocks[i] = (imgI[i]+pads[i]+pads[nd+i]-span)/str[i] + 1
		if blocks[i] <= 0 {
			return fmt.Errorf("block %v does not fit image %v", blk, img)
		}
		if kprod > tensor.MaxElements/blkI[i] || lprod > tensor.MaxElements/blocks[i] {
			return fmt.Errorf("%w: block or position count", tensor.ErrTooLarge)
		}
		kprod *= blkI[i]
		lprod *= blocks[i]
	}
	n := x.Shape[0]
	if x.Shape[1]%kprod != 0 || x.Shape[2] != lprod {
		return fmt.Errorf("input %v does not match %d block elements × %d positions", x.Shape, kprod, lprod)
	}
	c := x.Shape[1] / kprod
	if !isFloat(x.DType) {
		return kernels.Unsupported("Col2Im", "dtype %v", x.DType)
	}
	y, err := ctx.Alloc(x.DType, append([]int{n, c}, imgI...))
	if err != nil {
		return err
	}
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	xf, err := f32(x)
	if err != nil {
		return err
	}
	yf := scratch(y)
	plane := 1
	for _, d := range imgI {
		plane *= d
	}
	imStr := tensor.Strides(imgI)
	ctx.Parallel(n*c, 1, func(lo, hi int) {
		kc, lc := make([]int, nd), make([]int, nd)
		for nc := lo; nc < hi; nc++ {
			dst := yf[nc*plane : (nc+1)*plane]
			clear(dst)
			clear(kc)
			for kk := 0; kk < kprod; kk++ {
				src := xf[(nc*kprod+kk)*lprod : (nc*kprod+kk+1)*lprod]
				clear(lc)
				for l := 0; l < lprod; l++ {
					off, ok := 0, true
					for i := 0; i < nd; i++ {
						p := lc[i]*str[i] - pads[i] + kc[i]*dil[i]
						if p < 0 || p >= imgI[i] {
							ok = false
							break
						}
						off += p * imStr[i]
					}
					if ok {
						dst[off] += src[l]
					}
					increment(lc, blocks)
				}
				increment(kc, blkI)
			}
		}
	})
	store(y, yf)
	return nil
}

// increment advances a row-major multi-index within shape.
func increment(idx, shape []int) {
	for a := len(idx) - 1; a >= 0; a-- {
		idx[a]++
		if idx[a] < shape[a] {
			return
		}
		idx[a] = 0
	}
}
