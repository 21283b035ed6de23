package nn

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "MaxPool", 1, buildPool(poolMax))
	kernels.Register("", "AveragePool", 1, buildPool(poolAvg))
	kernels.Register("", "LpPool", 1, buildPool(poolLp))
	kernels.Register("", "GlobalMaxPool", 1, buildGlobalPool(poolMax))
	kernels.Register("", "GlobalAveragePool", 1, buildGlobalPool(poolAvg))
	kernels.Register("", "GlobalLpPool", 1, buildGlobalPool(poolLp))
	kernels.Register("", "MaxUnpool", 9, buildMaxUnpool)
}

type poolKind uint8

const (
	poolMax poolKind = iota
	poolAvg
	poolLp
)

func (p poolKind) op(global bool) string {
	name := [...]string{"MaxPool", "AveragePool", "LpPool"}[p]
	if global {
		return "Global" + name
	}
	return name
}

// poolKernel is a compiled MaxPool, AveragePool or LpPool node.
type poolKernel struct {
	kind     poolKind
	g        geom
	countPad bool    // AveragePool count_include_pad
	p        float64 // LpPool exponent
	colMajor bool    // MaxPool storage_order=1: Indices count in column-major order
	indices  bool    // MaxPool's Indices output is wanted
	plan     atomic.Pointer[poolPlan]
}

// poolPlan holds what a float32 MaxPool or AveragePool precomputes for one
// geometry, kept by the kernel for the runs that follow (building the
// tables costs as much as pooling a few hundred small planes).
type poolPlan struct {
	d         conv2d
	cols, inv []float32                                                 // AveragePool tap counts (avgPoolCols, avgPoolInv)
	planes    func(ctx *kernels.Ctx, x, y []float32, planes, grain int) // poolPlanesF32's kernel, if it takes d
}

// planFor returns the plan of geometry d, from the last run if it had d.
func (k *poolKernel) planFor(d *conv2d) *poolPlan {
	if p := k.plan.Load(); p != nil && p.d == *d {
		return p
	}
	p := &poolPlan{d: *d}
	if k.kind == poolAvg {
		p.cols = avgPoolCols(d, k.countPad)
		p.inv = avgPoolInv(d, k.countPad, p.cols)
	}
	p.planes = poolPlanesF32(d, p.inv)
	k.plan.Store(p)
	return p
}

// lpExponent reads p, an INT since opset 2 and a FLOAT before.
func lpExponent(n *graph.Node) (float64, error) {
	a := kernels.AttrsOf(n).Get("p")
	if a == nil {
		return 2, nil
	}
	p := float64(a.Int)
	if a.Type == graph.AttrFloat {
		p = float64(a.Float)
	}
	if !(p > 0) || math.IsInf(p, 0) {
		return 0, fmt.Errorf("p = %v must be positive", p)
	}
	return p, nil
}

func buildPool(kind poolKind) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if len(b.Inputs) != 1 {
			return nil, b.Errorf("%s needs 1 input", kind.op(false))
		}
		g, err := parseGeom(b, true)
		if err != nil {
			return nil, b.Errorf("%v", err)
		}
		k := &poolKernel{kind: kind, g: g}
		switch kind {
		case poolMax:
			k.colMajor = b.Attrs().Int("storage_order", 0) == 1
			k.indices = len(b.Node.Outputs) > 1 && b.Node.Outputs[1] != ""
		case poolAvg:
			k.countPad = b.Attrs().Int("count_include_pad", 0) != 0
		case poolLp:
			if k.p, err = lpExponent(b.Node); err != nil {
				return nil, b.Errorf("%v", err)
			}
		}
		return k, nil
	}
}

func (k *poolKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	switch x.DType {
	case tensor.Float32:
		return poolRun[float32](ctx, k, x, out)
	case tensor.Float64:
		return poolRun[float64](ctx, k, x, out)
	case tensor.Float16, tensor.BFloat16:
		return runWidened(ctx, k, x.DType, in, out)
	case tensor.Int8:
		if k.kind == poolMax {
			return poolRun[int8](ctx, k, x, out)
		}
	case tensor.Uint8:
		if k.kind == poolMax {
			return poolRun[uint8](ctx, k, x, out)
		}
	}
	return kernels.Unsupported(k.kind.op(false), "dtype %v", x.DType)
}

type poolElem interface {
	int8 | uint8 | float32 | float64
}

