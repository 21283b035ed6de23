package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// convCase is a convolution geometry; pads are explicit (begin..., end...).
type convCase struct {
	name                    string
	x, w                    []int // shapes
	group                   int
	strides, dilations, pad []int
	autoPad                 string
}

func (c convCase) attrs() map[string]*graph.Attr {
	a := map[string]*graph.Attr{"group": intAttr(int64(max(c.group, 1)))}
	toAttr := func(v []int) *graph.Attr {
		out := make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
		return intsAttr(out...)
	}
	if c.strides != nil {
		a["strides"] = toAttr(c.strides)
	}
	if c.dilations != nil {
		a["dilations"] = toAttr(c.dilations)
	}
	if c.pad != nil {
		a["pads"] = toAttr(c.pad)
	}
	if c.autoPad != "" {
		a["auto_pad"] = strAttr(c.autoPad)
	}
	return a
}

var convCases = []convCase{
	{name: "2d 3x3 pad 1", x: []int{2, 3, 6, 5}, w: []int{4, 3, 3, 3}, pad: []int{1, 1, 1, 1}},
	{name: "2d stride 2 asymmetric pads", x: []int{1, 2, 7, 8}, w: []int{5, 2, 3, 2}, strides: []int{2, 3}, pad: []int{0, 1, 2, 0}},
	{name: "2d dilation", x: []int{1, 2, 9, 9}, w: []int{3, 2, 3, 3}, dilations: []int{2, 3}, pad: []int{2, 1, 0, 3}},
	{name: "2d groups", x: []int{1, 6, 5, 5}, w: []int{4, 3, 2, 2}, group: 2},
	{name: "2d depthwise", x: []int{1, 4, 6, 6}, w: []int{4, 1, 3, 3}, group: 4, pad: []int{1, 1, 1, 1}},
	{name: "depthwise x2 multiplier, stride, dilation", x: []int{1, 3, 7, 8}, w: []int{6, 1, 3, 3}, group: 3, strides: []int{2, 2}, dilations: []int{2, 1}, pad: []int{2, 0, 1, 3}},
	{name: "depthwise 1d", x: []int{2, 4, 9}, w: []int{4, 1, 3}, group: 4, strides: []int{3}, pad: []int{2, 2}},
	{name: "depthwise pads wider than the input", x: []int{1, 2, 3, 3}, w: []int{2, 1, 2, 2}, group: 2, pad: []int{3, 3, 3, 3}},
	{name: "depthwise SAME_LOWER stride 2", x: []int{1, 3, 6, 5}, w: []int{3, 1, 3, 3}, group: 3, strides: []int{2, 2}, autoPad: "SAME_LOWER"},
	{name: "2d 1x1", x: []int{1, 8, 3, 4}, w: []int{9, 8, 1, 1}},
	{name: "2d SAME_UPPER stride 2", x: []int{1, 2, 6, 7}, w: []int{3, 2, 4, 3}, strides: []int{2, 2}, autoPad: "SAME_UPPER"},
	{name: "2d SAME_LOWER stride 2", x: []int{1, 2, 6, 7}, w: []int{3, 2, 4, 3}, strides: []int{2, 2}, autoPad: "SAME_LOWER"},
	{name: "2d VALID", x: []int{1, 1, 5, 4}, w: []int{2, 1, 2, 3}, autoPad: "VALID"},
	{name: "1d", x: []int{2, 3, 11}, w: []int{4, 3, 3}, strides: []int{2}, pad: []int{1, 2}},
	{name: "3d", x: []int{1, 2, 4, 5, 3}, w: []int{3, 2, 2, 3, 2}, pad: []int{1, 0, 1, 0, 1, 1}, strides: []int{1, 2, 1}},
}

