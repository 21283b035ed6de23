package image

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	for _, v := range []int64{10, 16, 22} {
		kernels.Register("", "RoiAlign", v, buildRoiAlign)
	}
}

// roiAlign is a compiled RoiAlign node: each region of interest is split
// into output_height × output_width bins, each bin sampled on a regular
// grid with bilinear interpolation and reduced by average or max.
type roiAlign struct {
	halfPixel     bool
	max           bool
	outH, outW    int
	samplingRatio int
	spatialScale  float64
}

func buildRoiAlign(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &roiAlign{
		outH:          int(a.Int("output_height", 1)),
		outW:          int(a.Int("output_width", 1)),
		samplingRatio: int(a.Int("sampling_ratio", 0)),
		spatialScale:  float64(a.Float("spatial_scale", 1)),
	}
	def := "half_pixel"
	if b.Opset < 16 {
		def = "output_half_pixel"
	}
	switch c := a.String("coordinate_transformation_mode", def); c {
	case "half_pixel":
		k.halfPixel = true
	case "output_half_pixel":
	default:
		return nil, b.Errorf("unknown coordinate_transformation_mode %q", c)
	}
	switch m := a.String("mode", "avg"); m {
	case "avg":
	case "max":
		k.max = true
	default:
		return nil, b.Errorf("unknown mode %q", m)
	}
	if k.outH <= 0 || k.outW <= 0 || k.samplingRatio < 0 || k.outH*k.outW > 1<<24 {
		return nil, b.Errorf("invalid output size %dx%d or sampling_ratio %d", k.outH, k.outW, k.samplingRatio)
	}
	if len(b.Inputs) < 3 {
		return nil, b.Errorf("needs X, rois and batch_indices")
	}
	return k, nil
}

// sample is one bilinear sample: four plane offsets and weights.
type sample struct {
	pos [4]int
	w   [4]float64
}

func (k *roiAlign) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, rois, bidx := in[0], in[1], in[2]
	if len(x.Shape) != 4 {
		return fmt.Errorf("X %v must be 4-D", x.Shape)
	}
	if !isFloat(x.DType) || !isFloat(rois.DType) {
		return kernels.Unsupported("RoiAlign", "dtypes %v, %v", x.DType, rois.DType)
	}
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	nr := bidx.Len()
	if len(rois.Shape) != 2 || rois.Shape[0] != nr || rois.Shape[1] != 4 || len(bidx.Shape) != 1 {
		return fmt.Errorf("rois %v and batch_indices %v must be [R,4] and [R]", rois.Shape, bidx.Shape)
	}
	batches := bidx.Int64Values()
	for _, b := range batches {
		if b < 0 || b >= int64(n) {
			return fmt.Errorf("batch index %d out of range [0,%d)", b, n)
		}
	}
	y, err := ctx.Alloc(x.DType, []int{nr, c, k.outH, k.outW})
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
	rv := floats(rois)
	yf := scratch(y)
	var offset float64
	if k.halfPixel {
		offset = 0.5
	}
	bins := k.outH * k.outW
	var firstErr error
	for r := 0; r < nr; r++ {
		sw := rv[4*r]*k.spatialScale - offset
		sh := rv[4*r+1]*k.spatialScale - offset
		ew := rv[4*r+2]*k.spatialScale - offset
		eh := rv[4*r+3]*k.spatialScale - offset
		rw, rh := ew-sw, eh-sh
		if !k.halfPixel {
			// malformed rois are forced to 1×1
			rw, rh = math.Max(rw, 1), math.Max(rh, 1)
		}
		bh, bw := rh/float64(k.outH), rw/float64(k.outW)
		gh, gw := k.samplingRatio, k.samplingRatio
		if gh == 0 {
			gh, gw = int(math.Ceil(rh/float64(k.outH))), int(math.Ceil(rw/float64(k.outW)))
		}
		if math.IsNaN(bh+bw) || gh < 0 || gw < 0 || gh > 1<<12 || gw > 1<<12 || bins*gh*gw > 1<<24 {
			firstErr = fmt.Errorf("roi %d %v gives an unusable sampling grid", r, rv[4*r:4*r+4])
			break
		}
		count := float64(max(gh*gw, 1))
		// Samples depend only on the roi, not the channel: compute once.
		samples := make([]sample, bins*gh*gw)
		si := 0
		for ph := 0; ph < k.outH; ph++ {
			for pw := 0; pw < k.outW; pw++ {
				for iy := 0; iy < gh; iy++ {
					yy := sh + float64(ph)*bh + (float64(iy)+0.5)*bh/float64(gh)
					for ix := 0; ix < gw; ix++ {
						xx := sw + float64(pw)*bw + (float64(ix)+0.5)*bw/float64(gw)
						samples[si] = bilinearSample(yy, xx, h, w)
						si++
					}
				}
			}
		}
		plane := h * w
		ctx.Parallel(c, 1, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				src := xf[(int(batches[r])*c+ch)*plane : (int(batches[r])*c+ch+1)*plane]
				dst := yf[(r*c+ch)*bins : (r*c+ch+1)*bins]
				per := gh * gw
				for bin := range dst {
					ss := samples[bin*per : (bin+1)*per]
					var v float64
					for i, s := range ss {
						if k.max {
							// ORT's definition: the max of the four weighted corners.
							m := math.Max(math.Max(s.w[0]*float64(src[s.pos[0]]), s.w[1]*float64(src[s.pos[1]])),
								math.Max(s.w[2]*float64(src[s.pos[2]]), s.w[3]*float64(src[s.pos[3]])))
							if i == 0 || m > v {
								v = m
							}
						} else {
							v += s.w[0]*float64(src[s.pos[0]]) + s.w[1]*float64(src[s.pos[1]]) +
								s.w[2]*float64(src[s.pos[2]]) + s.w[3]*float64(src[s.pos[3]])
						}
					}
					if !k.max {
						v /= count
					}
					dst[bin] = float32(v)
				}
			}
		})
	}
	if firstErr != nil {
		return firstErr
	}
	store(y, yf)
	return nil
}

// bilinearSample computes the corners and weights of point (y, x) in an
// h×w plane; points more than one pixel outside contribute nothing.
func bilinearSample(y, x float64, h, w int) sample {
	var s sample
	if y < -1 || y > float64(h) || x < -1 || x > float64(w) || h == 0 || w == 0 {
		return s
	}
	y, x = math.Max(y, 0), math.Max(x, 0)
	yl, xl := int(y), int(x)
	yh, xh := yl+1, xl+1
	if yl >= h-1 {
		yl, yh, y = h-1, h-1, float64(h-1)
	}
	if xl >= w-1 {
		xl, xh, x = w-1, w-1, float64(w-1)
	}
	ly, lx := y-float64(yl), x-float64(xl)
	hy, hx := 1-ly, 1-lx
	s.pos = [4]int{yl*w + xl, yl*w + xh, yh*w + xl, yh*w + xh}
	s.w = [4]float64{hy * hx, hy * lx, ly * hx, ly * lx}
	return s
}