func poolRun[T poolElem](ctx *kernels.Ctx, k *poolKernel, x *tensor.Tensor, out []*tensor.Tensor) error {
	if len(x.Shape) < 3 {
		return fmt.Errorf("X must have rank >= 3, has shape %v", x.Shape)
	}
	win, err := k.g.resolve(x.Shape[2:], nil)
	if err != nil {
		return err
	}
	planes := x.Shape[0] * x.Shape[1]
	yshape := append([]int{x.Shape[0], x.Shape[1]}, win.out...)
	y, err := allocFull(ctx, x.DType, yshape) // every window is written
	if err != nil {
		return err
	}
	out[0] = y
	var idx []int64
	if k.indices && len(out) > 1 {
		it, err := ctx.Alloc(tensor.Int64, yshape)
		if err != nil {
			return err
		}
		out[1] = it
		idx = it.I64()
	}
	inSize, outSize := prod(win.in), prod(win.out)
	xd, yd := x.Data.([]T), y.Data.([]T)
	d2, is2d := to2d(win)
	grain := max(1, 4096/max(outSize*prod(win.k), 1))
	vec := (k.kind == poolMax && idx == nil || k.kind == poolAvg) && is2d && x.DType == tensor.Float32
	var avgCols, avgInv []float32
	if vec {
		x32, y32 := any(xd).([]float32), any(yd).([]float32)
		if k.kind == poolAvg && d2.oh == 1 && d2.ow == 1 && d2.kh == d2.h && d2.kw == d2.w && d2.ph == 0 && d2.pw == 0 &&
			d2.dh == 1 && d2.dw == 1 && meanPlanesF32(ctx, x32, y32, planes, inSize) {
			return nil // one window over each whole plane
		}
		plan := k.planFor(&d2)
		if plan.planes != nil {
			plan.planes(ctx, x32, y32, planes, grain)
			return nil
		}
		avgCols, avgInv = plan.cols, plan.inv
	}
	vec = vec && maxPoolVec(&d2)
	if k.kind == poolMax && idx == nil && is2d && maxPoolVec(&d2) {
		switch xd := any(xd).(type) {
		case []int8:
			maxPoolPlanes8(ctx, xd, any(yd).([]int8), &d2, planes, inSize, outSize, grain)
			return nil
		case []uint8:
			maxPoolPlanes8(ctx, xd, any(yd).([]uint8), &d2, planes, inSize, outSize, grain)
			return nil
		}
	}
	ctx.Parallel(planes, grain, func(lo, hi int) {
		var rowBuf []float32
		if vec && k.kind == poolMax {
			rowBuf = maxPoolF32Buf(&d2)
		} else if vec {
			rowBuf = avgPoolF32Buf(&d2)
		}
		for pl := lo; pl < hi; pl++ {
			xs := xd[pl*inSize : (pl+1)*inSize]
			ys := yd[pl*outSize : (pl+1)*outSize]
			var is []int64
			if idx != nil {
				is = idx[pl*outSize : (pl+1)*outSize]
			}
			switch {
			case k.kind == poolMax && is2d && is == nil && rowBuf != nil:
				maxPool2dF32(any(xs).([]float32), any(ys).([]float32), &d2, rowBuf)
			case k.kind == poolMax && is2d && is == nil:
				maxPool2dFast(xs, ys, &d2)
			case k.kind == poolAvg && is2d && rowBuf != nil:
				avgPool2dF32(any(xs).([]float32), any(ys).([]float32), &d2, k.countPad, rowBuf, avgCols, avgInv)
			case k.kind == poolAvg && is2d:
				avgPool2d(any(xs), any(ys), &d2, k.countPad)
			case k.kind == poolMax && is2d:
				maxPool2d(xs, ys, is, int64(pl*inSize), &d2, k.colMajor)
			case k.kind == poolMax:
				maxPoolND(xs, ys, is, int64(pl*inSize), &win, k.colMajor)
			default:
				sumPool(k, any(xs), any(ys), &win)
			}
		}
	})
	return nil
}

// maxPoolPlanes8 runs maxPool2d8 over the planes of an int8 or uint8
// tensor.
func maxPoolPlanes8[T int8 | uint8](ctx *kernels.Ctx, x, y []T, d *conv2d, planes, inSize, outSize, grain int) {
	ctx.Parallel(planes, grain, func(lo, hi int) {
		var local [4096]T
		buf := maxPool8Buf(d, local[:])
		for pl := lo; pl < hi; pl++ {
			maxPool2d8(x[pl*inSize:(pl+1)*inSize], y[pl*outSize:(pl+1)*outSize], d, buf)
		}
	})
}

