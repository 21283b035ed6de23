package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// runNode compiles and runs one node with 2 worker threads. consts marks
// the inputs that are known at build time.
func runNode(tb testing.TB, n *graph.Node, opset int64, ins []*tensor.Tensor, consts []bool) ([]*tensor.Tensor, error) {
	tb.Helper()
	meta := make([]kernels.Input, len(ins))
	for i, t := range ins {
		if t == nil {
			continue
		}
		meta[i] = kernels.Input{Present: true, DType: t.DType, Shape: t.Shape}
		if i < len(consts) && consts[i] {
			meta[i].Const = t
		}
	}
	build, err := kernels.Lookup(n.Domain, n.OpType, opset)
	if err != nil {
		return nil, err
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	pool := kernels.NewPool(2)
	defer pool.Close()
	if pk, ok := k.(kernels.PackedInputs); ok {
		// as the runtime does: packed constants are not passed
		ins = append([]*tensor.Tensor(nil), ins...)
		for _, i := range pk.PackedInputs() {
			if i < len(consts) && consts[i] {
				ins[i] = nil
			}
		}
	}
	out := make([]*tensor.Tensor, len(n.Outputs))
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				tb.Errorf("%s panicked: %v", n.OpType, r)
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return k.Run(&kernels.Ctx{Pool: pool, Allocator: poisonAlloc{}}, ins, out)
	}()
	return out, err
}

// poisonAlloc hands out NaN-filled buffers where a kernel asks for
// memory it promises to overwrite (AllocUninit), so tests catch outputs
// left partly unwritten.
type poisonAlloc struct{}

func (poisonAlloc) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	return tensor.Make(dt, shape)
}

func (poisonAlloc) AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, err
	}
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(math.NaN())
		}
	case []float64:
		for i := range d {
			d[i] = math.NaN()
		}
	case []uint16:
		for i := range d {
			d[i] = 0x7e00
		}
	case []int8:
		for i := range d {
			d[i] = 99
		}
	case []uint8:
		for i := range d {
			d[i] = 99
		}
	}
	return t, nil
}

var _ uninitAllocator = poisonAlloc{}

func node(op string, nIn, nOut int, attrs map[string]*graph.Attr) *graph.Node {
	n := &graph.Node{OpType: op, Attrs: attrs}
	if n.Attrs == nil {
		n.Attrs = map[string]*graph.Attr{}
	}
	for i := 0; i < nIn; i++ {
		n.Inputs = append(n.Inputs, fmt.Sprintf("in%d", i))
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, fmt.Sprintf("out%d", i))
	}
	return n
}

func i64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// naiveConv is the textbook N-D convolution, in float64.
func naiveConv(x, w []float64, xs, ws []int, group int, strides, dil, padB, outSp []int, bias []float64) []float64 {
	nd := len(xs) - 2
	n, c, m := xs[0], xs[1], ws[0]
	cg, mg := c/group, m/group
	outSize := prod(outSp)
	kk := prod(ws[2:])
	inSp := xs[2:]
	y := make([]float64, n*m*outSize)
	oc := make([]int, nd)
	kc := make([]int, nd)
	for b := 0; b < n; b++ {
		for mo := 0; mo < m; mo++ {
			g := mo / mg
			for o := 0; o < outSize; o++ {
				for i, f := nd-1, o; i >= 0; i-- {
					oc[i] = f % outSp[i]
					f /= outSp[i]
				}
				var s float64
				if bias != nil {
					s = bias[mo]
				}
				for ci := 0; ci < cg; ci++ {
					for kf := 0; kf < kk; kf++ {
						for i, f := nd-1, kf; i >= 0; i-- {
							kc[i] = f % ws[2+i]
							f /= ws[2+i]
						}
						idx, ok := 0, true
						for i := 0; i < nd; i++ {
							v := oc[i]*strides[i] - padB[i] + kc[i]*dil[i]
							if v < 0 || v >= inSp[i] {
								ok = false
								break
							}
							idx = idx*inSp[i] + v
						}
						if ok {
							s += x[(b*c+g*cg+ci)*prod(inSp)+idx] * w[(mo*cg+ci)*kk+kf]
						}
					}
				}
				y[(b*m+mo)*outSize+o] = s
			}
		}
	}
	return y
}

func toF64(t *tensor.Tensor) []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Float64At(i)
	}
	return out
}

