package elementwise

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// castKernel is Cast (to fixed at build time) and CastLike (to taken from
// the second input). Conversions follow numpy's astype, which produced the
// ONNX reference outputs: floats truncate toward zero into integers
// (8-, 16- and unsigned 32-bit targets through int64, so out-of-range values
// wrap), anything non-zero (NaN included) is true, float16 and bfloat16 are
// rounded to nearest even directly from the source value, and strings are
// parsed and formatted as numpy does ("1.5", "1e-05", "nan", "inf", "True").
type castKernel struct {
	op   string
	to   tensor.DType
	like bool
}

// MayAlias reports that a cast to the input's own dtype returns its input.
func (k *castKernel) MayAlias() bool { return true }

var onnxTypeNames = map[string]tensor.DType{
	"FLOAT": tensor.Float32, "UINT8": tensor.Uint8, "INT8": tensor.Int8, "UINT16": tensor.Uint16,
	"INT16": tensor.Int16, "INT32": tensor.Int32, "INT64": tensor.Int64, "STRING": tensor.String,
	"BOOL": tensor.Bool, "FLOAT16": tensor.Float16, "DOUBLE": tensor.Float64, "UINT32": tensor.Uint32,
	"UINT64": tensor.Uint64, "BFLOAT16": tensor.BFloat16,
}

func castable(dt tensor.DType) bool { return allTypes.has(dt) }

func buildCast(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 1, 1); err != nil {
		return nil, err
	}
	at := b.Attrs().Get("to")
	if at == nil {
		return nil, b.Errorf("missing required attribute \"to\"")
	}
	to := tensor.DType(at.Int)
	if at.Type == graph.AttrString { // Cast-1 named the type
		t, ok := onnxTypeNames[strings.ToUpper(at.String)]
		if !ok {
			return nil, kernels.Unsupported("Cast", "to=%q", at.String)
		}
		to = t
	}
	if !castable(to) {
		return nil, kernels.Unsupported("Cast", "to %v", to)
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !castable(dt) {
		return nil, kernels.Unsupported("Cast", "from %v", dt)
	}
	return &castKernel{op: "Cast", to: to}, nil
}

func buildCastLike(b *kernels.BuildContext) (kernels.Kernel, error) {
	if err := checkInputs(b, 2, 2); err != nil {
		return nil, err
	}
	for i := 0; i < 2; i++ {
		if dt := b.Inputs[i].DType; dt != tensor.Undefined && !castable(dt) {
			return nil, kernels.Unsupported("CastLike", "dtype %v", dt)
		}
	}
	return &castKernel{op: "CastLike", like: true}, nil
}

func (k *castKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, to := in[0], k.to
	if k.like {
		to = in[1].DType
	}
	if !castable(to) {
		return kernels.Unsupported(k.op, "to %v", to)
	}
	if !castable(x.DType) {
		return kernels.Unsupported(k.op, "from %v", x.DType)
	}
	if x.DType == to {
		out[0] = &tensor.Tensor{DType: to, Shape: append([]int{}, x.Shape...), Data: x.Data}
		return nil
	}
	o, err := ctx.Alloc(to, x.Shape)
	if err != nil {
		return err
	}
	if err := castData(ctx, o, x); err != nil {
		return err
	}
	out[0] = o
	return nil
}

// castData converts x's elements into o (same length, different dtype).
func castData(ctx *kernels.Ctx, o, x *tensor.Tensor) error {
	if o.DType == tensor.String {
		formatInto(ctx, o.Data.([]string), x)
		return nil
	}
	switch xd := x.Data.(type) {
	case []float32:
		castFrom(ctx, o, xd, true)
	case []float64:
		castFrom(ctx, o, xd, true)
	case []int8:
		castFrom(ctx, o, xd, false)
	case []uint8:
		castFrom(ctx, o, xd, false)
	case []int16:
		castFrom(ctx, o, xd, false)
	case []uint16:
		if isHalf(x.DType) {
			if isHalf(o.DType) { // float16 <-> bfloat16 through exact float32
				src, dst := xd, o.Data.([]uint16)
				ctx.Parallel(len(dst), grainCheap, func(lo, hi int) {
					buf := make([]float32, hi-lo)
					decodeHalf(buf, src[lo:hi], x.DType)
					encodeHalf(dst[lo:hi], buf, o.DType)
				})
				return nil
			}
			f, err := toFloat32(ctx, x)
			if err != nil {
				return err
			}
			castFrom(ctx, o, f.Data.([]float32), true)
			return nil
		}
		castFrom(ctx, o, xd, false)
	case []int32:
		castFrom(ctx, o, xd, false)
	case []uint32:
		castFrom(ctx, o, xd, false)
	case []int64:
		castFrom(ctx, o, xd, false)
	case []uint64:
		castFrom(ctx, o, xd, false)
	case []bool:
		u := make([]uint8, len(xd))
		for i, v := range xd {
			if v {
				u[i] = 1
			}
		}
		castFrom(ctx, o, u, false)
	case []string:
		return parseInto(o, xd)
	default:
		return kernels.Unsupported("Cast", "from %v", x.DType)
	}
	return nil
}