// maxPool2d takes the maximum of each window of one plane. NaNs are skipped
// (an all-NaN or all-padding window gives the lowest value). Indices count
// from base, in row-major or (colMajor) column-major order of the plane.
func maxPool2d[T poolElem](x, y []T, idx []int64, base int64, d *conv2d, colMajor bool) {
	low := lowest[T]()
	for oh := 0; oh < d.oh; oh++ {
		ih0 := oh*d.sh - d.ph
		kiLo, kiHi := validRange(ih0, d.kh, d.dh, d.h)
		for ow := 0; ow < d.ow; ow++ {
			iw0 := ow*d.sw - d.pw
			kjLo, kjHi := validRange(iw0, d.kw, d.dw, d.w)
			best, bi := low, -1
			for ki := kiLo; ki < kiHi; ki++ {
				ih := ih0 + ki*d.dh
				row := x[ih*d.w : (ih+1)*d.w]
				for kj := kjLo; kj < kjHi; kj++ {
					iw := iw0 + kj*d.dw
					if v := row[iw]; v > best || bi < 0 && v == best {
						best, bi = v, ih*d.w+iw
					}
				}
			}
			y[oh*d.ow+ow] = best
			if idx != nil {
				if bi >= 0 && colMajor {
					bi = (bi%d.w)*d.h + bi/d.w
				}
				idx[oh*d.ow+ow] = base + int64(bi)
			}
		}
	}
}

// maxPool2dFast is maxPool2d without indices: separable loops, no bounds
// tests for interior windows, branch-free maxima (a NaN in a window gives
// NaN here, while the indices path skips NaNs).
func maxPool2dFast[T poolElem](x, y []T, d *conv2d) {
	low := lowest[T]()
	// Interior columns: every tap of the window inside the row.
	cLo, cHi := outRange(-d.pw, d.sw, d.w, d.ow)
	c2lo, c2hi := outRange((d.kw-1)*d.dw-d.pw, d.sw, d.w, d.ow)
	cLo, cHi = max(cLo, c2lo), min(cHi, c2hi)
	if cHi <= cLo {
		cLo, cHi = d.ow, d.ow // no interior: all columns take the border loop
	}
	border := func(row, xr []T, o int) {
		iw0 := o*d.sw - d.pw
		lo, hi := validRange(iw0, d.kw, d.dw, d.w)
		m := row[o]
		for kj := lo; kj < hi; kj++ {
			m = max(m, xr[iw0+kj*d.dw])
		}
		row[o] = m
	}
	for oh := 0; oh < d.oh; oh++ {
		row := y[oh*d.ow : (oh+1)*d.ow]
		for i := range row {
			row[i] = low
		}
		ih0 := oh*d.sh - d.ph
		kiLo, kiHi := validRange(ih0, d.kh, d.dh, d.h)
		for ki := kiLo; ki < kiHi; ki++ {
			xr := x[(ih0+ki*d.dh)*d.w : (ih0+ki*d.dh+1)*d.w]
			for o := 0; o < cLo; o++ {
				border(row, xr, o)
			}
			for o := cHi; o < d.ow; o++ {
				border(row, xr, o)
			}
			if cLo >= cHi {
				continue
			}
			if d.kw == 3 && d.dw == 1 {
				for o := cLo; o < cHi; o++ {
					b := o*d.sw - d.pw
					v := xr[b : b+3 : b+3]
					row[o] = max(row[o], v[0], v[1], v[2])
				}
				continue
			}
			for o := cLo; o < cHi; o++ {
				b := o*d.sw - d.pw
				m := row[o]
				for kj := 0; kj < d.kw; kj++ {
					m = max(m, xr[b+kj*d.dw])
				}
				row[o] = m
			}
		}
	}
}

// maxPoolVec reports whether maxPool2dF32 handles the geometry: stride 1
// with any dilation, or stride 2 with none, across rows.
func maxPoolVec(d *conv2d) bool {
	return d.sw == 1 || d.sw == 2 && d.dw == 1
}

// maxPoolRowLen is the length of maxPool2dF32's row buffer: the input row
// between its left and right padding (-Inf), up to the last tap of the
// last window, plus one float of slack for maxTapsS2.
func maxPoolRowLen(d *conv2d) int {
	return max(d.pw+d.w, (d.ow-1)*d.sw+(d.kw-1)*d.dw+1) + 1
}

// maxPool2dF32 is maxPool2dFast for float32 in two vector passes: the
// maximum over each window's valid input rows goes into a row of buf (at
// offset pw, between -Inf padding), then each output takes the maximum of
// its kw taps in that row. NaN propagates. buf holds d.oh+1 rows of
// maxPoolRowLen(d) (maxPoolF32Buf): the output rows whose windows lie
// wholly inside the plane take one kernel call per pass for all of them;
// the others take two calls each, through buf's last row.
func maxPool2dF32(x, y []float32, d *conv2d, buf []float32) {
	maxPoolRows(x, y, d, buf, float32(math.Inf(-1)), maxTapKernels[float32]{maxTaps, maxTapsS2, maxTapsRows, maxTapsS2Rows})
}

// maxTapKernels are the row kernels of one element type for maxPoolRows.
type maxTapKernels[T float32 | int8 | uint8] struct {
	taps   func(y, x []T, k, step int)
	tapsS2 func(y, x []T, k int)
	rows   func(y, x []T, n, k, step, rows, ldy, ldx int)
	rowsS2 func(y, x []T, n, k, rows, ldy, ldx int)
}

