package quantize

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func batches(m *graph.Model, seed uint64, n, rows int, positive bool) []compress.Batch {
	var out []compress.Batch
	for _, in := range testmodels.Inputs(m, seed, n, rows, positive) {
		out = append(out, compress.Batch{Inputs: in})
	}
	return out
}

// executedOps compiles m (with the QDQ rewrite) and counts the op types
// that actually run.
func executedOps(t *testing.T, m *graph.Model, in []*tensor.Tensor) map[string]int {
	t.Helper()
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := s.InferShapes(in)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range info.Nodes {
		ops[n.Op]++
	}
	return ops
}

func outputError(t *testing.T, ref, cand *graph.Model, data []compress.Batch) float64 {
	t.Helper()
	rs, err := runtime.Compile(ref, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	cs, err := runtime.Compile(cand, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	e, _, err := compress.OutputError(rs, cs, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestParseMethod(t *testing.T) {
	for s, want := range map[string]Method{"minmax": MinMax, "Percentile": Percentile, "kl": Entropy, "entropy": Entropy, "mse": MSE} {
		if got, err := ParseMethod(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
		if got, _ := ParseMethod(want.String()); got != want {
			t.Errorf("String/Parse of %v", want)
		}
	}
	if _, err := ParseMethod("max"); err == nil {
		t.Error("unknown method accepted")
	}
}

func TestActParams(t *testing.T) {
	cases := []struct {
		r     Range
		dt    tensor.DType
		scale float32
		zero  int32
	}{
		{Range{0, 1}, tensor.Int8, float32(1.0 / 255), -128},   // MNIST pixels, as ONNX Runtime writes them
		{Range{0.2, 1}, tensor.Int8, float32(1.0 / 255), -128}, // widened to include 0
		{Range{-1, 1}, tensor.Uint8, float32(2.0 / 255), 128},  // round(127.5) to even
		{Range{-2, -1}, tensor.Int8, float32(2.0 / 255), 127},
		{Range{0, 0}, tensor.Int8, 1, 0}, // degenerate: ONNX Runtime's fallback
	}
	for _, c := range cases {
		s, z := actParams(c.r, c.dt)
		if s != c.scale || z != c.zero {
			t.Errorf("%v %v: scale %v zero %d, want %v %d", c.r, c.dt, s, z, c.scale, c.zero)
		}
	}
}

func TestQuantizeWeight(t *testing.T) {
	w := tensor.Float32s([]int{2, 3}, []float32{0.5, -1, 0.25, 0, 0, 0})
	cases := []struct {
		axis      int
		perTensor bool
		scales    []float32
		q         []int8
	}{
		{0, false, []float32{float32(2.0 / 254), 1}, []int8{64, -127, 32, 0, 0, 0}}, // all-zero channel: scale 1
		{1, false, []float32{float32(1.0 / 254), float32(2.0 / 254), float32(0.5 / 254)}, []int8{127, -127, 127, 0, 0, 0}},
		{0, true, []float32{float32(2.0 / 254)}, []int8{64, -127, 32, 0, 0, 0}},
	}
	for _, c := range cases {
		q, s := quantizeWeight(w, c.axis, c.perTensor)
		for i := range c.scales {
			if s[i] != c.scales[i] {
				t.Errorf("axis %d per-tensor %v: scales %v, want %v", c.axis, c.perTensor, s, c.scales)
				break
			}
		}
		for i, v := range q.Data.([]int8) {
			if v != c.q[i] {
				t.Errorf("axis %d per-tensor %v: q %v, want %v", c.axis, c.perTensor, q.Data, c.q)
				break
			}
		}
	}
	b, s := quantizeBias(tensor.Float32s([]int{2}, []float32{1, -3e9}), 0.5, []float32{0.01, 1e-3})
	if got := b.Data.([]int32); got[0] != 200 || got[1] != math.MinInt32 || s[0] != 0.005 {
		t.Errorf("bias %v scales %v", got, s)
	}
}

// The methods must agree on clean data and clip outliers differently.
func TestRangeMethods(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	v := make([]float32, 200000)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	v[0], v[1] = 40, -25 // outliers
	for _, c := range []struct {
		m      Method
		lo, hi float32 // bounds on the range's max
	}{
		{MinMax, 40, 40},
		{Percentile, 3.5, 4.5},
		{Entropy, 2.5, 20},
		{MSE, 2.5, 39}, // two outliers in 200,000 still weigh: MSE clips them only partly
	} {
		o := Options{Method: c.m}
		if err := o.fill(); err != nil {
			t.Fatal(err)
		}
		st := &stat{}
		st.addMinMax(v)
		if c.m != MinMax {
			st.hist = make([]float64, o.Bins)
			if c.m == Entropy {
				st.lo, st.w = 0, 40.0/float64(o.Bins)
			} else {
				st.lo, st.w = -25, 65.0/float64(o.Bins)
			}
			st.addHist(v, c.m == Entropy)
		}
		got := rangeOf(st, o)
		if got.Max < c.lo || got.Max > c.hi || got.Min > 0 || got.Min < -25 {
			t.Errorf("%v: range %v, want max in [%v, %v]", c.m, got, c.lo, c.hi)
		}
	}
}

func TestStatic(t *testing.T) {
	models := map[string]*graph.Model{
		"cnn":      testmodels.CNN(1, false),
		"cnn+bn":   testmodels.CNN(2, true),
		"residual": testmodels.Residual(3),
		"mlp":      testmodels.MLP(4),
	}
	for name, m := range models {
		calib := batches(m, 10, 4, 8, name != "residual")
		test := batches(m, 20, 2, 8, name != "residual")
		for _, meth := range []Method{MinMax, Percentile, Entropy, MSE} {
			acts := []tensor.DType{tensor.Int8}
			if meth == MinMax || meth == Entropy {
				acts = append(acts, tensor.Uint8)
			}
			for _, act := range acts {
				q, err := Static(m, calib, Options{Method: meth, Activations: act, Threads: 1, Logger: quiet})
				if err != nil {
					t.Fatalf("%s %v %v: %v", name, meth, act, err)
				}
				e := outputError(t, m, q, test)
				limit := 0.08
				if meth == Entropy || meth == MSE {
					limit = 0.25 // they clip on purpose, and these sets are tiny
				}
				if e > limit {
					t.Errorf("%s %v %v: output rel L2 %.3g > %g", name, meth, act, e, limit)
				}
			}
		}
	}
}

// The QDQ graph has ONNX Runtime's layout, and the runtime turns it into
// integer kernels.
func TestQDQLayout(t *testing.T) {
	m := testmodels.CNN(5, true)
	calib := batches(m, 1, 2, 4, true)
	q, err := Static(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range q.Graph.Nodes {
		ops[n.OpType]++
		if n.OpType == "Conv" || n.OpType == "Gemm" {
			for i, in := range n.Inputs {
				if !strings.HasSuffix(in, sufDQOut) {
					t.Errorf("%s input %d %q is not dequantized", n.Name, i, in)
				}
			}
		}
	}
	// Relu after Conv/Gemm and BatchNormalization are gone; 4 weights +
	// 4 biases + 7 activation pairs (x, c1, p1, c2, fl, f1, f2).
	want := map[string]int{"Conv": 2, "Gemm": 2, "MaxPool": 1, "Flatten": 1, "QuantizeLinear": 7, "DequantizeLinear": 15}
	for op, n := range want {
		if ops[op] != n {
			t.Errorf("%d %s nodes, want %d (all: %v)", ops[op], op, n, ops)
		}
	}
	if ops["Relu"]+ops["BatchNormalization"] != 0 {
		t.Errorf("Relu or BatchNormalization left: %v", ops)
	}
	w := q.Graph.Initializers["c1.w_bnfold"+sufQuant]
	if w == nil || w.DType != tensor.Int8 || q.Graph.Initializers["c1.b"] != nil {
		t.Fatalf("c1 weights not int8, or float bias left: %v", w)
	}
	bq := q.Graph.Initializers["c1.w_bnfold_bias"+sufQuant]
	if bq == nil || bq.DType != tensor.Int32 {
		t.Fatalf("c1 bias: %v", bq)
	}
	exec := executedOps(t, q, calib[0].Inputs)
	if exec["QConv"] != 2 || exec["QGemm"] != 2 || exec["Conv"]+exec["Gemm"] != 0 {
		t.Errorf("executed %v: want 2 QConv and 2 QGemm", exec)
	}
}

func TestFloatLayersAndSensitivity(t *testing.T) {
	m := testmodels.CNN(6, false)
	calib := batches(m, 1, 3, 8, true)
	c, err := Calibrate(m, calib, Options{Logger: quiet, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Layers(), ","); got != "c1,c2,f1,f2" {
		t.Fatalf("layers %s", got)
	}
	q, err := c.QDQ("c2")
	if err != nil {
		t.Fatal(err)
	}
	if q.Graph.Initializers["c2.w"] == nil || q.Graph.Initializers["c2.w"+sufQuant] != nil {
		t.Error("c2 was quantized")
	}
	exec := executedOps(t, q, calib[0].Inputs)
	if exec["QConv"] != 1 || exec["Conv"] != 1 {
		t.Errorf("executed %v: want one QConv and one float Conv", exec)
	}
	if _, err := c.QDQ("nope"); err == nil {
		t.Error("unknown layer accepted")
	}
	labelled := make([]compress.Batch, len(calib))
	for i, b := range calib {
		labelled[i] = compress.Batch{Inputs: b.Inputs, Labels: make([]int, b.Rows())}
	}
	for _, data := range [][]compress.Batch{calib, labelled} {
		sens, err := c.Sensitivity(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(sens) != 4 {
			t.Fatalf("%d layers", len(sens))
		}
		for i := 1; i < len(sens); i++ {
			if sens[i].AccuracyDrop == sens[i-1].AccuracyDrop && sens[i].OutputError > sens[i-1].OutputError {
				t.Errorf("not sorted: %+v", sens)
			}
		}
		if (data[0].Labels == nil) != math.IsNaN(sens[0].AccuracyDrop) {
			t.Errorf("accuracy drop %v with labels %v", sens[0].AccuracyDrop, data[0].Labels != nil)
		}
		q, err := Static(m, calib, Options{Logger: quiet, KeepFloat: 1, SensitivityData: data})
		if err != nil {
			t.Fatal(err)
		}
		if q.Graph.Initializers[sens[0].Node+".w"] == nil {
			t.Errorf("the most sensitive layer %s is not float", sens[0].Node)
		}
	}
}

func TestBadInput(t *testing.T) {
	m := testmodels.CNN(7, false)
	good := batches(m, 1, 1, 2, true)
	wrong := []compress.Batch{{Inputs: []*tensor.Tensor{tensor.New(tensor.Float32, 2, 2, 7, 8)}}}
	old := testmodels.CNN(7, false)
	old.Opsets[""] = 9
	cases := []struct {
		name string
		m    *graph.Model
		data []compress.Batch
		o    Options
		want string
	}{
		{"empty set", m, nil, Options{}, "no data"},
		{"wrong shape", m, wrong, Options{}, "must have shape"},
		{"two inputs", m, []compress.Batch{{Inputs: append(good[0].Inputs, good[0].Inputs...)}}, Options{}, "2 inputs"},
		{"labels", m, []compress.Batch{{Inputs: good[0].Inputs, Labels: []int{1}}}, Options{}, "1 labels for 2 rows"},
		{"percentile", m, good, Options{Method: Percentile, Percentile: 120}, "percentile"},
		{"bins", m, good, Options{Bins: 10}, "bins"},
		{"activation type", m, good, Options{Activations: tensor.Float32}, "int8 or uint8"},
		{"method", m, good, Options{Method: 9}, "method"},
		{"keep float", m, good, Options{KeepFloat: -1}, "negative"},
		{"float layer", m, good, Options{FloatLayers: []string{"zz"}}, "no node named"},
		{"opset", old, good, Options{}, "opset 9"},
		{"nil model", nil, good, Options{}, "nil model"},
	}
	for _, c := range cases {
		c.o.Logger = quiet
		_, err := Static(c.m, c.data, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := Static(m, nil, Options{}); !errors.Is(err, compress.ErrNoData) {
		t.Errorf("empty set: %v is not ErrNoData", err)
	}
}

func TestDynamic(t *testing.T) {
	for name, m := range map[string]*graph.Model{"mlp": testmodels.MLP(8), "cnn": testmodels.CNN(9, false)} {
		test := batches(m, 3, 2, 8, true)
		for _, pt := range []bool{false, true} {
			q, err := Dynamic(m, DynamicOptions{PerTensor: pt, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			if e := outputError(t, m, q, test); e > 0.03 {
				t.Errorf("%s per-tensor %v: rel L2 %.3g", name, pt, e)
			}
			ops := executedOps(t, q, test[0].Inputs)
			if ops["MatMulInteger"] != 2 || ops["DynamicQuantizeLinear"] != 2 || ops["Gemm"]+ops["MatMul"] != 0 {
				t.Errorf("%s: executed %v", name, ops)
			}
		}
	}
	// alpha and beta fold into the scale and bias.
	m := testmodels.MLP(10)
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Gemm" {
			n.Attrs["alpha"] = &graph.Attr{Name: "alpha", Type: graph.AttrFloat, Float: 0.5}
			n.Attrs["beta"] = &graph.Attr{Name: "beta", Type: graph.AttrFloat, Float: 2}
		}
	}
	q, err := Dynamic(m, DynamicOptions{Logger: quiet, FloatLayers: []string{"mm"}})
	if err != nil {
		t.Fatal(err)
	}
	if e := outputError(t, m, q, batches(m, 4, 1, 8, true)); e > 0.03 {
		t.Errorf("alpha/beta: rel L2 %.3g", e)
	}
	if _, err := Dynamic(m, DynamicOptions{FloatLayers: []string{"zz"}}); err == nil {
		t.Error("unknown layer accepted")
	}
}

func TestFloat16(t *testing.T) {
	m := testmodels.CNN(11, false)
	m.Graph.Initializers["f2.b"].F32()[0] = 1e6 // saturates
	h, err := Float16(m, Float16Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := compress.ModelSize(m)
	b, _ := compress.ModelSize(h)
	if r := float64(a) / float64(b); r < 1.6 { // the graph itself does not shrink
		t.Errorf("size %d -> %d (%.2fx)", a, b, r)
	}
	m.Graph.Initializers["f2.b"].F32()[0] = 65504
	if e := outputError(t, m, h, batches(m, 1, 2, 4, true)); e > 2e-3 {
		t.Errorf("rel L2 %.3g", e)
	}
	if h.Graph.Initializers["c1.w_fp16"].DType != tensor.Float16 || h.Graph.Initializers["c1.w"] != nil {
		t.Error("c1.w not stored as float16")
	}
}
