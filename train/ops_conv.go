package train

import (
	"fmt"
	"slices"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
)

// window is the geometry of a 1-D or 2-D sliding window (Conv and the
// pools), with 1-D problems stored as H = 1.
type window struct {
	h, w, kh, kw, sh, sw, dh, dw int
	pt, pl, pb, pr               int
	oh, ow                       int
}

// windowAttrs are the geometry attributes as written on the node.
type windowAttrs struct {
	kernel, strides, dilations, pads []int
	auto                             string
	ceil                             bool
}

func readWindowAttrs(n *graph.Node) windowAttrs {
	a := kernels.AttrsOf(n)
	return windowAttrs{
		kernel: a.IntsAsInt("kernel_shape", nil), strides: a.IntsAsInt("strides", nil),
		dilations: a.IntsAsInt("dilations", nil), pads: a.IntsAsInt("pads", nil),
		auto: a.String("auto_pad", "NOTSET"), ceil: a.Int("ceil_mode", 0) != 0,
	}
}

// resolve computes the window for spatial input dims in and kernel dims k.
func (wa *windowAttrs) resolve(in, k []int) (window, error) {
	nd := len(in)
	if nd < 1 || nd > 2 {
		return window{}, fmt.Errorf("%d spatial dims: the trainer supports 1-D and 2-D windows", nd)
	}
	if len(k) != nd || wa.strides != nil && len(wa.strides) != nd ||
		wa.dilations != nil && len(wa.dilations) != nd || wa.pads != nil && len(wa.pads) != 2*nd {
		return window{}, fmt.Errorf("kernel %v, strides %v, dilations %v or pads %v do not match %d spatial dims",
			k, wa.strides, wa.dilations, wa.pads, nd)
	}
	var out, s, d, pb, pe [2]int
	for i := 0; i < nd; i++ {
		s[i], d[i] = 1, 1
		if wa.strides != nil {
			s[i] = wa.strides[i]
		}
		if wa.dilations != nil {
			d[i] = wa.dilations[i]
		}
		if s[i] < 1 || d[i] < 1 || k[i] < 1 {
			return window{}, fmt.Errorf("kernel %v, strides %v and dilations %v must be positive", k, wa.strides, wa.dilations)
		}
		dk := (k[i]-1)*d[i] + 1
		switch wa.auto {
		case "", "NOTSET":
			if wa.pads != nil {
				pb[i], pe[i] = wa.pads[i], wa.pads[nd+i]
			}
			if pb[i] < 0 || pe[i] < 0 {
				return window{}, fmt.Errorf("negative pads %v", wa.pads)
			}
			span := in[i] + pb[i] + pe[i] - dk
			if span < 0 {
				return window{}, fmt.Errorf("window %d larger than padded input %d", dk, in[i]+pb[i]+pe[i])
			}
			if wa.ceil {
				out[i] = (span+s[i]-1)/s[i] + 1
				if (out[i]-1)*s[i] >= in[i]+pb[i] {
					out[i]--
				}
			} else {
				out[i] = span/s[i] + 1
			}
		case "VALID":
			if in[i] < dk {
				return window{}, fmt.Errorf("window %d larger than input %d", dk, in[i])
			}
			out[i] = (in[i]-dk)/s[i] + 1
		case "SAME_UPPER", "SAME_LOWER":
			out[i] = (in[i] + s[i] - 1) / s[i]
			total := max(0, (out[i]-1)*s[i]+dk-in[i])
			if wa.auto == "SAME_UPPER" {
				pb[i] = total / 2
			} else {
				pb[i] = total - total/2
			}
			pe[i] = total - pb[i]
		default:
			return window{}, fmt.Errorf("unknown auto_pad %q", wa.auto)
		}
	}
	if nd == 1 {
		return window{h: 1, w: in[0], kh: 1, kw: k[0], sh: 1, sw: s[0], dh: 1, dw: d[0],
			pl: pb[0], pr: pe[0], oh: 1, ow: out[0]}, nil
	}
	return window{h: in[0], w: in[1], kh: k[0], kw: k[1], sh: s[0], sw: s[1], dh: d[0], dw: d[1],
		pt: pb[0], pl: pb[1], pb: pe[0], pr: pe[1], oh: out[0], ow: out[1]}, nil
}

// spatialOut is the output's spatial shape for an input of rank nd+2.
func (w *window) spatialOut(nd int) []int {
	if nd == 1 {
		return []int{w.ow}
	}
	return []int{w.oh, w.ow}
}