// maxPoolRows is maxPool2dF32 and maxPool2d8 with the kernels of their
// element type; pad is the value of the windows that see no input.
func maxPoolRows[T float32 | int8 | uint8](x, y []T, d *conv2d, buf []T, pad T, kern maxTapKernels[T]) {
	L := maxPoolRowLen(d)
	last := buf[d.oh*L : (d.oh+1)*L]
	rLo, rHi := outRange(-d.ph, d.sh, d.h, d.oh)
	r2lo, r2hi := outRange((d.kh-1)*d.dh-d.ph, d.sh, d.h, d.oh)
	rLo, rHi = max(rLo, r2lo), min(rHi, r2hi)
	if rHi > rLo {
		n := rHi - rLo
		kern.rows(buf[d.pw:], x[(rLo*d.sh-d.ph)*d.w:], d.w, d.kh, d.dh*d.w, n, L, d.sh*d.w)
		if d.sw == 1 {
			kern.rows(y[rLo*d.ow:], buf, d.ow, d.kw, d.dw, n, d.ow, L)
		} else {
			kern.rowsS2(y[rLo*d.ow:], buf, d.ow, d.kw, n, d.ow, L)
		}
	} else {
		rLo, rHi = d.oh, d.oh
	}
	row := last[d.pw : d.pw+d.w]
	for oh := 0; oh < d.oh; oh++ {
		if oh == rLo {
			oh = rHi - 1
			continue
		}
		yr := y[oh*d.ow : (oh+1)*d.ow]
		ih0 := oh*d.sh - d.ph
		kiLo, kiHi := validRange(ih0, d.kh, d.dh, d.h)
		if kiLo >= kiHi {
			for i := range yr {
				yr[i] = pad
			}
			continue
		}
		kern.taps(row, x[(ih0+kiLo*d.dh)*d.w:], kiHi-kiLo, d.dh*d.w)
		if d.sw == 1 {
			kern.taps(yr, last, d.kw, d.dw)
		} else {
			kern.tapsS2(yr, last, d.kw)
		}
	}
}

// maxPoolF32Buf returns maxPool2dF32's row buffer, filled with -Inf.
func maxPoolF32Buf(d *conv2d) []float32 {
	buf := make([]float32, (d.oh+1)*maxPoolRowLen(d))
	inf := float32(math.Inf(-1))
	for i := range buf {
		buf[i] = inf
	}
	return buf
}

// avgPool2dF32 is avgPool2d for float32 in the two passes of
// maxPool2dF32 (sums instead of maxima, zero padding; buf from
// avgPoolF32Buf), each window's sum then multiplied by the reciprocal of
// its tap count, inv (see avgPoolInv); cols holds the column counts (see
// avgPoolCols), for the rows whose windows are all padding.
func avgPool2dF32(x, y []float32, d *conv2d, countPad bool, buf, cols, inv []float32) {
	L := maxPoolRowLen(d)
	last := buf[d.oh*L : (d.oh+1)*L]
	rLo, rHi := outRange(-d.ph, d.sh, d.h, d.oh)
	r2lo, r2hi := outRange((d.kh-1)*d.dh-d.ph, d.sh, d.h, d.oh)
	rLo, rHi = max(rLo, r2lo), min(rHi, r2hi)
	if rHi > rLo {
		n := rHi - rLo
		sumTapsRows(buf[d.pw:], x[(rLo*d.sh-d.ph)*d.w:], d.w, d.kh, d.dh*d.w, n, L, d.sh*d.w)
		if d.sw == 1 {
			sumTapsRows(y[rLo*d.ow:], buf, d.ow, d.kw, d.dw, n, d.ow, L)
		} else {
			sumTapsS2Rows(y[rLo*d.ow:], buf, d.ow, d.kw, n, d.ow, L)
		}
		ys, is := y[rLo*d.ow:rHi*d.ow], inv[rLo*d.ow:rHi*d.ow]
		for i := range ys {
			ys[i] *= is[i]
		}
	} else {
		rLo, rHi = d.oh, d.oh
	}
	row := last[d.pw : d.pw+d.w]
	for oh := 0; oh < d.oh; oh++ {
		if oh == rLo {
			oh = rHi - 1
			continue
		}
		yr := y[oh*d.ow : (oh+1)*d.ow]
		ih0 := oh*d.sh - d.ph
		kiLo, kiHi := validRange(ih0, d.kh, d.dh, d.h)
		if kiLo >= kiHi {
			rows := 0
			if countPad {
				lo, hi := validRange(ih0+d.ph, d.kh, d.dh, d.h+d.ph+d.eh)
				rows = hi - lo
			}
			for i := range yr {
				yr[i] = 0 / (float32(rows) * cols[i]) // NaN for all padding, as avgPool2dT
			}
			continue
		}
		sumTaps(row, x[(ih0+kiLo*d.dh)*d.w:], kiHi-kiLo, d.dh*d.w)
		if d.sw == 1 {
			sumTaps(yr, last, d.kw, d.dw)
		} else {
			sumTapsS2(yr, last, d.kw)
		}
		for i, v := range inv[oh*d.ow : (oh+1)*d.ow] {
			yr[i] *= v
		}
	}
}

