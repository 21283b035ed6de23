package train

import (
	"math"
	"slices"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
)

// poolOp is MaxPool, AveragePool (1-D or 2-D), GlobalAveragePool or
// GlobalMaxPool (any rank). MaxPool remembers the arg max of each window;
// its gradient goes to that element only (the first one on ties).
type poolOp[F float] struct {
	kind        string
	wa          windowAttrs
	includePad  bool
	win         window
	planes      int
	inSz, outSz int
	arg         []int32
	y           *tens[F]
}

func (o *poolOp[F]) setup(n *graph.Node, _ int64) error {
	o.kind = n.OpType
	o.wa = readWindowAttrs(n)
	o.includePad = kernels.AttrsOf(n).Int("count_include_pad", 0) != 0
	if (o.kind == "MaxPool" || o.kind == "AveragePool") && o.wa.kernel == nil {
		return errorString("missing attribute kernel_shape")
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func (o *poolOp[F]) forward(c *call[F]) error {
	x := c.in[0]
	if len(x.shape) < 3 {
		return c.errorf("X must have rank >= 3, has shape %v", x.shape)
	}
	o.planes = x.shape[0] * x.shape[1]
	global := o.kind == "GlobalAveragePool" || o.kind == "GlobalMaxPool"
	var out []int
	if global {
		o.inSz, o.outSz = numel(x.shape[2:]), 1
		out = slices.Clone(x.shape)
		for i := 2; i < len(out); i++ {
			out[i] = 1
		}
	} else {
		win, err := o.wa.resolve(x.shape[2:], o.wa.kernel)
		if err != nil {
			return c.errorf("%v", err)
		}
		o.win = win
		o.inSz, o.outSz = win.h*win.w, win.oh*win.ow
		out = append(slices.Clone(x.shape[:2]), win.spatialOut(len(x.shape)-2)...)
	}
	y := ensure(&o.y, out)
	isMax := o.kind == "MaxPool" || o.kind == "GlobalMaxPool"
	if isMax {
		o.arg = resize(o.arg, len(y.data))
	}
	c.e.par(o.planes, 4, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xs := x.data[pl*o.inSz : (pl+1)*o.inSz]
			ys := y.data[pl*o.outSz : (pl+1)*o.outSz]
			switch {
			case global && isMax:
				best, bi := xs[0], 0
				for i, v := range xs {
					if v > best || v != v {
						best, bi = v, i
					}
				}
				ys[0], o.arg[pl] = best, int32(bi)
			case global:
				var s F
				for _, v := range xs {
					s += v
				}
				ys[0] = s / F(o.inSz)
			case isMax:
				o.maxPlane(xs, ys, o.arg[pl*o.outSz:(pl+1)*o.outSz])
			default:
				o.avgPlane(xs, ys, nil)
			}
		}
	})
	c.out[0] = y
	return nil
}

func (o *poolOp[F]) maxPlane(xs, ys []F, arg []int32) {
	w := &o.win
	if w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.dh == 1 && w.dw == 1 &&
		w.pt == 0 && w.pl == 0 && 2*w.oh <= w.h && 2*w.ow <= w.w {
		// the common 2×2/2 pool: every window lies inside the input
		for oy := 0; oy < w.oh; oy++ {
			r0 := xs[2*oy*w.w : (2*oy+1)*w.w]
			r1 := xs[(2*oy+1)*w.w : (2*oy+2)*w.w]
			yr, ar := ys[oy*w.ow:(oy+1)*w.ow], arg[oy*w.ow:(oy+1)*w.ow]
			base := int32(2 * oy * w.w)
			for ox := range yr {
				i := 2 * ox
				best, bi := r0[i], base+int32(i)
				if v := r0[i+1]; v > best || v != v {
					best, bi = v, base+int32(i+1)
				}
				if v := r1[i]; v > best || v != v {
					best, bi = v, base+int32(w.w+i)
				}
				if v := r1[i+1]; v > best || v != v {
					best, bi = v, base+int32(w.w+i+1)
				}
				yr[ox], ar[ox] = best, bi
			}
		}
		return
	}
	for oy := 0; oy < w.oh; oy++ {
		for ox := 0; ox < w.ow; ox++ {
			best, bi := F(math.Inf(-1)), int32(-1)
			y0, x0 := oy*w.sh-w.pt, ox*w.sw-w.pl
			for ky := 0; ky < w.kh; ky++ {
				iy := y0 + ky*w.dh
				if iy < 0 || iy >= w.h {
					continue
				}
				for kx := 0; kx < w.kw; kx++ {
					ix := x0 + kx*w.dw
					if ix < 0 || ix >= w.w {
						continue
					}
					if v := xs[iy*w.w+ix]; v > best || bi < 0 || v != v {
						best, bi = v, int32(iy*w.w+ix)
					}
				}
			}
			if bi < 0 {
				best = 0
			}
			ys[oy*w.ow+ox], arg[oy*w.ow+ox] = best, bi
		}
	}
}

// avgPlane computes one plane of AveragePool; with dys set it instead
// adds the gradient dys into xs.
func (o *poolOp[F]) avgPlane(xs, ys, dys []F) {
	w := &o.win
	for oy := 0; oy < w.oh; oy++ {
		for ox := 0; ox < w.ow; ox++ {
			y0, x0 := oy*w.sh-w.pt, ox*w.sw-w.pl
			cnt := 0
			if o.includePad {
				// taps inside the padded input, as PyTorch counts them
				for ky := 0; ky < w.kh; ky++ {
					if iy := y0 + ky*w.dh; iy < w.h+w.pb {
						for kx := 0; kx < w.kw; kx++ {
							if ix := x0 + kx*w.dw; ix < w.w+w.pr {
								cnt++
							}
						}
					}
				}
			}
			var s F
			valid := 0
			for pass := 0; pass < 2; pass++ {
				if pass == 1 {
					if dys == nil {
						break
					}
					if !o.includePad {
						cnt = valid
					}
					if cnt == 0 {
						break
					}
					s = dys[oy*w.ow+ox] / F(cnt)
				}
				for ky := 0; ky < w.kh; ky++ {
					iy := y0 + ky*w.dh
					if iy < 0 || iy >= w.h {
						continue
					}
					for kx := 0; kx < w.kw; kx++ {
						ix := x0 + kx*w.dw
						if ix < 0 || ix >= w.w {
							continue
						}
						if pass == 0 {
							s += xs[iy*w.w+ix]
							valid++
						} else {
							xs[iy*w.w+ix] += s
						}
					}
				}
			}
			if dys == nil {
				if !o.includePad {
					cnt = valid
				}
				if cnt > 0 {
					ys[oy*w.ow+ox] = s / F(cnt)
				} else {
					ys[oy*w.ow+ox] = 0
				}
			}
		}
	}
}

func (o *poolOp[F]) backward(c *call[F]) error {
	dx, dy := c.din[0].data, c.dout[0].data
	c.e.par(o.planes, 4, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dxs := dx[pl*o.inSz : (pl+1)*o.inSz]
			dys := dy[pl*o.outSz : (pl+1)*o.outSz]
			switch o.kind {
			case "MaxPool", "GlobalMaxPool":
				for j, a := range o.arg[pl*o.outSz : (pl+1)*o.outSz] {
					if a >= 0 {
						dxs[a] += dys[j]
					}
				}
			case "GlobalAveragePool":
				g := dys[0] / F(o.inSz)
				for i := range dxs {
					dxs[i] += g
				}
			default:
				o.avgPlane(dxs, nil, dys)
			}
		}
	})
	return nil
}