func applyRef(v float64, act Activation) float64 {
	switch act.Kind {
	case ActRelu:
		return math.Max(v, 0)
	case ActClip:
		return math.Min(math.Max(v, float64(act.Alpha)), float64(act.Beta))
	case ActLeakyRelu:
		if v < 0 {
			return v * float64(act.Alpha)
		}
	case ActSigmoid:
		return 1 / (1 + math.Exp(-v))
	case ActHardSigmoid:
		return math.Max(0, math.Min(1, float64(act.Alpha)*v+float64(act.Beta)))
	case ActHardSwish:
		return v * math.Max(0, math.Min(1, v/6+0.5))
	case ActTanh:
		return math.Tanh(v)
	}
	return v
}

// closeTo checks got against want with a relative-and-absolute tolerance.
func closeTo(t *testing.T, name string, got *tensor.Tensor, want []float64, tol float64) {
	t.Helper()
	if got.Len() != len(want) {
		t.Fatalf("%s: %d elements, want %d", name, got.Len(), len(want))
	}
	for i, w := range want {
		g := got.Float64At(i)
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if math.Abs(g-w) > tol*(1+math.Abs(w)) {
			t.Fatalf("%s: element %d = %v, want %v", name, i, g, w)
		}
	}
}

type convCase struct {
	name             string
	n, c, m, group   int
	in, k            []int
	strides, dil     []int
	pads             []int // nil: zeros
	autoPad          string
	bias, constW     bool
	act              string
	alpha, beta      float32
	dt               tensor.DType
	explicitKernAttr bool
}

