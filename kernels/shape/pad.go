package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Pad", 2, buildPad)  // pads, value attributes
	kernels.Register("", "Pad", 11, buildPad) // pads, constant_value inputs
	kernels.Register("", "Pad", 18, buildPad) // axes input
	kernels.Register("", "Pad", 19, buildPad) // wrap mode
	kernels.Register("", "CenterCropPad", 18, buildCenterCropPad)
}

type padMode int

const (
	padConstant padMode = iota
	padReflect
	padEdge
	padWrap
)

func buildPad(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	var mode padMode
	switch m := a.String("mode", "constant"); {
	case m == "constant":
		mode = padConstant
	case m == "reflect":
		mode = padReflect
	case m == "edge":
		mode = padEdge
	case m == "wrap" && b.Opset >= 19:
		mode = padWrap
	default:
		return nil, b.Errorf("unknown mode %q", m)
	}
	if b.Opset < 11 {
		pads, err := a.RequireInts("pads")
		if err != nil {
			return nil, err
		}
		value := float64(a.Float("value", 0))
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			if err := need(in, 1); err != nil {
				return err
			}
			x := in[0]
			fill, err := scalarOf(x.DType, value)
			if err != nil {
				return err
			}
			begin, end, err := padAmounts(len(x.Shape), pads, nil)
			if err != nil {
				return err
			}
			out[0], err = pad(ctx, x, begin, end, mode, fill)
			return err
		}), nil
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		x := in[0]
		pads, err := intValues(in[1], "pads")
		if err != nil {
			return err
		}
		var fill *tensor.Tensor
		if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
			fill = in[2]
			if fill.DType != x.DType {
				return fmt.Errorf("constant_value is %v, data is %v", fill.DType, x.DType)
			}
		}
		var axes []int64
		if len(in) > 3 && in[3] != nil {
			if axes, err = intValues(in[3], "axes"); err != nil {
				return err
			}
		}
		begin, end, err := padAmounts(len(x.Shape), pads, axes)
		if err != nil {
			return err
		}
		out[0], err = pad(ctx, x, begin, end, mode, fill)
		return err
	}), nil
}

// padAmounts spreads pads ([begin per axis..., end per axis...], over axes
// or over all dims) into per-dim begin and end amounts.
func padAmounts(rank int, pads, axes []int64) (begin, end []int, err error) {
	var ax []int
	if axes == nil {
		ax = make([]int, rank)
		for i := range ax {
			ax[i] = i
		}
	} else if ax, err = normAxes(axes, rank); err != nil {
		return nil, nil, err
	}
	if len(pads) != 2*len(ax) {
		return nil, nil, fmt.Errorf("pads %v must have 2 entries per padded axis (%d)", pads, len(ax))
	}
	begin, end = make([]int, rank), make([]int, rank)
	for i, a := range ax {
		b, e := pads[i], pads[i+len(ax)]
		if b < -maxDim || b > maxDim || e < -maxDim || e > maxDim {
			return nil, nil, fmt.Errorf("pads %v are out of range", pads)
		}
		begin[a], end[a] = int(b), int(e)
	}
	return begin, end, nil
}

// pad builds the output of Pad (and CenterCropPad): dim k grows by
// begin[k] before and end[k] after (negative amounts crop). fill is the
// constant of mode constant (nil: zero).
func pad(ctx *kernels.Ctx, x *tensor.Tensor, begin, end []int, mode padMode, fill *tensor.Tensor) (*tensor.Tensor, error) {
	r := len(x.Shape)
	shape := make([]int, r)
	for k, d := range x.Shape {
		shape[k] = d + begin[k] + end[k]
		if shape[k] < 0 {
			return nil, fmt.Errorf("pads %v/%v crop more than dim %d of %v", begin, end, k, x.Shape)
		}
		if d == 0 && shape[k] > 0 && mode != padConstant {
			return nil, fmt.Errorf("cannot pad the empty dim %d of %v in this mode", k, x.Shape)
		}
	}
	y, err := alloc(ctx, x.DType, shape)
	if err != nil {
		return nil, err
	}
	if y.Len() == 0 {
		return y, nil
	}
	if r == 0 {
		tensor.CopyData(y.Data, x.Data)
		return y, nil
	}
	// maps[k][o] is the source index along dim k of output index o, or -1
	// for the constant fill.
	maps := make([][]int, r)
	for k := range maps {
		m := make([]int, shape[k])
		d := x.Shape[k]
		for o := range m {
			m[o] = padSource(o-begin[k], d, mode)
		}
		maps[k] = m
	}
	pa := padArgs{ctx: ctx, dst: y.Data, src: x.Data, fill: nil, maps: maps,
		strides: tensor.Strides(x.Shape), segs: segments(maps[r-1])}
	if fill != nil {
		pa.fill = fill.Data
	}
	return y, padImpl.call(x.DType, pa)
}