// avgPoolF32Buf returns avgPool2dF32's row buffer (zeros): d.oh+1 rows of
// maxPoolRowLen(d).
func avgPoolF32Buf(d *conv2d) []float32 {
	return make([]float32, (d.oh+1)*maxPoolRowLen(d))
}

// avgPoolInv returns 1/(taps counted) for every output of a plane, from
// the column counts cols.
func avgPoolInv(d *conv2d, countPad bool, cols []float32) []float32 {
	inv := make([]float32, d.oh*d.ow)
	for oh := 0; oh < d.oh; oh++ {
		ih0 := oh*d.sh - d.ph
		lo, hi := validRange(ih0, d.kh, d.dh, d.h)
		if countPad {
			lo, hi = validRange(ih0+d.ph, d.kh, d.dh, d.h+d.ph+d.eh)
		}
		r := float32(hi - lo)
		for o, c := range cols {
			inv[oh*d.ow+o] = 1 / (r * c)
		}
	}
	return inv
}

// avgPoolCols returns the number of taps of each output column's window
// that avgPool2d counts.
func avgPoolCols(d *conv2d, countPad bool) []float32 {
	cols := make([]float32, d.ow)
	for o := range cols {
		iw0 := o*d.sw - d.pw
		lo, hi := validRange(iw0, d.kw, d.dw, d.w)
		if countPad {
			lo, hi = validRange(iw0+d.pw, d.kw, d.dw, d.w+d.pw+d.ew)
		}
		cols[o] = float32(hi - lo)
	}
	return cols
}

// sumTapsGo sets y[i] = Σ_{t<k} x[i + t·step].
func sumTapsGo(y, x []float32, k, step int) {
	for i := range y {
		s := x[i]
		for t := 1; t < k; t++ {
			s += x[i+t*step]
		}
		y[i] = s
	}
}

// sumTapsS2Go sets y[i] = Σ_{t<k} x[2i + t].
func sumTapsS2Go(y, x []float32, k int) {
	for i := range y {
		w := x[2*i : 2*i+k]
		s := w[0]
		for _, v := range w[1:] {
			s += v
		}
		y[i] = s
	}
}

// maxTapsGo sets y[i] = max_{t<k} x[i + t·step] (NaN if any tap is NaN).
func maxTapsGo(y, x []float32, k, step int) {
	for i := range y {
		m := x[i]
		for t := 1; t < k; t++ {
			m = max(m, x[i+t*step])
		}
		y[i] = m
	}
}

// maxTapsS2Go sets y[i] = max_{t<k} x[2i + t] (NaN if any tap is NaN).
func maxTapsS2Go(y, x []float32, k int) {
	for i := range y {
		w := x[2*i : 2*i+k]
		m := w[0]
		for _, v := range w[1:] {
			m = max(m, v)
		}
		y[i] = m
	}
}

// maxTaps8Go sets y[i] = max_{t<k} x[i + t·step] (int8 or uint8).
func maxTaps8Go[T int8 | uint8](y, x []T, k, step int) {
	for i := range y {
		m := x[i]
		for t := 1; t < k; t++ {
			m = max(m, x[i+t*step])
		}
		y[i] = m
	}
}

// maxTapsS28Go sets y[i] = max_{t<k} x[2i + t] (int8 or uint8).
func maxTapsS28Go[T int8 | uint8](y, x []T, k int) {
	for i := range y {
		w := x[2*i : 2*i+k]
		m := w[0]
		for _, v := range w[1:] {
			m = max(m, v)
		}
		y[i] = m
	}
}

// maxTapsRows8Go is maxTaps8Go over rows rows (y and x advancing by ldy
// and ldx).
func maxTapsRows8Go[T int8 | uint8](y, x []T, n, k, step, rows, ldy, ldx int) {
	for r := 0; r < rows; r++ {
		maxTaps8Go(y[r*ldy:r*ldy+n], x[r*ldx:], k, step)
	}
}

// maxTapsS2Rows8Go is maxTapsS28Go over rows rows.
func maxTapsS2Rows8Go[T int8 | uint8](y, x []T, n, k, rows, ldy, ldx int) {
	for r := 0; r < rows; r++ {
		maxTapsS28Go(y[r*ldy:r*ldy+n], x[r*ldx:], k)
	}
}