// castFrom converts numeric s into o, a tensor of any non-string dtype.
func castFrom[S number](ctx *kernels.Ctx, o *tensor.Tensor, s []S, srcFloat bool) {
	switch d := o.Data.(type) {
	case []float32:
		parUnary(ctx, grainCheap, d, s, convert[float32, S])
	case []float64:
		parUnary(ctx, grainCheap, d, s, convert[float64, S])
	case []int8:
		parUnary(ctx, grainCheap, d, s, convertInt[int8, S])
	case []uint8:
		parUnary(ctx, grainCheap, d, s, convertInt[uint8, S])
	case []int16:
		parUnary(ctx, grainCheap, d, s, convertInt[int16, S])
	case []uint16:
		switch {
		case isHalf(o.DType):
			dt := o.DType
			parUnary(ctx, grainCheap, d, s, func(d []uint16, s []S) { convertHalf(d, s, dt) })
		default:
			parUnary(ctx, grainCheap, d, s, convertInt[uint16, S])
		}
	case []int32:
		parUnary(ctx, grainCheap, d, s, convert[int32, S])
	case []uint32:
		if srcFloat {
			parUnary(ctx, grainCheap, d, s, convertInt[uint32, S])
		} else {
			parUnary(ctx, grainCheap, d, s, convert[uint32, S])
		}
	case []int64:
		parUnary(ctx, grainCheap, d, s, convert[int64, S])
	case []uint64:
		parUnary(ctx, grainCheap, d, s, convert[uint64, S])
	case []bool:
		parUnary(ctx, grainCheap, d, s, func(d []bool, s []S) {
			for i, v := range s[:len(d)] {
				d[i] = v != 0
			}
		})
	}
}

func convert[D, S number](d []D, s []S) {
	for i, v := range s[:len(d)] {
		d[i] = D(v)
	}
}

// convertInt goes through int64 so that out-of-range floats wrap like C
// casts on x86 (numpy) instead of giving implementation-defined values.
func convertInt[D integer, S number](d []D, s []S) {
	for i, v := range s[:len(d)] {
		d[i] = D(int64(v))
	}
}

func convertHalf[S number](d []uint16, s []S, dt tensor.DType) {
	if f, ok := any(s).([]float32); ok {
		encodeHalf(d, f, dt)
		return
	}
	mbits, ebits := halfBits(dt)
	for i, v := range s[:len(d)] {
		d[i] = uint16(narrow(float64(v), mbits, ebits))
	}
}

// narrow rounds f to nearest even in a binary format with mbits stored
// mantissa bits and ebits exponent bits (IEEE layout), returning the bits.
// Rounding once from float64 avoids double rounding through float32.
func narrow(f float64, mbits, ebits uint) uint64 {
	b := math.Float64bits(f)
	sign := b >> 63 << (mbits + ebits)
	exp := int(b>>52) & 0x7ff
	mant := b & (1<<52 - 1)
	emax := 1<<ebits - 1
	inf := sign | uint64(emax)<<mbits
	switch {
	case exp == 0x7ff && mant != 0:
		return inf | 1<<(mbits-1) // quiet NaN
	case exp == 0x7ff:
		return inf
	case exp == 0:
		return sign // float64 subnormals are far below either format's range
	}
	e := exp - 1023 + (1<<(ebits-1) - 1)
	if e >= emax {
		return inf
	}
	var h, m uint64
	var shift uint
	if e <= 0 { // subnormal result: count units of the smallest subnormal
		s := 53 - int(mbits) - e
		if s >= 64 {
			return sign
		}
		shift = uint(s)
		m = mant | 1<<52
		h = m >> shift
	} else {
		shift = 52 - mbits
		m = mant
		h = uint64(e)<<mbits | mant>>shift
	}
	rem, half := m&(1<<shift-1), uint64(1)<<(shift-1)
	if rem > half || rem == half && h&1 == 1 {
		h++ // a carry into the exponent is correct, up to infinity
	}
	return sign | h
}