func convCases() []convCase {
	rng := rand.New(rand.NewPCG(7, 7))
	cases := []convCase{
		{name: "pointwise", n: 2, c: 8, m: 12, group: 1, in: []int{9, 7}, k: []int{1, 1}, bias: true, constW: true},
		{name: "pointwise-groups", n: 1, c: 8, m: 6, group: 2, in: []int{5, 5}, k: []int{1, 1}, constW: true, act: "Relu"},
		{name: "pointwise-runtimeW", n: 1, c: 5, m: 3, group: 1, in: []int{4, 6}, k: []int{1, 1}, bias: true},
		{name: "depthwise-s1-relu6", n: 2, c: 6, m: 6, group: 6, in: []int{13, 21}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, act: "Clip", alpha: 0, beta: 6},
		{name: "depthwise-s2", n: 1, c: 4, m: 4, group: 4, in: []int{17, 35}, k: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, act: "Relu"},
		{name: "depthwise-s2-nopad", n: 1, c: 3, m: 3, group: 3, in: []int{16, 40}, k: []int{3, 3}, strides: []int{2, 2}, constW: true},
		{name: "depthwise-s1-asym", n: 1, c: 2, m: 2, group: 2, in: []int{8, 30}, k: []int{3, 3}, pads: []int{0, 2, 1, 0}, constW: true},
		{name: "depthwise-mult2-5x5", n: 1, c: 3, m: 6, group: 3, in: []int{9, 9}, k: []int{5, 5}, pads: []int{2, 2, 2, 2}, bias: true},
		{name: "depthwise-dilated", n: 1, c: 4, m: 4, group: 4, in: []int{10, 11}, k: []int{3, 3}, dil: []int{2, 2}, pads: []int{2, 2, 2, 2}, constW: true},
		{name: "depthwise-leaky", n: 1, c: 4, m: 4, group: 4, in: []int{12, 12}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, constW: true, act: "LeakyRelu", alpha: 0.1},
		{name: "depthwise-1d", n: 2, c: 3, m: 3, group: 3, in: []int{20}, k: []int{3}, pads: []int{1, 1}, constW: true},
		{name: "general-3x3-s2", n: 1, c: 3, m: 8, group: 1, in: []int{15, 15}, k: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, act: "HardSwish"},
		{name: "general-5x5", n: 2, c: 1, m: 4, group: 1, in: []int{12, 12}, k: []int{5, 5}, pads: []int{2, 2, 2, 2}, bias: true, constW: true},
		{name: "general-groups", n: 1, c: 6, m: 9, group: 3, in: []int{7, 8}, k: []int{3, 2}, strides: []int{1, 2}, dil: []int{2, 1}, pads: []int{1, 0, 2, 1}, constW: true, act: "Sigmoid"},
		{name: "general-runtimeW", n: 1, c: 2, m: 3, group: 1, in: []int{6, 6}, k: []int{3, 3}, bias: true},
		{name: "general-1d", n: 2, c: 3, m: 4, group: 1, in: []int{17}, k: []int{4}, strides: []int{3}, pads: []int{2, 1}, bias: true, constW: true},
		{name: "general-3d", n: 1, c: 2, m: 3, group: 1, in: []int{5, 6, 4}, k: []int{3, 2, 2}, strides: []int{1, 2, 1}, pads: []int{1, 0, 1, 1, 1, 0}, bias: true, constW: true, act: "Tanh"},
		{name: "depthwise-3d", n: 1, c: 2, m: 2, group: 2, in: []int{4, 5, 6}, k: []int{2, 2, 2}, constW: true},
		{name: "same-upper", n: 1, c: 2, m: 2, group: 1, in: []int{7, 8}, k: []int{3, 3}, strides: []int{2, 2}, autoPad: "SAME_UPPER", constW: true},
		{name: "same-lower", n: 1, c: 2, m: 2, group: 1, in: []int{7, 8}, k: []int{4, 4}, strides: []int{2, 3}, autoPad: "SAME_LOWER", constW: true, explicitKernAttr: true},
		{name: "valid", n: 1, c: 2, m: 2, group: 1, in: []int{7, 8}, k: []int{3, 3}, strides: []int{2, 2}, autoPad: "VALID"},
		{name: "float64", n: 1, c: 4, m: 6, group: 2, in: []int{6, 7}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, dt: tensor.Float64, act: "Relu"},
		{name: "float64-depthwise", n: 1, c: 4, m: 4, group: 4, in: []int{6, 9}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, dt: tensor.Float64},
		{name: "float64-pointwise", n: 1, c: 4, m: 3, group: 1, in: []int{6, 9}, k: []int{1, 1}, constW: true, dt: tensor.Float64},
		{name: "float16", n: 1, c: 3, m: 4, group: 1, in: []int{6, 6}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, dt: tensor.Float16},
		{name: "float16-depthwise", n: 1, c: 3, m: 3, group: 3, in: []int{10, 10}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, dt: tensor.Float16},
		// stride-1 group-1 float32 with constant weights (packed, im2col blocks)
		{name: "s1-3x3-relu", n: 2, c: 20, m: 30, group: 1, in: []int{13, 40}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, act: "Relu"},
		{name: "s1-dilated-asym-clip", n: 1, c: 5, m: 7, group: 1, in: []int{11, 9}, k: []int{3, 2}, dil: []int{2, 1}, pads: []int{0, 1, 2, 0}, constW: true, act: "Clip", alpha: -0.5, beta: 0.5},
		{name: "s1-2x2-sigmoid", n: 1, c: 4, m: 3, group: 1, in: []int{5, 5}, k: []int{2, 2}, bias: true, constW: true, act: "Sigmoid"},
		{name: "s1-deep-k", n: 1, c: 400, m: 14, group: 1, in: []int{6, 7}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true},
		{name: "s1-many-channels", n: 1, c: 3, m: 200, group: 1, in: []int{20, 30}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, act: "Relu"},
		{name: "s1-same-upper", n: 1, c: 3, m: 5, group: 1, in: []int{7, 8}, k: []int{4, 4}, autoPad: "SAME_UPPER", constW: true},
		{name: "s1-valid-7x7", n: 1, c: 2, m: 3, group: 1, in: []int{9, 12}, k: []int{7, 7}, constW: true},
		// the indirect path's phase planes and grids
		{name: "s2-7x7-stem", n: 1, c: 3, m: 16, group: 1, in: []int{37, 41}, k: []int{7, 7}, strides: []int{2, 2}, pads: []int{3, 3, 3, 3}, bias: true, constW: true, act: "Relu"},
		{name: "s1-7x1-grid-is-output", n: 2, c: 8, m: 13, group: 1, in: []int{11, 17}, k: []int{7, 1}, pads: []int{3, 0, 3, 0}, bias: true, constW: true},
		{name: "s1-1x7", n: 1, c: 8, m: 12, group: 1, in: []int{9, 17}, k: []int{1, 7}, pads: []int{0, 3, 0, 3}, constW: true},
		{name: "s2-dilated", n: 1, c: 5, m: 9, group: 1, in: []int{19, 23}, k: []int{3, 3}, strides: []int{2, 2}, dil: []int{2, 2}, pads: []int{2, 1, 2, 2}, constW: true},
		{name: "s3x2-asym", n: 1, c: 4, m: 8, group: 2, in: []int{20, 21}, k: []int{3, 4}, strides: []int{3, 2}, pads: []int{0, 2, 1, 1}, bias: true, constW: true},
		// the pixel path (output channels in the lanes), K >= 256
		{name: "pixels-7x7", n: 1, c: 32, m: 64, group: 1, in: []int{7, 7}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, act: "Relu"},
		{name: "pixels-7x7-s2-groups", n: 2, c: 64, m: 64, group: 2, in: []int{13, 14}, k: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, bias: true, constW: true},
		{name: "pixels-1d-segments", n: 2, c: 64, m: 20, group: 1, in: []int{40}, k: []int{5}, pads: []int{2, 1}, bias: true, constW: true, act: "Relu"},
		{name: "pixels-dilated-s2", n: 1, c: 30, m: 33, group: 1, in: []int{31, 33}, k: []int{3, 3}, strides: []int{2, 2}, dil: []int{2, 2}, pads: []int{2, 1, 0, 2}, constW: true},
		{name: "pixels-pointwise", n: 2, c: 260, m: 40, group: 1, in: []int{7, 5}, k: []int{1, 1}, bias: true, constW: true, act: "Clip", alpha: -0.2, beta: 0.3},
		{name: "pixels-packed-pointwise-large-map", n: 1, c: 256, m: 20, group: 1, in: []int{12, 11}, k: []int{1, 1}, bias: true, constW: true},
		{name: "pixels-pointwise-groups-s2", n: 1, c: 600, m: 64, group: 2, in: []int{9, 9}, k: []int{1, 1}, strides: []int{2, 2}, constW: true},
		{name: "pixels-5x5-sigmoid", n: 1, c: 12, m: 45, group: 1, in: []int{9, 6}, k: []int{5, 5}, pads: []int{2, 2, 2, 2}, constW: true, act: "Sigmoid"},
		{name: "s1-3x3-wide", n: 1, c: 16, m: 40, group: 1, in: []int{30, 70}, k: []int{3, 3}, pads: []int{1, 1, 1, 1}, bias: true, constW: true, act: "Relu"},
	}
	// random 2-D shapes
	for i := 0; i < 12; i++ {
		g := 1 + rng.IntN(3)
		cg, mg := 1+rng.IntN(4), 1+rng.IntN(4)
		kh, kw := 1+rng.IntN(4), 1+rng.IntN(4)
		cs := convCase{name: fmt.Sprintf("random%d", i), n: 1 + rng.IntN(2), c: cg * g, m: mg * g, group: g,
			in: []int{kh + rng.IntN(12), kw + rng.IntN(40)}, k: []int{kh, kw},
			strides: []int{1 + rng.IntN(3), 1 + rng.IntN(3)}, dil: []int{1 + rng.IntN(2), 1},
			pads: []int{rng.IntN(3), rng.IntN(3), rng.IntN(3), rng.IntN(3)},
			bias: rng.IntN(2) == 0, constW: rng.IntN(3) != 0}
		cs.in[0] += (kh - 1) * cs.dil[0]
		cases = append(cases, cs)
	}
	return cases
}