// explicitPads resolves auto_pad like the ONNX specification.
func (c convCase) explicitPads() []int {
	sp := len(c.x) - 2
	pads := make([]int, 2*sp)
	if c.pad != nil {
		copy(pads, c.pad)
	}
	if c.autoPad != "SAME_UPPER" && c.autoPad != "SAME_LOWER" {
		return pads
	}
	for i := 0; i < sp; i++ {
		s, d := 1, 1
		if c.strides != nil {
			s = c.strides[i]
		}
		if c.dilations != nil {
			d = c.dilations[i]
		}
		in, k := c.x[2+i], c.w[2+i]
		out := (in + s - 1) / s
		total := max(0, (out-1)*s+(k-1)*d+1-in)
		small, big := total/2, total-total/2
		if c.autoPad == "SAME_UPPER" {
			pads[i], pads[i+sp] = small, big
		} else {
			pads[i], pads[i+sp] = big, small
		}
	}
	return pads
}

// refConv is a direct N-D convolution of (x − xz) with (w − wz[m]) in int64.
func refConv(c convCase, x []int64, xz int64, w []int64, wz []int64) ([]int64, []int) {
	sp := len(c.x) - 2
	g := max(c.group, 1)
	pads := c.explicitPads()
	str, dil := make([]int, sp), make([]int, sp)
	out := []int{c.x[0], c.w[0]}
	for i := 0; i < sp; i++ {
		str[i], dil[i] = 1, 1
		if c.strides != nil {
			str[i] = c.strides[i]
		}
		if c.dilations != nil {
			dil[i] = c.dilations[i]
		}
		ext := (c.w[2+i]-1)*dil[i] + 1
		out = append(out, (c.x[2+i]+pads[i]+pads[i+sp]-ext)/str[i]+1)
	}
	xs, ws, os := tensor.Strides(c.x), tensor.Strides(c.w), tensor.Strides(out)
	y := make([]int64, product(out))
	cg, mg := c.x[1]/g, c.w[0]/g
	kern := c.w[2:]
	opos, kpos := make([]int, sp), make([]int, sp)
	for i := range y {
		r := i
		n := r / os[0]
		r %= os[0]
		m := r / os[1]
		r %= os[1]
		for d := 0; d < sp; d++ {
			opos[d] = r / os[2+d]
			r %= os[2+d]
		}
		grp := m / mg
		var s int64
		for ci := 0; ci < cg; ci++ {
			for t := 0; t < product(kern); t++ {
				rr := t
				for d := sp - 1; d >= 0; d-- {
					kpos[d] = rr % kern[d]
					rr /= kern[d]
				}
				xoff, ok := n*xs[0]+(grp*cg+ci)*xs[1], true
				woff := m*ws[0] + ci*ws[1]
				for d := 0; d < sp; d++ {
					p := opos[d]*str[d] - pads[d] + kpos[d]*dil[d]
					if p < 0 || p >= c.x[2+d] {
						ok = false
					}
					xoff += p * xs[2+d]
					woff += kpos[d] * ws[2+d]
				}
				if ok {
					zw := wz[0]
					if len(wz) > 1 {
						zw = wz[m]
					}
					s += (x[xoff] - xz) * (w[woff] - zw)
				}
			}
		}
		y[i] = s
	}
	return y, out
}

func randTensor(r *rand.Rand, dt tensor.DType, shape []int) (*tensor.Tensor, []int64) {
	t := tensor.New(dt, shape...)
	vals := make([]int64, t.Len())
	for i := range vals {
		v := int64(r.IntN(256))
		if dt == tensor.Int8 {
			v -= 128
		}
		vals[i] = v
		switch d := t.Data.(type) {
		case []int8:
			d[i] = int8(v)
		case []uint8:
			d[i] = uint8(v)
		}
	}
	return t, vals
}

func TestConvIntegerMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range convCases {
		for _, dts := range [][2]tensor.DType{{tensor.Uint8, tensor.Int8}, {tensor.Int8, tensor.Uint8}} {
			x, xv := randTensor(r, dts[0], c.x)
			w, wv := randTensor(r, dts[1], c.w)
			xzT, xz := randTensor(r, dts[0], []int{})
			wzT, wz := randTensor(r, dts[1], []int{c.w[0]})
			want, shape := refConv(c, xv, xz[0], wv, wz)
			for _, consts := range []bool{false, true} {
				got := mustRun(t, node{op: "ConvInteger", opset: 10, attrs: c.attrs(), consts: consts}, x, w, xzT, wzT)[0]
				if got.DType != tensor.Int32 || !tensor.EqualShapes(got.Shape, shape) {
					t.Fatalf("%s: got %v%v, want int32%v", c.name, got.DType, got.Shape, shape)
				}
				for i, v := range got.Data.([]int32) {
					if int64(v) != want[i] {
						t.Fatalf("%s %v consts=%v: y[%d] = %d, want %d", c.name, dts, consts, i, v, want[i])
					}
				}
			}
		}
	}
}

// TestQLinearConv checks the requantized output exactly against the ONNX
// reference formula on the integer reference, and to within one step
// against a float convolution of the dequantized operands.
func TestQLinearConv(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range convCases {
		for _, dts := range [][3]tensor.DType{{tensor.Uint8, tensor.Int8, tensor.Uint8}, {tensor.Int8, tensor.Int8, tensor.Int8}} {
			m := c.w[0]
			x, xv := randTensor(r, dts[0], c.x)
			w, wv := randTensor(r, dts[1], c.w)
			xzT, xz := randTensor(r, dts[0], []int{})
			wzT, wz := randTensor(r, dts[1], []int{m})
			yzT, yz := randTensor(r, dts[2], []int{})
			xs, ys := float32(0.02), float32(0.9)
			wsT := tensor.New(tensor.Float32, m)
			bias := tensor.New(tensor.Int32, m)
			for i := range m {
				wsT.F32()[i] = 0.001 + 0.002*r.Float32()
				bias.Data.([]int32)[i] = int32(r.IntN(20000) - 10000)
			}
			acc, shape := refConv(c, xv, xz[0], wv, wz)
			got := mustRun(t, node{op: "QLinearConv", opset: 10, attrs: c.attrs(), consts: true},
				x, tt([]int{}, xs), xzT, w, wsT, wzT, tt([]int{}, ys), yzT, bias)[0]
			if got.DType != dts[2] || !tensor.EqualShapes(got.Shape, shape) {
				t.Fatalf("%s: got %v%v, want %v%v", c.name, got.DType, got.Shape, dts[2], shape)
			}
			lo, hi, _ := qrange(dts[2])
			per := product(shape[2:])
			for i := range acc {
				ch := i / per % m
				b := int64(bias.Data.([]int32)[ch])
				mult := float32(xs*wsT.F32()[ch]) / ys
				exact := saturate(float64(acc[i]+b)*float64(mult), float64(yz[0]), float64(lo), float64(hi))
				realV := (float64(acc[i]) + float64(b)) * float64(xs) * float64(wsT.F32()[ch])
				approx := math.Max(float64(lo), math.Min(float64(hi), math.RoundToEven(realV/float64(ys))+float64(yz[0])))
				g := got.Float64At(i)
				if g != exact {
					t.Fatalf("%s %v: y[%d] = %v, want %v (reference formula)", c.name, dts, i, g, exact)
				}
				if math.Abs(g-approx) > 1 {
					t.Fatalf("%s %v: y[%d] = %v, float reference %v", c.name, dts, i, g, approx)
				}
			}
		}
	}
}

