package nn

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
)

type autoPad uint8

const (
	padNotSet autoPad = iota
	padSameUpper
	padSameLower
	padValid
)

// geom holds the window attributes shared by Conv, ConvTranspose and the
// pools, as written on the node. Empty slices take their defaults when the
// spatial rank is known (resolve).
type geom struct {
	kernel    []int // nil: Conv takes it from W
	strides   []int
	dilations []int
	pads      []int // begin..., end...
	auto      autoPad
	ceil      bool
}

func parseAutoPad(s string) (autoPad, error) {
	switch s {
	case "", "NOTSET":
		return padNotSet, nil
	case "SAME_UPPER":
		return padSameUpper, nil
	case "SAME_LOWER":
		return padSameLower, nil
	case "VALID":
		return padValid, nil
	}
	return 0, fmt.Errorf("unknown auto_pad %q", s)
}

// intsAttr reads an INTS attribute and checks every value lies in [lo, maxAttr].
func intsAttr(a kernels.Attrs, name string, lo int) ([]int, error) {
	v := a.Ints(name, nil)
	if v == nil {
		return nil, nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < int64(lo) || x > maxAttr {
			return nil, fmt.Errorf("attribute %s=%v: value %d out of range", name, v, x)
		}
		out[i] = int(x)
	}
	return out, nil
}

// parseGeom reads kernel_shape, strides, dilations, pads, auto_pad and
// ceil_mode. needKernel makes kernel_shape required (pools).
func parseGeom(b *kernels.BuildContext, needKernel bool) (geom, error) {
	a := b.Attrs()
	var g geom
	var err error
	if g.kernel, err = intsAttr(a, "kernel_shape", 1); err != nil {
		return g, err
	}
	if needKernel && g.kernel == nil {
		return g, fmt.Errorf("missing required attribute kernel_shape")
	}
	if g.strides, err = intsAttr(a, "strides", 1); err != nil {
		return g, err
	}
	if g.dilations, err = intsAttr(a, "dilations", 1); err != nil {
		return g, err
	}
	if g.pads, err = intsAttr(a, "pads", 0); err != nil {
		return g, err
	}
	if g.auto, err = parseAutoPad(a.String("auto_pad", "NOTSET")); err != nil {
		return g, err
	}
	g.ceil = a.Int("ceil_mode", 0) != 0
	return g, nil
}

// window is a geometry resolved against one input: everything a kernel
// needs per spatial dimension.
type window struct {
	in, out, k, s, d, pb, pe []int
}

// resolve computes output sizes and explicit pads for spatial input dims in
// and kernel sizes kernel (nil: the attribute).
func (g *geom) resolve(in, kernel []int) (window, error) {
	nd := len(in)
	if kernel == nil {
		kernel = g.kernel
	}
	if len(kernel) != nd {
		return window{}, fmt.Errorf("kernel_shape %v does not match %d spatial dims", kernel, nd)
	}
	if g.strides != nil && len(g.strides) != nd ||
		g.dilations != nil && len(g.dilations) != nd ||
		g.pads != nil && len(g.pads) != 2*nd {
		return window{}, fmt.Errorf("strides %v, dilations %v or pads %v do not match %d spatial dims",
			g.strides, g.dilations, g.pads, nd)
	}
	buf := make([]int, 7*nd)
	w := window{in: in, out: buf[0:nd], k: kernel, s: buf[nd : 2*nd], d: buf[2*nd : 3*nd],
		pb: buf[3*nd : 4*nd], pe: buf[4*nd : 5*nd]}
	for i := 0; i < nd; i++ {
		s, d := 1, 1
		if g.strides != nil {
			s = g.strides[i]
		}
		if g.dilations != nil {
			d = g.dilations[i]
		}
		w.s[i], w.d[i] = s, d
		if kernel[i] < 1 {
			return window{}, fmt.Errorf("kernel size %d in dim %d", kernel[i], i)
		}
		dk := (kernel[i]-1)*d + 1
		var out, pb, pe int
		switch g.auto {
		case padNotSet:
			if g.pads != nil {
				pb, pe = g.pads[i], g.pads[nd+i]
			}
			span := in[i] + pb + pe - dk
			if span < 0 {
				return window{}, fmt.Errorf("window %d (dilated) larger than padded input %d in dim %d",
					dk, in[i]+pb+pe, i)
			}
			if g.ceil {
				out = (span+s-1)/s + 1
				// The last window must start inside the input or the left padding.
				if (out-1)*s >= in[i]+pb {
					out--
				}
			} else {
				out = span/s + 1
			}
		case padValid:
			if in[i] < dk {
				return window{}, fmt.Errorf("window %d larger than input %d in dim %d", dk, in[i], i)
			}
			out = (in[i]-dk)/s + 1
		default:
			out = (in[i] + s - 1) / s
			total := (out-1)*s + dk - in[i]
			if total < 0 {
				total = 0
			}
			if g.auto == padSameUpper {
				pb = total / 2
			} else {
				pb = total - total/2
			}
			pe = total - pb
		}
		if out < 1 {
			return window{}, fmt.Errorf("empty output in spatial dim %d (input %d)", i, in[i])
		}
		w.out[i], w.pb[i], w.pe[i] = out, pb, pe
	}
	return w, nil
}

// validRange returns the taps [lo, hi) of a window of k taps with dilation d
// starting at input position start that fall inside [0, n).
func validRange(start, k, d, n int) (lo, hi int) {
	lo, hi = 0, k
	if start < 0 {
		lo = (-start + d - 1) / d
	}
	if last := start + (k-1)*d; last >= n {
		// taps t with start + t*d <= n-1
		if n-1-start < 0 {
			return 0, 0
		}
		hi = (n-1-start)/d + 1
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}