// TestConvAgainstNaive checks every path (the indirect product, the
// im2col one it replaces where the CPU has no indirect kernel, depthwise,
// pointwise, the generic loops) against a float64 definition.
func TestConvAgainstNaive(t *testing.T) {
	for _, im2col := range []bool{false, true} {
		oldI, oldP := noIndirect, noPixels
		noIndirect, noPixels = im2col, im2col
		t.Run(fmt.Sprintf("im2col=%v", im2col), testConvAgainstNaive)
		noIndirect, noPixels = oldI, oldP
	}
}

func testConvAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	for _, cs := range convCases() {
		t.Run(cs.name, func(t *testing.T) {
			nd := len(cs.in)
			ones := func(v []int) []int {
				if v != nil {
					return v
				}
				o := make([]int, nd)
				for i := range o {
					o[i] = 1
				}
				return o
			}
			strides, dil := ones(cs.strides), ones(cs.dil)
			xs := append([]int{cs.n, cs.c}, cs.in...)
			ws := append([]int{cs.m, cs.c / cs.group}, cs.k...)
			x, w, b := randTensor(rng, xs...), randTensor(rng, ws...), randTensor(rng, cs.m)
			attrs := map[string]*graph.Attr{"group": intAttr(int64(cs.group))}
			if cs.strides != nil {
				attrs["strides"] = ints(i64s(cs.strides)...)
			}
			if cs.dil != nil {
				attrs["dilations"] = ints(i64s(cs.dil)...)
			}
			if cs.pads != nil {
				attrs["pads"] = ints(i64s(cs.pads)...)
			}
			if cs.autoPad != "" {
				attrs["auto_pad"] = strAttr(cs.autoPad)
			}
			if cs.explicitKernAttr {
				attrs["kernel_shape"] = ints(i64s(cs.k)...)
			}
			act := Activation{}
			if cs.act != "" {
				attrs[AttrActivation] = strAttr(cs.act)
				attrs[AttrActivationAlpha] = floatAttr(cs.alpha)
				attrs[AttrActivationBeta] = floatAttr(cs.beta)
				var err error
				if act, err = ParseActivation(kernels.AttrsOf(&graph.Node{Attrs: attrs})); err != nil {
					t.Fatal(err)
				}
			}
			// reference geometry
			padB, outSp := make([]int, nd), make([]int, nd)
			for i := 0; i < nd; i++ {
				dk := (cs.k[i]-1)*dil[i] + 1
				switch cs.autoPad {
				case "SAME_UPPER", "SAME_LOWER":
					outSp[i] = (cs.in[i] + strides[i] - 1) / strides[i]
					total := max(0, (outSp[i]-1)*strides[i]+dk-cs.in[i])
					padB[i] = total / 2
					if cs.autoPad == "SAME_LOWER" {
						padB[i] = total - total/2
					}
				case "VALID":
					outSp[i] = (cs.in[i]-dk)/strides[i] + 1
				default:
					pb, pe := 0, 0
					if cs.pads != nil {
						pb, pe = cs.pads[i], cs.pads[nd+i]
					}
					padB[i] = pb
					outSp[i] = (cs.in[i]+pb+pe-dk)/strides[i] + 1
				}
			}
			var bias []float64
			if cs.bias {
				bias = toF64(b)
			}
			want := naiveConv(toF64(x), toF64(w), xs, ws, cs.group, strides, dil, padB, outSp, bias)
			for i := range want {
				want[i] = applyRef(want[i], act)
			}
			dt := cs.dt
			if dt == tensor.Undefined {
				dt = tensor.Float32
			}
			x, w, b = castTo(x, dt), castTo(w, dt), castTo(b, dt)
			ins := []*tensor.Tensor{x, w}
			if cs.bias {
				ins = append(ins, b)
			}
			out, err := runNode(t, node("Conv", len(ins), 1, attrs), 17, ins, []bool{false, cs.constW, cs.constW})
			if err != nil {
				t.Fatal(err)
			}
			y := out[0]
			if y.DType != dt || !tensor.EqualShapes(y.Shape, append([]int{cs.n, cs.m}, outSp...)) {
				t.Fatalf("got %v%v, want %v%v", y.DType, y.Shape, dt, append([]int{cs.n, cs.m}, outSp...))
			}
			tol := 1e-5
			if dt == tensor.Float16 {
				tol = 1e-2
			}
			closeTo(t, cs.name, y, want, tol)
		})
	}
}

