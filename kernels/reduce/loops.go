package reduce

import (
	"math"

	"github.com/edgedl/edgedl/kernels"
)

// number is the set of element types the reduction loops run on (float16
// and bfloat16 are widened to float32 first).
type number interface {
	~float32 | ~float64 | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

// opKind selects the map, combine and finalize steps of a reduction.
type opKind uint8

const (
	opSum opKind = iota
	opMean
	opSumSquare
	opL1
	opL2
	opLogSum
	opLogSumExp
	opMax
	opMin
	opProd
	// opExpSum is LogSumExp's second pass: sum of exp(x - m[out]) in float64.
	opExpSum
)

// combineOf returns the kind whose combine step merges partial results of k.
func combineOf(k opKind) opKind {
	switch k {
	case opMax, opMin, opProd:
		return k
	}
	return opSum
}

// lowest and highest are the identities of max and min for T.
func lowest[T number]() T {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return T(math.Inf(-1))
	case int8:
		return any(int8(math.MinInt8)).(T)
	case int16:
		return any(int16(math.MinInt16)).(T)
	case int32:
		return any(int32(math.MinInt32)).(T)
	case int64:
		return any(int64(math.MinInt64)).(T)
	}
	return 0 // unsigned
}

func highest[T number]() T {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return T(math.Inf(1))
	case int8:
		return any(int8(math.MaxInt8)).(T)
	case int16:
		return any(int16(math.MaxInt16)).(T)
	case int32:
		return any(int32(math.MaxInt32)).(T)
	case int64:
		return any(int64(math.MaxInt64)).(T)
	case uint8:
		return any(uint8(math.MaxUint8)).(T)
	case uint16:
		return any(uint16(math.MaxUint16)).(T)
	case uint32:
		return any(uint32(math.MaxUint32)).(T)
	case uint64:
		return any(uint64(math.MaxUint64)).(T)
	}
	return 0
}

func isFloat[T number]() bool {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return true
	}
	return false
}

// identity is the starting value of an accumulator of kind k.
func identity[T number](k opKind) T {
	switch k {
	case opMax, opLogSumExp:
		return lowest[T]()
	case opMin:
		return highest[T]()
	case opProd:
		return 1
	}
	return 0
}

// lseShift is the value subtracted before exponentiation: the maximum,
// unless it is infinite (then exp(x - m) would be NaN and 0 is exact).
func lseShift[T number](m T) float64 {
	f := float64(m)
	if math.IsInf(f, 0) {
		return 0
	}
	return f
}

// Contiguous-run loops (innermost dim reduced). Four accumulators break the
// dependency chain; the slice-advancing form lets the compiler drop bounds
// checks.

func sumRun[T, A number](s []T) A {
	var a0, a1, a2, a3 A
	for len(s) >= 4 {
		a0 += A(s[0])
		a1 += A(s[1])
		a2 += A(s[2])
		a3 += A(s[3])
		s = s[4:]
	}
	for _, x := range s {
		a0 += A(x)
	}
	return (a0 + a1) + (a2 + a3)
}

func sumSqRun[T, A number](s []T) A {
	var a0, a1, a2, a3 A
	for len(s) >= 4 {
		x0, x1, x2, x3 := A(s[0]), A(s[1]), A(s[2]), A(s[3])
		a0 += x0 * x0
		a1 += x1 * x1
		a2 += x2 * x2
		a3 += x3 * x3
		s = s[4:]
	}
	for _, x := range s {
		a0 += A(x) * A(x)
	}
	return (a0 + a1) + (a2 + a3)
}

func abs[T number](x T) T {
	if x < 0 {
		return -x
	}
	return x
}

func sumAbsRun[T, A number](s []T) A {
	var a0, a1 A
	for len(s) >= 2 {
		a0 += A(abs(s[0]))
		a1 += A(abs(s[1]))
		s = s[2:]
	}
	for _, x := range s {
		a0 += A(abs(x))
	}
	return a0 + a1
}

// maxRun and minRun propagate NaN, as numpy does.
func maxRun[T number](a T, s []T) T {
	for _, x := range s {
		if x > a || x != x {
			a = x
		}
	}
	return a
}

func minRun[T number](a T, s []T) T {
	for _, x := range s {
		if x < a || x != x {
			a = x
		}
	}
	return a
}

func prodRun[T number](a T, s []T) T {
	for _, x := range s {
		a *= x
	}
	return a
}