// maxPool2d8 is maxPool2dF32 for int8 and uint8 planes (the quantized
// MaxPool), with the lowest value as padding. buf holds d.oh+1 rows of
// maxPoolRowLen(d) (see maxPool8BufLen), filled with the lowest value
// outside the input columns. The output rows whose windows lie wholly
// inside the plane take two kernel calls in all: the vertical maxima of
// all of them into the rows of buf, then the horizontal maxima of those;
// the others (vertical padding) take two calls each, through buf's last
// row.
func maxPool2d8[T int8 | uint8](x, y []T, d *conv2d, buf []T) {
	maxPoolRows(x, y, d, buf, lowest[T](), maxTapKernels[T]{maxTaps8[T], maxTapsS28[T], maxTapsRows8[T], maxTapsS2Rows8[T]})
}

// maxPool8Buf returns maxPool2d8's row buffer, from local when it fits,
// with every element set to the lowest value.
func maxPool8Buf[T int8 | uint8](d *conv2d, local []T) []T {
	n := (d.oh + 1) * maxPoolRowLen(d)
	buf := local
	if n <= len(local) {
		buf = local[:n]
	} else {
		buf = make([]T, n)
	}
	low := lowest[T]()
	for i := range buf {
		buf[i] = low
	}
	return buf
}

// avgPool2d averages the windows of one plane (float32 or float64).
func avgPool2d(xs, ys any, d *conv2d, countPad bool) {
	switch x := xs.(type) {
	case []float32:
		avgPool2dT(x, ys.([]float32), d, countPad)
	case []float64:
		avgPool2dT(x, ys.([]float64), d, countPad)
	}
}

func avgPool2dT[F float](x, y []F, d *conv2d, countPad bool) {
	for oh := 0; oh < d.oh; oh++ {
		row := y[oh*d.ow : (oh+1)*d.ow]
		ih0 := oh*d.sh - d.ph
		kiLo, kiHi := validRange(ih0, d.kh, d.dh, d.h)
		rows := kiHi - kiLo
		if countPad { // taps inside the padded input, not the ceil overhang
			lo, hi := validRange(ih0+d.ph, d.kh, d.dh, d.h+d.ph+d.eh)
			rows = hi - lo
		}
		for o := range row {
			iw0 := o*d.sw - d.pw
			lo, hi := validRange(iw0, d.kw, d.dw, d.w)
			cols := hi - lo
			if countPad {
				plo, phi := validRange(iw0+d.pw, d.kw, d.dw, d.w+d.pw+d.ew)
				cols = phi - plo
			}
			var s F
			for ki := kiLo; ki < kiHi; ki++ {
				xr := x[(ih0+ki*d.dh)*d.w:]
				for kj := lo; kj < hi; kj++ {
					s += xr[iw0+kj*d.dw]
				}
			}
			row[o] = s / F(rows*cols) // NaN for a window that is all padding
		}
	}
}

// box is the per-dimension valid tap range of one window in N-D pooling.
type box struct{ start, lo, hi []int }

// taps sets b to the valid taps of the window at output coordinates oc and
// returns their count.
func (b *box) taps(win *window, oc []int) int {
	n := 1
	for i := range oc {
		b.start[i] = oc[i]*win.s[i] - win.pb[i]
		b.lo[i], b.hi[i] = validRange(b.start[i], win.k[i], win.d[i], win.in[i])
		n *= b.hi[i] - b.lo[i]
	}
	return n
}

func newBox(nd int) box {
	buf := make([]int, 3*nd)
	return box{start: buf[:nd], lo: buf[nd : 2*nd], hi: buf[2*nd:]}
}

// each calls fn with the flat input index of every valid tap of b.
func (b *box) each(win *window, tc []int, fn func(flat int)) {
	nd := len(tc)
	copy(tc, b.lo)
	for {
		flat := 0
		for i := 0; i < nd; i++ {
			flat = flat*win.in[i] + b.start[i] + tc[i]*win.d[i]
		}
		fn(flat)
		i := nd - 1
		for ; i >= 0; i-- {
			if tc[i]++; tc[i] < b.hi[i] {
				break
			}
			tc[i] = b.lo[i]
		}
		if i < 0 {
			return
		}
	}
}

// maxPoolND is maxPool2d for any spatial rank.
func maxPoolND[T poolElem](x, y []T, idx []int64, base int64, win *window, colMajor bool) {
	nd := len(win.in)
	oc, tc := make([]int, nd), make([]int, nd)
	b := newBox(nd)
	low := lowest[T]()
	for o := range y {
		best, bi := low, -1
		if b.taps(win, oc) > 0 {
			b.each(win, tc, func(flat int) {
				if v := x[flat]; v > best || bi < 0 && v == best {
					best, bi = v, flat
				}
			})
		}
		y[o] = best
		if idx != nil {
			if bi >= 0 && colMajor {
				bi = colMajorIndex(bi, win.in)
			}
			idx[o] = base + int64(bi)
		}
		for i := nd - 1; i >= 0; i-- {
			if oc[i]++; oc[i] < win.out[i] {
				break
			}
			oc[i] = 0
		}
	}
}