func halfBits(dt tensor.DType) (mbits, ebits uint) {
	if dt == tensor.BFloat16 {
		return 7, 8
	}
	return 10, 5
}

// formatInto writes x's elements as numpy's astype(str) would.
func formatInto(ctx *kernels.Ctx, d []string, x *tensor.Tensor) {
	var f func(i int) string
	switch xd := x.Data.(type) {
	case []float32:
		f = func(i int) string { return formatFloat(float64(xd[i]), 32) }
	case []float64:
		f = func(i int) string { return formatFloat(xd[i], 64) }
	case []uint16:
		if isHalf(x.DType) {
			dt := x.DType
			f = func(i int) string { return formatHalf(xd[i], dt) }
		} else {
			f = func(i int) string { return strconv.FormatUint(uint64(xd[i]), 10) }
		}
	case []bool:
		f = func(i int) string {
			if xd[i] {
				return "True"
			}
			return "False"
		}
	case []uint8, []uint32, []uint64:
		f = func(i int) string { return strconv.FormatUint(uint64(x.Int64At(i)), 10) }
	default: // signed integers
		f = func(i int) string { return strconv.FormatInt(x.Int64At(i), 10) }
	}
	ctx.Parallel(len(d), grainMath, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] = f(i)
		}
	})
}

// formatFloat is numpy's str() of a float: the shortest representation
// that reads back to the same value, positional for 1e-4 <= |f| < 1e16
// (always with a fraction, "100.0"), scientific otherwise ("1e-05").
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-4 && a < 1e16 {
		s := strconv.FormatFloat(f, 'f', -1, bits)
		if !strings.ContainsRune(s, '.') {
			s += ".0"
		}
		return s
	}
	return strconv.FormatFloat(f, 'e', -1, bits)
}

// formatHalf is formatFloat for float16/bfloat16 bits: the shortest decimal
// that rounds back to the same bits.
func formatHalf(h uint16, dt tensor.DType) string {
	var f float64
	if dt == tensor.BFloat16 {
		f = float64(tensor.BFloat16ToFloat(h))
	} else {
		f = float64(tensor.HalfToFloat(h))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
		return formatFloat(f, 64)
	}
	mb, eb := halfBits(dt)
	for prec := 0; prec < 17; prec++ {
		v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'e', prec, 64), 64)
		if uint16(narrow(v, mb, eb)) == h {
			return formatFloat(v, 64)
		}
	}
	return formatFloat(f, 64)
}

// parseInto converts strings to o's dtype as numpy's astype does: surrounding
// blanks are ignored, "nan", "inf" and "-INF" are accepted for floats, and
// integers must be written as integers.
func parseInto(o *tensor.Tensor, s []string) error {
	bad := func(v string) error { return fmt.Errorf("cannot parse %q as %v", v, o.DType) }
	switch d := o.Data.(type) {
	case []float32:
		for i, v := range s {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil && !isRangeErr(err) {
				return bad(v)
			}
			d[i] = float32(f)
		}
	case []float64:
		for i, v := range s {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil && !isRangeErr(err) {
				return bad(v)
			}
			d[i] = f
		}
	case []bool:
		for i, v := range s {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil && !isRangeErr(err) {
				return bad(v)
			}
			d[i] = f != 0
		}
	case []uint16:
		if isHalf(o.DType) {
			mb, eb := halfBits(o.DType)
			for i, v := range s {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil && !isRangeErr(err) {
					return bad(v)
				}
				d[i] = uint16(narrow(f, mb, eb))
			}
			return nil
		}
		return parseInts(d, s, bad)
	case []int8:
		return parseInts(d, s, bad)
	case []uint8:
		return parseInts(d, s, bad)
	case []int16:
		return parseInts(d, s, bad)
	case []int32:
		return parseInts(d, s, bad)
	case []uint32:
		return parseInts(d, s, bad)
	case []int64:
		return parseInts(d, s, bad)
	case []uint64:
		for i, v := range s {
			u, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(v), "+"), 10, 64)
			if err != nil {
				return bad(v)
			}
			d[i] = u
		}
	}
	return nil
}

func parseInts[T integer](d []T, s []string, bad func(string) error) error {
	for i, v := range s {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return bad(v)
		}
		d[i] = T(n)
	}
	return nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