// colRange returns the output columns [lo, hi) whose tap at input offset
// base + ox*s lies in [0, n).
func colRange(base, s, n, out int) (lo, hi int) {
	if base < 0 {
		lo = (-base + s - 1) / s
	}
	if n-1-base < 0 {
		return 0, 0
	}
	hi = min(out, (n-1-base)/s+1)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// im2col writes the [c·kh·kw × oh·ow] column matrix of x (c channels of
// h×w) into cols.
func im2col[F float](x []F, c int, w *window, cols []F) {
	p := w.oh * w.ow
	hw := w.h * w.w
	row := 0
	for ci := 0; ci < c; ci++ {
		xc := x[ci*hw : (ci+1)*hw]
		for ky := 0; ky < w.kh; ky++ {
			for kx := 0; kx < w.kw; kx++ {
				dst := cols[row*p : (row+1)*p]
				base := kx*w.dw - w.pl
				lo, hi := colRange(base, w.sw, w.w, w.ow)
				for oy := 0; oy < w.oh; oy++ {
					d := dst[oy*w.ow : (oy+1)*w.ow]
					iy := oy*w.sh - w.pt + ky*w.dh
					if iy < 0 || iy >= w.h {
						clear(d)
						continue
					}
					xr := xc[iy*w.w : (iy+1)*w.w]
					clear(d[:lo])
					clear(d[hi:])
					if w.sw == 1 {
						copy(d[lo:hi], xr[lo+base:hi+base])
					} else {
						for ox := lo; ox < hi; ox++ {
							d[ox] = xr[ox*w.sw+base]
						}
					}
				}
				row++
			}
		}
	}
}

// col2im adds the column matrix cols back into dx (the adjoint of im2col).
func col2im[F float](cols []F, c int, w *window, dx []F) {
	p := w.oh * w.ow
	hw := w.h * w.w
	row := 0
	for ci := 0; ci < c; ci++ {
		xc := dx[ci*hw : (ci+1)*hw]
		for ky := 0; ky < w.kh; ky++ {
			for kx := 0; kx < w.kw; kx++ {
				src := cols[row*p : (row+1)*p]
				base := kx*w.dw - w.pl
				lo, hi := colRange(base, w.sw, w.w, w.ow)
				for oy := 0; oy < w.oh; oy++ {
					iy := oy*w.sh - w.pt + ky*w.dh
					if iy < 0 || iy >= w.h {
						continue
					}
					s := src[oy*w.ow : (oy+1)*w.ow]
					xr := xc[iy*w.w : (iy+1)*w.w]
					if w.sw == 1 {
						d := xr[lo+base : hi+base]
						for j, v := range s[lo:hi] {
							d[j] += v
						}
					} else {
						for ox := lo; ox < hi; ox++ {
							xr[ox*w.sw+base] += s[ox]
						}
					}
				}
				row++
			}
		}
	}
}

// maxSavedCols bounds (in elements) the column matrices a Conv keeps from
// forward for backward; larger problems recompute them.
const maxSavedCols = 1 << 26

// convOp is Conv (1-D or 2-D, groups, strides, pads, dilations) lowered to
// im2col and GEMM, parallel over the batch.
type convOp[F float] struct {
	wa    windowAttrs
	group int
	win   window
	n, c  int // batch, input channels
	m, cg int // output channels, input channels per group
	mg    int // output channels per group
	kd    int // cg·kh·kw
	p     int // oh·ow
	nd    int
	y     *tens[F]
	// direct: a 1×1, stride-1, unpadded conv whose columns are the input.
	direct  bool
	saved   []F   // cols of every (sample, group), when recorded
	scratch [][]F // per chunk: cols / dcols
	dwLoc   [][]F // per chunk: weight (and bias) gradient partial sums
}

func (o *convOp[F]) setup(n *graph.Node, _ int64) error {
	o.wa = readWindowAttrs(n)
	o.group = int(kernels.AttrsOf(n).Int("group", 1))
	if o.group < 1 {
		return fmt.Errorf("group %d", o.group)
	}
	return nil
}

func (o *convOp[F]) forward(c *call[F]) error {
	x, wt := c.in[0], c.in[1]
	if x == nil || wt == nil {
		return c.errorf("X and W must be float tensors")
	}
	if len(x.shape) != len(wt.shape) || len(x.shape) < 3 {
		return c.errorf("X %v and W %v must have equal rank >= 3", x.shape, wt.shape)
	}
	nd := len(x.shape) - 2
	if o.wa.kernel != nil && !slices.Equal(o.wa.kernel, wt.shape[2:]) {
		return c.errorf("kernel_shape %v does not match W %v", o.wa.kernel, wt.shape)
	}
	win, err := o.wa.resolve(x.shape[2:], wt.shape[2:])
	if err != nil {
		return c.errorf("%v", err)
	}
	o.win, o.nd = win, nd
	o.n, o.c, o.m, o.cg = x.shape[0], x.shape[1], wt.shape[0], wt.shape[1]
	if o.cg*o.group != o.c || o.m%o.group != 0 {
		return c.errorf("X %v, W %v and group %d do not agree", x.shape, wt.shape, o.group)
	}
	o.mg = o.m / o.group
	o.kd = o.cg * win.kh * win.kw
	o.p = win.oh * win.ow
	var bias []F
	if len(c.in) > 2 && c.in[2] != nil {
		if len(c.in[2].data) != o.m {
			return c.errorf("B has %d elements, want %d", len(c.in[2].data), o.m)
		}
		bias = c.in[2].data
	}
	o.direct = win.kh == 1 && win.kw == 1 && win.sh == 1 && win.sw == 1 &&
		win.pt == 0 && win.pl == 0 && win.pb == 0 && win.pr == 0
	y := ensure(&o.y, append([]int{o.n, o.m}, win.spatialOut(nd)...))
	save := c.record && !o.direct && o.n*o.group*o.kd*o.p <= maxSavedCols
	if save {
		o.saved = resize(o.saved, o.n*o.group*o.kd*o.p)
	} else {
		o.saved = o.saved[:0]
	}
	inSize := win.h * win.w
	wd := wt.data
	var par func(n, grain int, fn func(lo, hi int))
	if o.n < c.e.threads {
		par = c.e.gemmPar()
	}
	nch := min(c.e.threads, max(o.n, 1))
	o.scratch = resize(o.scratch, nch)
	c.e.chunks(o.n, func(ch, lo, hi int) {
		var cols []F
		if !o.direct && !save {
			o.scratch[ch] = resize(o.scratch[ch], o.kd*o.p)
			cols = o.scratch[ch]
		}
		for ni := lo; ni < hi; ni++ {
			for g := 0; g < o.group; g++ {
				xg := x.data[(ni*o.c+g*o.cg)*inSize:]
				var b []F
				switch {
				case o.direct:
					b = xg
				case save:
					b = o.saved[(ni*o.group+g)*o.kd*o.p:][:o.kd*o.p]
					im2col(xg, o.cg, &o.win, b)
				default:
					b = cols
					im2col(xg, o.cg, &o.win, b)
				}
				mm(par, false, false, o.mg, o.p, o.kd, 1, wd[g*o.mg*o.kd:], o.kd, b, o.p, 0,
					y.data[(ni*o.m+g*o.mg)*o.p:], o.p)
			}
			if bias != nil {
				for mi := 0; mi < o.m; mi++ {
					row := y.data[(ni*o.m+mi)*o.p : (ni*o.m+mi+1)*o.p]
					bv := bias[mi]
					for j := range row {
						row[j] += bv
					}
				}
			}
		}
	})
	c.out[0] = y
	return nil
}

func (o *convOp[F]) backward(c *call[F]) error {
	x, wd, dy := c.in[0], c.in[1].data, c.dout[0].data
	gx, gw := c.din[0], c.din[1]
	var gb *tens[F]
	if len(c.din) > 2 {
		gb = c.din[2]
	}
	inSize := o.win.h * o.win.w
	wlen := len(wd)
	nch := min(c.e.threads, max(o.n, 1))
	o.dwLoc = resize(o.dwLoc, nch)
	o.scratch = resize(o.scratch, nch)
	saved := len(o.saved) > 0
	var par func(n, grain int, fn func(lo, hi int))
	if o.n < c.e.threads {
		par = c.e.gemmPar()
	}
	used := c.e.chunks(o.n, func(ch, lo, hi int) {
		loc := resize(o.dwLoc[ch], wlen+o.m)
		clear(loc)
		o.dwLoc[ch] = loc
		need := 0
		if gx != nil && !o.direct {
			need += o.kd * o.p // dcols
		}
		if gw != nil && !o.direct && !saved {
			need += o.kd * o.p // recomputed cols
		}
		o.scratch[ch] = resize(o.scratch[ch], need)
		scr := o.scratch[ch]
		for ni := lo; ni < hi; ni++ {
			for g := 0; g < o.group; g++ {
				dyg := dy[(ni*o.m+g*o.mg)*o.p:]
				wg := wd[g*o.mg*o.kd:]
				xg := x.data[(ni*o.c+g*o.cg)*inSize:]
				if gw != nil {
					var cols []F
					switch {
					case o.direct:
						cols = xg
					case saved:
						cols = o.saved[(ni*o.group+g)*o.kd*o.p:]
					default:
						cols = scr[len(scr)-o.kd*o.p:]
						im2col(xg, o.cg, &o.win, cols)
					}
					mm(par, false, true, o.mg, o.kd, o.p, 1, dyg, o.p, cols, o.p, 1, loc[g*o.mg*o.kd:], o.kd)
				}
				if gx != nil {
					dxg := gx.data[(ni*o.c+g*o.cg)*inSize:]
					if o.direct {
						mm(par, true, false, o.kd, o.p, o.mg, 1, wg, o.kd, dyg, o.p, 1, dxg, o.p)
					} else {
						dcols := scr[:o.kd*o.p]
						mm(par, true, false, o.kd, o.p, o.mg, 1, wg, o.kd, dyg, o.p, 0, dcols, o.p)
						col2im(dcols, o.cg, &o.win, dxg)
					}
				}
			}
			if gb != nil {
				for mi := 0; mi < o.m; mi++ {
					var s F
					for _, v := range dy[(ni*o.m+mi)*o.p : (ni*o.m+mi+1)*o.p] {
						s += v
					}
					loc[wlen+mi] += s
				}
			}
		}
	})
	for ch := 0; ch < used; ch++ {
		loc := o.dwLoc[ch]
		if gw != nil {
			for i, v := range loc[:wlen] {
				gw.data[i] += v
			}
		}
		if gb != nil {
			for i, v := range loc[wlen:] {
				gb.data[i] += v
			}
		}
	}
	return nil
}