// TestNewConvFloatReference runs the exported fused kernel against a float
// convolution of the dequantized operands: per-channel weights, float bias,
// float32 and int8 outputs, with and without a fused Relu.
func TestNewConvFloatReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	c := convCase{name: "conv", x: []int{2, 3, 7, 6}, w: []int{5, 3, 3, 3}, pad: []int{1, 1, 1, 1}, strides: []int{2, 1}}
	m := c.w[0]
	x, xv := randTensor(r, tensor.Int8, c.x)
	w, wv := randTensor(r, tensor.Int8, c.w)
	xs, xz := float32(0.05), int32(-7)
	wScale := make([]float32, m)
	fb := tensor.New(tensor.Float32, m)
	for i := range wScale {
		wScale[i] = 0.01 + 0.01*r.Float32()
		fb.F32()[i] = 2*r.Float32() - 1
	}
	acc, shape := refConv(c, xv, int64(xz), wv, []int64{0})
	per := product(shape[2:])
	realAt := func(i int) float64 {
		ch := i / per % m
		return float64(acc[i])*float64(xs)*float64(wScale[ch]) + float64(fb.F32()[ch])
	}
	for _, relu := range []bool{false, true} {
		for _, yt := range []tensor.DType{tensor.Float32, tensor.Int8} {
			p := ConvParams{XType: tensor.Int8, XScale: xs, XZero: xz, W: w, WScale: wScale, Bias: fb,
				YType: yt, YScale: 0.1, YZero: 3, Relu: relu, Pads: c.pad, Strides: c.strides}
			k, err := NewConv(p)
			if err != nil {
				t.Fatal(err)
			}
			out := []*tensor.Tensor{nil}
			if err := k.Run(nil, []*tensor.Tensor{x}, out); err != nil {
				t.Fatal(err)
			}
			y := out[0]
			if !tensor.EqualShapes(y.Shape, shape) || y.DType != yt {
				t.Fatalf("got %v%v, want %v%v", y.DType, y.Shape, yt, shape)
			}
			for i := range acc {
				want := realAt(i)
				if relu {
					want = math.Max(0, want)
				}
				g := y.Float64At(i)
				if yt == tensor.Float32 {
					if math.Abs(g-want) > 1e-5*math.Max(1, math.Abs(want)) {
						t.Fatalf("relu=%v float: y[%d] = %v, want %v", relu, i, g, want)
					}
					continue
				}
				// int8: within one quantisation step of the real value
				// (the float bias is rounded to the accumulator grid).
				q := math.Max(-128, math.Min(127, math.RoundToEven(want/0.1)+3))
				if math.Abs(g-q) > 1 {
					t.Fatalf("relu=%v int8: y[%d] = %v, want about %v", relu, i, g, q)
				}
			}
		}
	}
}

func TestConvRejectsBadInput(t *testing.T) {
	x := tensor.New(tensor.Uint8, 1, 3, 4, 4)
	w := tensor.New(tensor.Uint8, 2, 2, 3, 3)
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		in    []*tensor.Tensor
	}{
		{"channel mismatch", nil, []*tensor.Tensor{x, w}},
		{"kernel larger than input", nil, []*tensor.Tensor{x, tensor.New(tensor.Uint8, 2, 3, 5, 5)}},
		{"bad pads length", map[string]*graph.Attr{"pads": intsAttr(1, 1)}, []*tensor.Tensor{x, tensor.New(tensor.Uint8, 2, 3, 3, 3)}},
		{"zero stride", map[string]*graph.Attr{"strides": intsAttr(0, 1)}, []*tensor.Tensor{x, tensor.New(tensor.Uint8, 2, 3, 3, 3)}},
		{"group does not divide", map[string]*graph.Attr{"group": intAttr(2)}, []*tensor.Tensor{x, tensor.New(tensor.Uint8, 2, 1, 3, 3)}},
		{"per-channel input zero point", nil, []*tensor.Tensor{x, tensor.New(tensor.Uint8, 2, 3, 3, 3), tensor.New(tensor.Uint8, 3)}},
		{"weight zero point count", nil, []*tensor.Tensor{x, tensor.New(tensor.Uint8, 2, 3, 3, 3), nil, tensor.New(tensor.Uint8, 3)}},
		{"rank 2 input", nil, []*tensor.Tensor{tensor.New(tensor.Uint8, 3, 4), tensor.New(tensor.Uint8, 2, 3, 3, 3)}},
	}
	for _, tc := range tests {
		for _, consts := range []bool{false, true} {
			if _, err := runOp(node{op: "ConvInteger", opset: 10, attrs: tc.attrs, consts: consts}, tc.in...); err == nil {
				t.Errorf("%s (consts=%v): no error", tc.name, consts)
			}
		}
	}
}
