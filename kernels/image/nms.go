package image

import (
	"fmt"
	"sort"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "NonMaxSuppression", 10, buildNMS)
}

// nms is a compiled NonMaxSuppression node: per batch and class, boxes are
// taken in decreasing score order (ties: lower index first) and kept unless
// they overlap an already kept box by more than iou_threshold.
type nms struct{ centerPoint bool }

func buildNMS(b *kernels.BuildContext) (kernels.Kernel, error) {
	cp := b.Attrs().Int("center_point_box", 0)
	if cp != 0 && cp != 1 {
		return nil, b.Errorf("center_point_box %d must be 0 or 1", cp)
	}
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("needs boxes and scores")
	}
	return &nms{centerPoint: cp == 1}, nil
}

// box is a normalized corner box.
type box struct{ x0, y0, x1, y1, area float32 }

func (k *nms) corners(v []float32) box {
	var b box
	if k.centerPoint {
		hw, hh := v[2]/2, v[3]/2
		b = box{x0: v[0] - hw, x1: v[0] + hw, y0: v[1] - hh, y1: v[1] + hh}
	} else {
		b = box{x0: min(v[1], v[3]), x1: max(v[1], v[3]), y0: min(v[0], v[2]), y1: max(v[0], v[2])}
	}
	b.area = (b.x1 - b.x0) * (b.y1 - b.y0)
	return b
}

// suppresses reports whether a and b overlap by more than threshold.
func suppresses(a, b box, threshold float32) bool {
	ix0, ix1 := max(a.x0, b.x0), min(a.x1, b.x1)
	if ix1 <= ix0 {
		return false
	}
	iy0, iy1 := max(a.y0, b.y0), min(a.y1, b.y1)
	if iy1 <= iy0 {
		return false
	}
	inter := (ix1 - ix0) * (iy1 - iy0)
	union := a.area + b.area - inter
	if inter <= 0 || a.area <= 0 || b.area <= 0 || union <= 0 {
		return false
	}
	return inter/union > threshold
}

func (k *nms) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	boxesT, scoresT := in[0], in[1]
	if len(boxesT.Shape) != 3 || boxesT.Shape[2] != 4 || len(scoresT.Shape) != 3 ||
		scoresT.Shape[0] != boxesT.Shape[0] || scoresT.Shape[2] != boxesT.Shape[1] {
		return fmt.Errorf("boxes %v and scores %v must be [B,N,4] and [B,C,N]", boxesT.Shape, scoresT.Shape)
	}
	if !isFloat(boxesT.DType) || !isFloat(scoresT.DType) {
		return kernels.Unsupported("NonMaxSuppression", "dtypes %v, %v", boxesT.DType, scoresT.DType)
	}
	var maxOut int64
	var iouTh, scoreTh float32
	hasScoreTh := false
	if t := optional(in, 2); t != nil && t.Len() > 0 {
		maxOut = max(t.Int64At(0), 0)
	}
	if t := optional(in, 3); t != nil && t.Len() > 0 {
		iouTh = float32(t.Float64At(0))
		if iouTh < 0 || iouTh > 1 {
			return fmt.Errorf("iou_threshold %v must be in [0,1]", iouTh)
		}
	}
	if t := optional(in, 4); t != nil && t.Len() > 0 {
		scoreTh, hasScoreTh = float32(t.Float64At(0)), true
	}
	bf, err := f32(boxesT)
	if err != nil {
		return err
	}
	sf, err := f32(scoresT)
	if err != nil {
		return err
	}
	nb, nc, n := scoresT.Shape[0], scoresT.Shape[1], scoresT.Shape[2]
	var sel []int64
	order := make([]int, 0, n)
	boxes := make([]box, n)
	var kept []box
	for b := 0; b < nb; b++ {
		for i := range boxes {
			boxes[i] = k.corners(bf[(b*n+i)*4 : (b*n+i+1)*4])
		}
		for c := 0; c < nc; c++ {
			scores := sf[(b*nc+c)*n : (b*nc+c+1)*n]
			order = order[:0]
			for i, s := range scores {
				if !hasScoreTh || s > scoreTh {
					order = append(order, i)
				}
			}
			sort.SliceStable(order, func(i, j int) bool { return scores[order[i]] > scores[order[j]] })
			kept = kept[:0]
			for _, i := range order {
				if int64(len(kept)) >= maxOut {
					break
				}
				ok := true
				for _, kb := range kept {
					if suppresses(boxes[i], kb, iouTh) {
						ok = false
						break
					}
				}
				if ok {
					kept = append(kept, boxes[i])
					sel = append(sel, int64(b), int64(c), int64(i))
				}
			}
		}
	}
	y, err := ctx.Alloc(tensor.Int64, []int{len(sel) / 3, 3})
	if err != nil {
		return err
	}
	copy(y.I64(), sel)
	out[0] = y
	return nil
}