// colMajorIndex converts a row-major flat index over dims to column-major.
func colMajorIndex(flat int, dims []int) int {
	idx := 0
	for i := len(dims) - 1; i >= 0; i-- {
		c := flat % dims[i]
		flat /= dims[i]
		idx = idx*dims[i] + c
	}
	return idx
}

// sumPool computes AveragePool or LpPool of one plane (float types only).
func sumPool(k *poolKernel, xs, ys any, win *window) {
	switch x := xs.(type) {
	case []float32:
		sumPoolT(k, x, ys.([]float32), win)
	case []float64:
		sumPoolT(k, x, ys.([]float64), win)
	}
}

func sumPoolT[F float](k *poolKernel, x, y []F, win *window) {
	nd := len(win.in)
	oc, tc := make([]int, nd), make([]int, nd)
	b := newBox(nd)
	p := k.p
	for o := range y {
		cnt := b.taps(win, oc)
		div := float64(cnt)
		if k.countPad {
			// The divisor counts the taps inside the padded input, not the
			// overhang of a ceil_mode window.
			div = 1
			for i := range oc {
				lo, hi := validRange(b.start[i]+win.pb[i], win.k[i], win.d[i], win.in[i]+win.pb[i]+win.pe[i])
				div *= float64(hi - lo)
			}
		}
		var s float64
		if cnt > 0 {
			switch {
			case k.kind == poolAvg:
				b.each(win, tc, func(flat int) { s += float64(x[flat]) })
			case p == 1:
				b.each(win, tc, func(flat int) { s += math.Abs(float64(x[flat])) })
			case p == 2:
				b.each(win, tc, func(flat int) { v := float64(x[flat]); s += v * v })
			default:
				b.each(win, tc, func(flat int) { s += math.Pow(math.Abs(float64(x[flat])), p) })
			}
		}
		switch {
		case k.kind == poolLp:
			y[o] = F(lpRoot(s, p))
		default:
			y[o] = F(s / div) // NaN for a window that is all padding
		}
		for i := nd - 1; i >= 0; i-- {
			if oc[i]++; oc[i] < win.out[i] {
				break
			}
			oc[i] = 0
		}
	}
}

func lpRoot(s, p float64) float64 {
	switch p {
	case 1:
		return s
	case 2:
		return math.Sqrt(s)
	}
	return math.Pow(s, 1/p)
}

// globalPoolKernel reduces all spatial dims of each (n, c) plane.
type globalPoolKernel struct {
	kind poolKind
	p    float64
}

func buildGlobalPool(kind poolKind) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if len(b.Inputs) != 1 {
			return nil, b.Errorf("%s needs 1 input", kind.op(true))
		}
		if err := checkFloat(kind.op(true), b.Inputs[0].DType); err != nil {
			return nil, err
		}
		k := &globalPoolKernel{kind: kind, p: 2}
		if kind == poolLp {
			var err error
			if k.p, err = lpExponent(b.Node); err != nil {
				return nil, b.Errorf("%v", err)
			}
		}
		return k, nil
	}
}

func (k *globalPoolKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	switch x.DType {
	case tensor.Float32:
		return globalPoolRun[float32](ctx, k, x, out)
	case tensor.Float64:
		return globalPoolRun[float64](ctx, k, x, out)
	case tensor.Float16, tensor.BFloat16:
		return runWidened(ctx, k, x.DType, in, out)
	}
	return kernels.Unsupported(k.kind.op(true), "dtype %v", x.DType)
}

func globalPoolRun[F float](ctx *kernels.Ctx, k *globalPoolKernel, x *tensor.Tensor, out []*tensor.Tensor) error {
	if len(x.Shape) < 2 {
		return fmt.Errorf("X must have rank >= 2, has shape %v", x.Shape)
	}
	yshape := make([]int, len(x.Shape))
	yshape[0], yshape[1] = x.Shape[0], x.Shape[1]
	for i := 2; i < len(yshape); i++ {
		yshape[i] = 1
	}
	y, err := allocFull(ctx, x.DType, yshape)
	if err != nil {
		return err
	}
	out[0] = y
	planes := x.Shape[0] * x.Shape[1]
	size := prod(x.Shape[2:])
	xd, yd := x.Data.([]F), y.Data.([]F)
	if x32, ok := any(xd).([]float32); ok && k.kind == poolAvg && meanPlanesF32(ctx, x32, any(yd).([]float32), planes, size) {
		return nil
	}
	ctx.Parallel(planes, max(1, 8192/max(size, 1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			v := xd[pl*size : (pl+1)*size]
			switch k.kind {
			case poolMax:
				best := lowest[F]()
				for _, e := range v {
					if e > best {
						best = e
					}
				}
				if size == 0 {
					best = F(math.NaN())
				}
				yd[pl] = best
			case poolAvg:
				yd[pl] = F(sum(v) / float64(size))
			case poolLp:
				var s float64
				for _, e := range v {
					s += math.Pow(math.Abs(float64(e)), k.p)
				}
				yd[pl] = F(lpRoot(s, k.p))
			}
		}
	})
	return nil
}

