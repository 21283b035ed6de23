package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// fqModel is y = FakeQuantize(x, range) with x a trainable initializer.
func fqModel(x []float64, shape []int, lo, hi float32, qmin, qmax int64) *graph.Model {
	g := &graph.Graph{Name: "fq", Outputs: []graph.ValueInfo{{Name: "y", DType: tensor.Float32}}}
	xt, _ := tensor.FromSlice(tensor.Float64, shape, x)
	g.AddInitializer("x", xt)
	g.AddInitializer("r", tensor.Float32s([]int{2}, []float32{lo, hi}))
	g.Nodes = []*graph.Node{{Name: "fq", OpType: FakeQuantizeOp, Domain: QATDomain, Inputs: []string{"x", "r"},
		Outputs: []string{"y"}, Attrs: map[string]*graph.Attr{"qmin": intA(qmin), "qmax": intA(qmax), "momentum": fltA(0.25)}}}
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": 13, QATDomain: 1}}
}

// The forward pass of FakeQuantize is bit for bit what the inference
// engine's QuantizeLinear -> DequantizeLinear computes with the scale and
// zero point of the range, and the range is a buffer.
func TestFakeQuantizeMatchesQDQ(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, c := range []struct {
		lo, hi     float32
		qmin, qmax int64
	}{{-1.3, 2.1, -128, 127}, {0, 4.5, -128, 127}, {-0.7, 0.2, 0, 255}, {0.5, 3, -128, 127}} {
		x := make([]float32, 500)
		for i := range x {
			x[i] = float32(r.Float64()*6 - 3) // some outside the range: saturated
		}
		m := fqModel(make([]float64, len(x)), []int{len(x)}, c.lo, c.hi, c.qmin, c.qmax)
		m.Graph.Initializers["x"] = tensor.Float32s([]int{len(x)}, x)
		p, err := Compile(m, Options{Trainable: []string{"x"}, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Buffers()) != 1 || p.Buffers()[0].Name != "r" {
			t.Fatalf("buffers %v, want the range", p.Buffers())
		}
		outs, err := p.Forward(false)
		if err != nil {
			t.Fatal(err)
		}
		got := outs[0].F32()
		p.Close()

		dt := tensor.Int8
		if c.qmin == 0 {
			dt = tensor.Uint8
		}
		s, z := AffineParams(float64(c.lo), float64(c.hi), int32(c.qmin), int32(c.qmax))
		zt := &tensor.Tensor{DType: tensor.Int8, Shape: []int{}, Data: []int8{int8(z)}}
		if dt == tensor.Uint8 {
			zt = &tensor.Tensor{DType: tensor.Uint8, Shape: []int{}, Data: []uint8{uint8(z)}}
		}
		g := &graph.Graph{Name: "qdq",
			Inputs:  []graph.ValueInfo{{Name: "x", DType: tensor.Float32, Shape: []graph.Dim{{Value: int64(len(x))}}, HasShape: true}},
			Outputs: []graph.ValueInfo{{Name: "y", DType: tensor.Float32}}}
		g.AddInitializer("s", tensor.Float32s([]int{}, []float32{s}))
		g.AddInitializer("z", zt)
		g.Nodes = []*graph.Node{
			{Name: "q", OpType: "QuantizeLinear", Inputs: []string{"x", "s", "z"}, Outputs: []string{"q"}},
			{Name: "dq", OpType: "DequantizeLinear", Inputs: []string{"q", "s", "z"}, Outputs: []string{"y"}},
		}
		sess, err := runtime.Compile(&graph.Model{Graph: g, Opsets: map[string]int64{"": 13}}, runtime.Options{Threads: 1, NoOptimize: true})
		if err != nil {
			t.Fatal(err)
		}
		want, err := sess.RunOrdered([]*tensor.Tensor{tensor.Float32s([]int{len(x)}, x)}, nil)
		sess.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range want[0].F32() {
			if got[i] != v {
				t.Fatalf("range [%g,%g] q[%d,%d]: x=%g: fake-quant %g, QuantizeLinear/DequantizeLinear %g",
					c.lo, c.hi, c.qmin, c.qmax, x[i], got[i], v)
			}
		}
	}
}

// The backward pass is the clipped straight-through estimator: the
// output gradient passes where x quantises inside [qmin, qmax] and is zero
// where it saturates. (Finite differences do not apply: the forward is a
// step function whose derivative is zero almost everywhere.)
func TestFakeQuantizeSTE(t *testing.T) {
	for _, f64 := range []bool{false, true} {
		r := rand.New(rand.NewPCG(9, 1))
		x := make([]float64, 400)
		for i := range x {
			x[i] = r.Float64()*8 - 4
		}
		m := fqModel(x, []int{20, 20}, -1.5, 2.5, -128, 127)
		var dx, dy []float64
		var scale, zero float64
		run := func(e interface {
			forward([]*tensor.Tensor, bool, bool) error
		}) {
			if err := e.forward(nil, false, true); err != nil {
				t.Fatal(err)
			}
		}
		if f64 {
			e, err := compileEngine[float64](m, Options{Trainable: []string{"x"}, Threads: 2}, nil)
			if err != nil {
				t.Fatal(err)
			}
			run(e)
			dy = make([]float64, len(x))
			for i := range dy {
				dy[i] = r.Float64()*2 - 1
			}
			e.zeroGrad()
			yi := e.outputs[0]
			if err := e.backward(map[int]*tens[float64]{yi: {shape: []int{20, 20}, data: dy}}); err != nil {
				t.Fatal(err)
			}
			dx = e.vals[e.params[0]].grad.data
			o := e.nodes[0].op.(*fakeQuantOp[float64])
			scale, zero = float64(o.scale), float64(o.zero)
			e.close()
		} else {
			e, err := compileEngine[float32](m, Options{Trainable: []string{"x"}, Threads: 2}, nil)
			if err != nil {
				t.Fatal(err)
			}
			run(e)
			dy32 := make([]float32, len(x))
			for i := range dy32 {
				dy32[i] = float32(r.Float64()*2 - 1)
				dy = append(dy, float64(dy32[i]))
			}
			e.zeroGrad()
			yi := e.outputs[0]
			if err := e.backward(map[int]*tens[float32]{yi: {shape: []int{20, 20}, data: dy32}}); err != nil {
				t.Fatal(err)
			}
			for _, g := range e.vals[e.params[0]].grad.data {
				dx = append(dx, float64(g))
			}
			o := e.nodes[0].op.(*fakeQuantOp[float32])
			scale, zero = float64(o.scale), float64(o.zero)
			e.close()
		}
		s, z := AffineParams(-1.5, 2.5, -128, 127)
		if scale != float64(s) || zero != float64(z) {
			t.Fatalf("scale, zero point %g, %g; want %g, %d", scale, zero, s, z)
		}
		passed, blocked := 0, 0
		for i, v := range x {
			q := math.RoundToEven(v/scale) + zero
			want := 0.0
			if q >= -128 && q <= 127 {
				want = dy[i]
				passed++
			} else {
				blocked++
			}
			if dx[i] != want {
				t.Fatalf("f64=%v: x=%g (q=%g): dx %g, want %g", f64, v, q, dx[i], want)
			}
		}
		if passed == 0 || blocked == 0 {
			t.Fatalf("the test should cover both sides of the clip: %d passed, %d blocked", passed, blocked)
		}
	}
}

// In training mode the range starts from the first batch's min and max
// (when it holds [0, 0]) and then follows the moving average; inference
// mode leaves it alone.
func TestFakeQuantizeRangeEMA(t *testing.T) {
	m := fqModel([]float64{-1, 0.5, 3}, []int{3}, 0, 0, -128, 127)
	p, err := Compile(m, Options{Trainable: []string{"x"}, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rng := p.Buffers()[0].Data
	if _, err := p.Forward(false); err != nil {
		t.Fatal(err)
	}
	if rng[0] != 0 || rng[1] != 0 {
		t.Fatalf("inference mode changed the range to %v", rng)
	}
	if _, err := p.Forward(true); err != nil {
		t.Fatal(err)
	}
	if rng[0] != -1 || rng[1] != 3 {
		t.Fatalf("first observation: range %v, want [-1 3]", rng)
	}
	x := p.Vars()[0].Data
	x[0], x[2] = -3, 1
	if _, err := p.Forward(true); err != nil {
		t.Fatal(err)
	}
	// momentum 0.25: 0.75*old + 0.25*batch
	if want := [2]float32{0.75*-1 + 0.25*-3, 0.75*3 + 0.25*1}; rng[0] != want[0] || rng[1] != want[1] {
		t.Fatalf("after the second batch: range %v, want %v", rng, want)
	}
}

// FakeQuantizeWeight rounds each output channel to 255 symmetric levels of
// max|w|/127 and passes the gradient straight through.
func TestFakeQuantizeWeight(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	w := make([]float64, 4*3*2)
	for i := range w {
		w[i] = r.NormFloat64()
	}
	for k := 16; k < 24; k++ {
		w[k] = 0 // channel 2 of axis 0 is all zero (scale 1, every level 0)
	}
	for _, axis := range []int64{0, 1} {
		g := &graph.Graph{Name: "fqw", Outputs: []graph.ValueInfo{{Name: "y", DType: tensor.Float32}}}
		wt, _ := tensor.FromSlice(tensor.Float64, []int{3, 4, 2}, w)
		g.AddInitializer("w", wt)
		g.Nodes = []*graph.Node{{Name: "fqw", OpType: FakeQuantizeWeightOp, Domain: QATDomain, Inputs: []string{"w"},
			Outputs: []string{"y"}, Attrs: map[string]*graph.Attr{"axis": intA(axis)}}}
		m := &graph.Model{Graph: g, Opsets: map[string]int64{"": 13, QATDomain: 1}}
		e, err := compileEngine[float32](m, Options{Threads: 1}, nil) // default trainables: the weight
		if err != nil {
			t.Fatal(err)
		}
		if len(e.params) != 1 || e.vals[e.params[0]].name != "w" {
			t.Fatalf("the weight behind FakeQuantizeWeight should be trainable by default")
		}
		if err := e.forward(nil, true, true); err != nil {
			t.Fatal(err)
		}
		y := e.vals[e.outputs[0]].f.data
		wd := e.vals[e.params[0]].f.data
		// expected, channel by channel
		outer, ch, inner := 1, 3, 8
		if axis == 1 {
			outer, ch, inner = 3, 4, 2
		}
		for c := 0; c < ch; c++ {
			var am float32
			for o := 0; o < outer; o++ {
				for _, v := range wd[(o*ch+c)*inner : (o*ch+c+1)*inner] {
					am = max(am, float32(math.Abs(float64(v))))
				}
			}
			s := SymmetricScale(am)
			levels := map[float32]bool{}
			for o := 0; o < outer; o++ {
				for i := (o*ch + c) * inner; i < (o*ch+c+1)*inner; i++ {
					q := float32(math.RoundToEven(float64(wd[i] / s)))
					if q < -127 || q > 127 {
						t.Fatalf("axis %d: level %g outside [-127, 127]", axis, q)
					}
					if y[i] != q*s {
						t.Fatalf("axis %d: w=%g: fake-quant %g, want %g", axis, wd[i], y[i], q*s)
					}
					if math.Abs(float64(y[i]-wd[i])) > float64(s)/2*1.0001 {
						t.Fatalf("axis %d: rounding error %g above half a step %g", axis, y[i]-wd[i], s/2)
					}
					levels[q] = true
				}
			}
			if am > 0 && !levels[127] && !levels[-127] {
				t.Errorf("axis %d channel %d: the largest weight should map to ±127", axis, c)
			}
		}
		dy := make([]float32, len(y))
		for i := range dy {
			dy[i] = float32(i) - 5
		}
		e.zeroGrad()
		if err := e.backward(map[int]*tens[float32]{e.outputs[0]: {shape: []int{3, 4, 2}, data: dy}}); err != nil {
			t.Fatal(err)
		}
		for i, g := range e.vals[e.params[0]].grad.data {
			if g != dy[i] {
				t.Fatalf("axis %d: dw[%d] = %g, want %g (straight through)", axis, i, g, dy[i])
			}
		}
		e.close()
	}
}

// Bad attributes are compile errors, not panics.
func TestFakeQuantizeBadAttrs(t *testing.T) {
	m := fqModel([]float64{1, 2}, []int{2}, 0, 1, 127, -128)
	if _, err := Compile(m, Options{Threads: 1}); err == nil {
		t.Error("qmin > qmax compiled")
	}
	m = fqModel([]float64{1, 2}, []int{2}, 0, 1, -128, 127)
	m.Graph.Nodes[0].Attrs["momentum"] = fltA(0)
	if _, err := Compile(m, Options{Threads: 1}); err == nil {
		t.Error("momentum 0 compiled")
	}
	m = fqModel([]float64{1, 2}, []int{2}, 0, 1, -128, 127)
	m.Graph.Initializers["r"] = tensor.Float32s([]int{3}, []float32{0, 1, 2})
	p, err := Compile(m, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Forward(false); err == nil {
		t.Error("a three-element range ran")
	}
	// the operators exist only in their domain
	m = fqModel([]float64{1, 2}, []int{2}, 0, 1, -128, 127)
	m.Graph.Nodes[0].Domain = ""
	if _, err := Compile(m, Options{Threads: 1}); err == nil {
		t.Error("FakeQuantize in the default domain compiled")
	}
}