func expSumRun[T number](s []T, m float64) float64 {
	var a float64
	for _, x := range s {
		a += math.Exp(float64(x) - m)
	}
	return a
}

// Row loops (innermost dim kept): dst[i] op= f(src[i]).

func addRow[T, A number](dst []A, src []T) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] += A(x)
	}
}

func addSqRow[T, A number](dst []A, src []T) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] += A(x) * A(x)
	}
}

func addAbsRow[T, A number](dst []A, src []T) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] += A(abs(x))
	}
}

func maxRow[T number](dst, src []T) {
	src = src[:len(dst)]
	for i, x := range src {
		if x > dst[i] || x != x {
			dst[i] = x
		}
	}
}

func minRow[T number](dst, src []T) {
	src = src[:len(dst)]
	for i, x := range src {
		if x < dst[i] || x != x {
			dst[i] = x
		}
	}
}

func mulRow[T number](dst, src []T) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] *= x
	}
}

func expSumRow[T number](dst []float64, src, m []T) {
	src, m = src[:len(dst)], m[:len(dst)]
	for i, x := range src {
		dst[i] += math.Exp(float64(x) - lseShift(m[i]))
	}
}

// combineRows merges a partial result into dst with the combine step of k.
func combineRows[A number](k opKind, dst, src []A) {
	switch combineOf(k) {
	case opMax:
		maxRow(dst, src)
	case opMin:
		minRow(dst, src)
	case opProd:
		mulRow(dst, src)
	default:
		addRow(dst, src)
	}
}

// job is one reduction of in (T elements) into accumulators of type A.
// A equals T except for opExpSum, which accumulates in float64.
type job[T, A number] struct {
	p    *plan
	kind opKind
	in   []T
	m    []T // per-output shift for opExpSum
}

// accRuns folds, for outputs k0..k1, the reduced elements e0..e1 (flat over
// red × run) into acc[k]. Used when the innermost dim is reduced.
func (j *job[T, A]) accRuns(acc []A, k0, k1, e0, e1 int) {
	p := j.p
	run := p.run
	kc := p.kept.at(k0)
	for k := k0; k < k1; k++ {
		a := acc[k]
		r := e0 / run
		rc := p.red.at(r)
		off := e0 - r*run
		for e := e0; e < e1; {
			n := min(e1-e, run-off)
			start := kc.off + rc.off + off
			s := j.in[start : start+n]
			switch j.kind {
			case opSum, opMean, opLogSum:
				a += sumRun[T, A](s)
			case opSumSquare, opL2:
				a += sumSqRun[T, A](s)
			case opL1:
				a += sumAbsRun[T, A](s)
			case opMax, opLogSumExp:
				a = A(maxRun(T(a), s))
			case opMin:
				a = A(minRun(T(a), s))
			case opProd:
				a = A(prodRun(T(a), s))
			case opExpSum:
				a += A(expSumRun(s, lseShift(j.m[k])))
			}
			e += n
			off = 0
			rc.next()
		}
		acc[k] = a
		kc.next()
	}
}

// accRows folds, for output rows k0..k1 and columns c0..c1, the reduced
// rows r0..r1 into acc. Used when the innermost dim is kept.
func (j *job[T, A]) accRows(acc []A, k0, k1, c0, c1, r0, r1 int) {
	p := j.p
	inner := p.inner
	kc := p.kept.at(k0)
	for k := k0; k < k1; k++ {
		o := k*inner + c0
		row := acc[o : o+c1-c0]
		rc := p.red.at(r0)
		for r := r0; r < r1; r++ {
			start := kc.off + rc.off + c0
			src := j.in[start : start+len(row)]
			switch j.kind {
			case opSum, opMean, opLogSum:
				addRow(row, src)
			case opSumSquare, opL2:
				addSqRow(row, src)
			case opL1:
				addAbsRow(row, src)
			case opMax, opLogSumExp:
				maxRow(any(row).([]T), src)
			case opMin:
				minRow(any(row).([]T), src)
			case opProd:
				mulRow(any(row).([]T), src)
			case opExpSum:
				expSumRow(any(row).([]float64), src, j.m[o:o+len(row)])
			}
			rc.next()
		}
		kc.next()
	}
}

// Work below these sizes runs on the calling goroutine.
const (
	minParallel = 1 << 15 // input elements
	colBlock    = 1 << 11 // columns per task in row mode
)