// castTo converts a float32 tensor to dt.
func castTo(t *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	if dt == tensor.Float32 {
		return t
	}
	o := tensor.New(dt, t.Shape...)
	for i, v := range t.F32() {
		switch d := o.Data.(type) {
		case []float64:
			d[i] = float64(v)
		case []uint16:
			if dt == tensor.Float16 {
				d[i] = tensor.FloatToHalf(v)
			} else {
				d[i] = tensor.FloatToBFloat16(v)
			}
		}
	}
	return o
}

// TestDepthwiseRowKernels compares the vector row kernels with the
// portable loops at every length around the 8-wide blocks, with guard
// bands around the output that must stay untouched.
func TestDepthwiseRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var w [9]float32
	for i := range w {
		w[i] = rng.Float32()*2 - 1
	}
	for _, stride := range []int{1, 2} {
		for n := 0; n <= 41; n++ {
			ld := stride*n + 3 + rng.IntN(3)
			x := make([]float32, 3*ld+16)
			for i := range x {
				x[i] = rng.Float32()*4 - 2
			}
			if n > 5 {
				x[ld+5] = float32(math.NaN())
			}
			const guard = 8
			got := make([]float32, n+2*guard)
			want := make([]float32, n)
			for i := range got {
				got[i] = 12345
			}
			if stride == 1 {
				dwRow3s1F32(x, ld, &w, got[guard:guard+n], 0.25, -1, 1.5)
				dwRow3s1(x, ld, &w, want, 0.25, -1, 1.5)
			} else {
				dwRow3s2F32(x, ld, &w, got[guard:guard+n], 0.25, -1, 1.5)
				dwRow3s2(x, ld, &w, want, 0.25, -1, 1.5)
			}
			for i := 0; i < guard; i++ {
				if got[i] != 12345 || got[guard+n+i] != 12345 {
					t.Fatalf("stride %d n %d: guard band overwritten", stride, n)
				}
			}
			for i, v := range want {
				g := got[guard+i]
				if math.IsNaN(float64(v)) != math.IsNaN(float64(g)) || math.Abs(float64(g-v)) > 1e-5 {
					t.Fatalf("stride %d n %d: y[%d] = %v, want %v", stride, n, i, g, v)
				}
			}
		}
	}
}

func TestConvErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randTensor(rng, 1, 4, 5, 5)
	cases := []struct {
		name  string
		w     *tensor.Tensor
		attrs map[string]*graph.Attr
	}{
		{"channels", randTensor(rng, 2, 3, 3, 3), nil},
		{"group", randTensor(rng, 3, 2, 3, 3), map[string]*graph.Attr{"group": intAttr(2)}},
		{"rank", randTensor(rng, 2, 4, 3), nil},
		{"kernel-too-big", randTensor(rng, 2, 4, 7, 7), nil},
		{"kernel_shape", randTensor(rng, 2, 4, 3, 3), map[string]*graph.Attr{"kernel_shape": ints(2, 2)}},
		{"strides-len", randTensor(rng, 2, 4, 3, 3), map[string]*graph.Attr{"strides": ints(1, 1, 1)}},
		{"zero-stride", randTensor(rng, 2, 4, 3, 3), map[string]*graph.Attr{"strides": ints(0, 1)}},
		{"huge-pads", randTensor(rng, 2, 4, 3, 3), map[string]*graph.Attr{"pads": ints(1<<40, 0, 0, 0)}},
		{"bad-auto-pad", randTensor(rng, 2, 4, 3, 3), map[string]*graph.Attr{"auto_pad": strAttr("FOO")}},
	}
	for _, cs := range cases {
		for _, constW := range []bool{false, true} {
			_, err := runNode(t, node("Conv", 2, 1, cs.attrs), 17, []*tensor.Tensor{x, cs.w}, []bool{false, constW})
			if err == nil {
				t.Errorf("%s (const W %v): no error", cs.name, constW)
			}
		}
	}
	// a bias of the wrong length
	w := randTensor(rng, 2, 4, 3, 3)
	if _, err := runNode(t, node("Conv", 3, 1, nil), 17, []*tensor.Tensor{x, w, randTensor(rng, 3)}, nil); err == nil {
		t.Error("bad bias: no error")
	}
	// no input channels: the output is the activated bias
	attrs := map[string]*graph.Attr{AttrActivation: strAttr("Relu")}
	out, err := runNode(t, node("Conv", 3, 1, attrs), 17, []*tensor.Tensor{tensor.New(tensor.Float32, 1, 0, 4, 4),
		tensor.New(tensor.Float32, 2, 0, 3, 3), tensor.Float32s([]int{2}, []float32{-1, 2})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "empty channels", out[0], []float64{0, 0, 0, 0, 2, 2, 2, 2}, 0)
	// an integer input is unsupported, not failed
	xi := tensor.New(tensor.Int32, 1, 4, 5, 5)
	if _, err := runNode(t, node("Conv", 2, 1, nil), 17, []*tensor.Tensor{xi, w}, nil); !kernels.IsUnsupported(err) {
		t.Errorf("int32 Conv: %v, want unsupported", err)
	}
}