// padSource maps j, an index along a dim of size d that may lie outside
// [0, d), to the source index the mode reads, or -1 for the fill value.
func padSource(j, d int, mode padMode) int {
	if j >= 0 && j < d {
		return j
	}
	switch mode {
	case padEdge:
		return min(max(j, 0), d-1)
	case padWrap:
		return ((j % d) + d) % d
	case padReflect:
		if d == 1 {
			return 0
		}
		p := 2 * (d - 1)
		j = ((j % p) + p) % p
		if j >= d {
			j = p - j
		}
		return j
	}
	return -1
}

// segment is a run of an output row: n elements copied from consecutive
// source indices starting at src, or filled when src is -1.
type segment struct{ dst, n, src int }

// segments splits a row's index map into runs, so that the interior of a
// padded row is one copy.
func segments(m []int) []segment {
	var segs []segment
	for o, s := range m {
		if k := len(segs) - 1; k >= 0 {
			last := &segs[k]
			if (s < 0 && last.src < 0) || (s >= 0 && last.src >= 0 && s == last.src+last.n) {
				last.n++
				continue
			}
		}
		segs = append(segs, segment{dst: o, n: 1, src: s})
	}
	return segs
}

type padArgs struct {
	ctx            *kernels.Ctx
	dst, src, fill any
	maps           [][]int
	strides        []int
	segs           []segment
}

var padImpl = instantiate(padT[uint8], padT[uint16], padT[uint32], padT[uint64], padT[string])

func padT[T word](a padArgs) error {
	dst, src := view[T](a.dst), view[T](a.src)
	var fill T
	if a.fill != nil {
		fill = view[T](a.fill)[0]
	}
	r := len(a.maps)
	inner := len(a.maps[r-1])
	rows := len(dst) / inner
	outer := a.maps[:r-1]
	a.ctx.Parallel(rows, max(1, minParallel/inner), func(lo, hi int) {
		idx := make([]int, r-1)
		rem := lo
		for k := r - 2; k >= 0; k-- {
			idx[k] = rem % len(outer[k])
			rem /= len(outer[k])
		}
		for row := lo; row < hi; row++ {
			d := dst[row*inner : (row+1)*inner]
			base, fillRow := 0, false
			for k, i := range idx {
				s := outer[k][i]
				if s < 0 {
					fillRow = true
					break
				}
				base += s * a.strides[k]
			}
			if fillRow {
				for i := range d {
					d[i] = fill
				}
			} else {
				for _, sg := range a.segs {
					part := d[sg.dst : sg.dst+sg.n]
					if sg.src < 0 {
						for i := range part {
							part[i] = fill
						}
					} else {
						copy(part, src[base+sg.src:base+sg.src+sg.n])
					}
				}
			}
			for k := r - 2; k >= 0; k-- {
				idx[k]++
				if idx[k] < len(outer[k]) {
					break
				}
				idx[k] = 0
			}
		}
	})
	return nil
}

func buildCenterCropPad(b *kernels.BuildContext) (kernels.Kernel, error) {
	axesAttr := b.Attrs().Ints("axes", nil)
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		x := in[0]
		r := len(x.Shape)
		target, err := dimsOf(in[1], "shape")
		if err != nil {
			return err
		}
		var axes []int
		if axesAttr == nil {
			axes = make([]int, r)
			for i := range axes {
				axes[i] = i
			}
		} else if axes, err = normAxes(axesAttr, r); err != nil {
			return err
		}
		if len(target) != len(axes) {
			return fmt.Errorf("shape %v must have one entry per axis (%d)", target, len(axes))
		}
		begin, end := make([]int, r), make([]int, r)
		for i, a := range axes {
			d, t := x.Shape[a], target[i]
			if t >= d {
				begin[a] = (t - d) / 2 // pad, the odd element at the end
			} else {
				begin[a] = -((d - t) / 2) // crop, the odd element at the end
			}
			end[a] = t - d - begin[a]
		}
		out[0], err = pad(ctx, x, begin, end, padConstant, nil)
		return err
	}), nil
}