// reduceInto computes the unfinalised reduction of in into acc (len nOut),
// spreading large jobs over ctx's workers.
func reduceInto[T, A number](ctx *kernels.Ctx, p *plan, kind opKind, in, m []T, acc []A) {
	init := identity[A](kind)
	for i := range acc {
		acc[i] = init
	}
	if p.nOut == 0 || p.count == 0 {
		return
	}
	j := &job[T, A]{p: p, kind: kind, in: in, m: m}
	nk := p.kept.n
	threads := ctx.Threads()
	work := p.nOut * p.count
	if !p.phaseB() {
		total := p.red.n * p.run
		switch {
		case threads == 1 || work < minParallel:
			j.accRuns(acc, 0, nk, 0, total)
		case nk >= threads:
			ctx.Parallel(nk, max(1, minParallel/p.count), func(lo, hi int) {
				j.accRuns(acc, lo, hi, 0, total)
			})
		default:
			// Few outputs: split the reduced range, one partial per chunk.
			chunks := threads
			step := (total + chunks - 1) / chunks
			part := make([]A, chunks*p.nOut)
			ctx.Parallel(chunks, 1, func(lo, hi int) {
				for c := lo; c < hi; c++ {
					pc := part[c*p.nOut : (c+1)*p.nOut]
					for i := range pc {
						pc[i] = init
					}
					e0, e1 := c*step, min(total, (c+1)*step)
					if e0 < e1 {
						j.accRuns(pc, 0, nk, e0, e1)
					}
				}
			})
			for c := 0; c < chunks; c++ {
				combineRows(kind, acc, part[c*p.nOut:(c+1)*p.nOut])
			}
		}
		return
	}
	// Row mode: tasks are (output row, column block) pairs.
	inner := p.inner
	nb := (inner + colBlock - 1) / colBlock
	tasks := nk * nb
	rows := p.red.n
	do := func(acc []A, lo, hi, r0, r1 int) {
		for t := lo; t < hi; t++ {
			k, b := t/nb, t%nb
			c0 := b * colBlock
			j.accRows(acc, k, k+1, c0, min(inner, c0+colBlock), r0, r1)
		}
	}
	switch {
	case threads == 1 || work < minParallel:
		do(acc, 0, tasks, 0, rows)
	case tasks >= threads || rows < 2*threads:
		per := p.count * min(inner, colBlock)
		ctx.Parallel(tasks, max(1, minParallel/per), func(lo, hi int) { do(acc, lo, hi, 0, rows) })
	default:
		chunks := threads
		step := (rows + chunks - 1) / chunks
		part := make([]A, chunks*p.nOut)
		ctx.Parallel(chunks, 1, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				pc := part[c*p.nOut : (c+1)*p.nOut]
				for i := range pc {
					pc[i] = init
				}
				r0, r1 := c*step, min(rows, (c+1)*step)
				if r0 < r1 {
					do(pc, 0, tasks, r0, r1)
				}
			}
		})
		for c := 0; c < chunks; c++ {
			combineRows(kind, acc, part[c*p.nOut:(c+1)*p.nOut])
		}
	}
}

// reduceTyped runs the whole reduction of kind over in into out.
func reduceTyped[T number](ctx *kernels.Ctx, p *plan, kind opKind, in, out []T) {
	if kind == opLogSumExp {
		// Pass 1 leaves the maxima in out; pass 2 sums exp(x - max).
		reduceInto(ctx, p, opMax, in, nil, out)
		acc := make([]float64, len(out))
		reduceInto(ctx, p, opExpSum, in, out, acc)
		for i, a := range acc {
			out[i] = T(math.Log(a) + lseShift(out[i]))
		}
		return
	}
	reduceInto(ctx, p, kind, in, nil, out)
	switch kind {
	case opMean:
		if p.count == 0 {
			// 0/0: NaN for floats; integers have no NaN and keep 0.
			if isFloat[T]() {
				for i := range out {
					out[i] = T(math.NaN())
				}
			}
			return
		}
		n := float64(p.count)
		for i, a := range out {
			out[i] = T(float64(a) / n)
		}
	case opL2:
		for i, a := range out {
			out[i] = T(math.Sqrt(float64(a)))
		}
	case opLogSum:
		for i, a := range out {
			out[i] = T(math.Log(float64(a)))
		}
	}
}