// sum adds v in float64 with four accumulators (for speed and accuracy).
func sum[F float](v []F) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += float64(v[i])
		s1 += float64(v[i+1])
		s2 += float64(v[i+2])
		s3 += float64(v[i+3])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// maxUnpoolKernel scatters values to the positions MaxPool's Indices name.
type maxUnpoolKernel struct{ g geom }

func buildMaxUnpool(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("MaxUnpool needs inputs X and I")
	}
	g, err := parseGeom(b, true)
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	return &maxUnpoolKernel{g: g}, nil
}

func (k *maxUnpoolKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, ind := in[0], in[1]
	if len(x.Shape) < 3 {
		return fmt.Errorf("X must have rank >= 3, has shape %v", x.Shape)
	}
	if ind.DType != tensor.Int64 || !tensor.EqualShapes(ind.Shape, x.Shape) {
		return fmt.Errorf("I (%v%v) must be int64 with X's shape %v", ind.DType, ind.Shape, x.Shape)
	}
	nd := len(x.Shape) - 2
	g := &k.g
	if len(g.kernel) != nd || g.strides != nil && len(g.strides) != nd || g.pads != nil && len(g.pads) != 2*nd {
		return fmt.Errorf("kernel_shape, strides or pads do not match %d spatial dims", nd)
	}
	// Indices address the shape MaxPool's input would have had (the
	// inferred shape); a larger output_shape pads that at the end of each dim.
	inferred := []int{x.Shape[0], x.Shape[1]}
	for i := 0; i < nd; i++ {
		s, pb, pe := 1, 0, 0
		if g.strides != nil {
			s = g.strides[i]
		}
		if g.pads != nil {
			pb, pe = g.pads[i], g.pads[nd+i]
		}
		d := (x.Shape[2+i]-1)*s + g.kernel[i] - pb - pe
		if d < 0 {
			return fmt.Errorf("negative output size in spatial dim %d", i)
		}
		inferred = append(inferred, d)
	}
	yshape := inferred
	if len(in) > 2 && in[2] != nil {
		os := in[2].Int64Values()
		if len(os) != len(x.Shape) {
			return fmt.Errorf("output_shape %v must have rank %d", os, len(x.Shape))
		}
		yshape = make([]int, len(os))
		for i, d := range os {
			if d < int64(inferred[i]) || d > math.MaxInt32 || (i < 2 && int(d) != inferred[i]) {
				return fmt.Errorf("output_shape %v cannot hold the unpooled shape %v", os, inferred)
			}
			yshape[i] = int(d)
		}
	}
	y, err := ctx.Alloc(x.DType, yshape)
	if err != nil {
		return err
	}
	out[0] = y
	u := unpool{idx: ind.I64(), from: inferred, to: yshape, same: tensor.EqualShapes(inferred, yshape)}
	switch xd := x.Data.(type) {
	case []float32:
		return scatter(u, y.F32(), xd)
	case []float64:
		return scatter(u, y.Data.([]float64), xd)
	case []uint16:
		return scatter(u, y.Data.([]uint16), xd)
	case []int8:
		return scatter(u, y.Data.([]int8), xd)
	case []uint8:
		return scatter(u, y.Data.([]uint8), xd)
	case []int32:
		return scatter(u, y.Data.([]int32), xd)
	case []int64:
		return scatter(u, y.Data.([]int64), xd)
	}
	return kernels.Unsupported("MaxUnpool", "dtype %v", x.DType)
}

type unpool struct {
	idx      []int64
	from, to []int
	same     bool
}

func scatter[T any](u unpool, y, x []T) error {
	total := int64(prod(u.from))
	for i, j := range u.idx {
		if j < 0 || j >= total {
			return fmt.Errorf("index %d out of range [0, %d)", j, total)
		}
		if u.same {
			y[j] = x[i]
			continue
		}
		// re-address coordinates of the inferred shape in the output shape
		src, dst, mul := int(j), 0, 1
		for d := len(u.from) - 1; d >= 0; d-- {
			dst += (src % u.from[d]) * mul
			src /= u.from[d]
			mul *= u.to[d]
		}
		y[dst] = x[i]
	}
	return nil
}
