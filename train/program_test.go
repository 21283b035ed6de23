package train

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// tinyCNN is a small [N,2,12] -> [N,3] model touching Conv, BatchNorm,
// Relu, MaxPool, Dropout, Flatten and Gemm.
func tinyCNN(seed uint64) *graph.Model {
	r := newRand(seed, 1)
	rnd := func(shape ...int) *tensor.Tensor {
		d := make([]float32, numel(shape))
		for i := range d {
			d[i] = float32(r.Float64()-0.5) * 0.8
		}
		return tensor.Float32s(shape, d)
	}
	g := &graph.Graph{Name: "tiny",
		Inputs:  []graph.ValueInfo{{Name: "x", DType: tensor.Float32, HasShape: true, Shape: []graph.Dim{{Value: -1, Param: "n"}, {Value: 2}, {Value: 12}}}},
		Outputs: []graph.ValueInfo{{Name: "logits", DType: tensor.Float32}}}
	g.AddInitializer("cw", rnd(4, 2, 3))
	g.AddInitializer("cb", rnd(4))
	g.AddInitializer("s", tensor.Float32s([]int{4}, []float32{1, 1, 1, 1}))
	g.AddInitializer("b", tensor.Float32s([]int{4}, []float32{0, 0, 0, 0}))
	g.AddInitializer("rm", tensor.Float32s([]int{4}, []float32{0, 0, 0, 0}))
	g.AddInitializer("rv", tensor.Float32s([]int{4}, []float32{1, 1, 1, 1}))
	g.AddInitializer("fw", rnd(3, 24))
	g.AddInitializer("fb", rnd(3))
	g.AddInitializer("ratio", tensor.Scalar(float32(0.2)))
	g.Nodes = []*graph.Node{
		{OpType: "Conv", Inputs: []string{"x", "cw", "cb"}, Outputs: []string{"c"}, Attrs: map[string]*graph.Attr{"pads": ints(1, 1)}},
		{OpType: "BatchNormalization", Inputs: []string{"c", "s", "b", "rm", "rv"}, Outputs: []string{"bn"}},
		{OpType: "Relu", Inputs: []string{"bn"}, Outputs: []string{"r"}},
		{OpType: "MaxPool", Inputs: []string{"r"}, Outputs: []string{"p"}, Attrs: map[string]*graph.Attr{"kernel_shape": ints(2), "strides": ints(2)}},
		{OpType: "Dropout", Inputs: []string{"p", "ratio"}, Outputs: []string{"d"}},
		{OpType: "Flatten", Inputs: []string{"d"}, Outputs: []string{"f"}},
		{OpType: "Gemm", Inputs: []string{"f", "fw", "fb"}, Outputs: []string{"logits"}, Attrs: map[string]*graph.Attr{"transB": intA(1)}},
	}
	for _, n := range g.Nodes {
		for k, a := range n.Attrs {
			a.Name = k // onnx.Encode writes attribute names from the Attr
		}
	}
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": 13}}
}

// blobs is a separable toy problem: class k has its mean at +k in
// channel k%c.
func blobs(n, c, l, classes int, seed uint64) *data.InMemory {
	r := newRand(seed, 3)
	x := make([]float32, n*c*l)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		y[i] = r.IntN(classes)
		for j := 0; j < c*l; j++ {
			v := r.NormFloat64() * 0.5
			if j/l == y[i]%c {
				v += float64(y[i]) - 1
			}
			x[i*c*l+j] = float32(v)
		}
	}
	d, _ := data.NewInMemory(x, []int{c, l}, y)
	return d
}

func TestFitLearnsAndExportAgrees(t *testing.T) {
	m := tinyCNN(1)
	p, err := Compile(m, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ds := blobs(256, 2, 12, 3, 1)
	test := blobs(128, 2, 12, 3, 2)
	var progress int
	hist, err := Fit(context.Background(), p, ds, Config{Epochs: 8, Batch: 16, LR: 0.05,
		Optimizer: &SGD{Momentum: 0.9}, Eval: test, Seed: 3},
		Callbacks{Progress: func(Progress) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.EvalAcc < 0.9 || last.TrainLoss >= hist[0].TrainLoss {
		t.Fatalf("did not learn: %+v", hist)
	}
	if progress != 8*16 {
		t.Errorf("%d progress callbacks, want %d", progress, 8*16)
	}
	// The exported model, through ONNX bytes and the inference runtime,
	// computes what the trainer computes in inference mode.
	b, err := onnx.Encode(p.Export())
	if err != nil {
		t.Fatal(err)
	}
	m2, err := onnx.Decode(b, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Compile(m2, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batch := &data.Batch{}
	batch.Fill(test, []int{0, 1, 2, 3, 4, 5, 6})
	want, err := p.Forward(false, batch.X)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.RunOrdered([]*tensor.Tensor{batch.X}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range want[0].F32() {
		if math.Abs(float64(v-got[0].F32()[i])) > 1e-4*(1+math.Abs(float64(v))) {
			t.Fatalf("runtime output[%d] = %g, trainer %g", i, got[0].F32()[i], v)
		}
	}
	// The source model is untouched.
	if m.Graph.Initializers["fb"].F32()[0] == p.Vars()[len(p.Vars())-1].Data[0] ||
		m.Graph.Initializers["rv"].F32()[0] != 1 || p.Buffers()[1].Data[0] == 1 {
		t.Error("training wrote into the source model's initializers")
	}
}

func TestExportMNISTModelsAgreeWithRuntime(t *testing.T) {
	x := randomBatch(3, []int{1, 28, 28}, 10, 4)
	for _, name := range arch.Names() {
		m, _ := arch.Build(name, 2)
		p, err := Compile(m, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		// one step so that the weights differ from the initial ones
		if _, err := p.Step(x, CrossEntropy{}); err != nil {
			t.Fatal(err)
		}
		(&SGD{}).Step(p.Vars(), 0.1)
		want, _ := p.Forward(false, x.X)
		s, err := runtime.Compile(p.Export(), runtime.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.RunOrdered([]*tensor.Tensor{x.X}, nil)
		s.Close()
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range want[0].F32() {
			if math.Abs(float64(v-got[0].F32()[i])) > 1e-4*(1+math.Abs(float64(v))) {
				t.Fatalf("%s: runtime output[%d] = %g, trainer %g", name, i, got[0].F32()[i], v)
			}
		}
	}
}

func TestParamsRoundTripAndCheckpoint(t *testing.T) {
	m := arch.TimeSeriesCNN(2, 12, 3, 5)
	p, _ := Compile(m, Options{Threads: 1})
	defer p.Close()
	if p.NumParams() != arch.NumParams(m) {
		t.Fatalf("NumParams %d, model has %d", p.NumParams(), arch.NumParams(m))
	}
	v := p.Params()
	for i := range v {
		v[i] = float32(i)
	}
	if err := p.SetParams(v); err != nil {
		t.Fatal(err)
	}
	if got := p.Params(); got[123] != 123 {
		t.Fatalf("Params after SetParams: %v", got[123])
	}
	if err := p.SetParams(v[:10]); err == nil {
		t.Error("SetParams of a short vector succeeded")
	}
	// Train a little with Adam, checkpoint, train on: a restored copy must
	// follow exactly the same trajectory.
	p2, _ := Compile(arch.TimeSeriesCNN(2, 12, 3, 5), Options{Threads: 1})
	defer p2.Close()
	ds := blobs(64, 2, 12, 3, 9)
	opt := &Adam{}
	cfg := Config{Epochs: 2, Batch: 16, LR: 1e-3, Optimizer: opt, Seed: 4}
	if _, err := Fit(context.Background(), p2, ds, cfg, Callbacks{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := SaveCheckpoint(&buf, p2, opt, &Checkpoint{Epoch: 2, Step: 8}); err != nil {
		t.Fatal(err)
	}
	p3, _ := Compile(arch.TimeSeriesCNN(2, 12, 3, 77), Options{Threads: 1})
	defer p3.Close()
	opt3 := &Adam{}
	ck, err := LoadCheckpoint(bytes.NewReader(buf.Bytes()), p3, opt3)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Epoch != 2 || ck.Step != 8 || opt3.steps != opt.steps {
		t.Fatalf("checkpoint %+v, steps %d vs %d", ck, opt3.steps, opt.steps)
	}
	cfg.Epochs, cfg.StartEpoch, cfg.StartStep = 3, 2, 8
	cfg3 := cfg
	cfg3.Optimizer = opt3
	Fit(context.Background(), p2, ds, cfg, Callbacks{})
	Fit(context.Background(), p3, ds, cfg3, Callbacks{})
	a, b := p2.Params(), p3.Params()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("resumed run differs at %d: %g vs %g", i, a[i], b[i])
		}
	}
	if _, err := LoadCheckpoint(bytes.NewReader([]byte("garbage")), p3, nil); err == nil {
		t.Error("garbage checkpoint accepted")
	}
}

func TestDeterministicFit(t *testing.T) {
	run := func() []float32 {
		m := arch.MLP("mlp", []int{2, 12}, []int{8}, 3, 1)
		// add a dropout after the hidden layer
		g := m.Graph
		relu := g.Nodes[2]
		g.Nodes = append(g.Nodes[:3], append([]*graph.Node{{OpType: "Dropout", Inputs: []string{relu.Outputs[0]}, Outputs: []string{"dropped"}}}, g.Nodes[3:]...)...)
		g.Nodes[4].Inputs[0] = "dropped"
		p, err := Compile(m, Options{Threads: 2, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := Fit(context.Background(), p, blobs(64, 2, 12, 3, 1), Config{Epochs: 2, Batch: 8, Seed: 9,
			Optimizer: &SGD{Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4}, ClipNorm: 1}, Callbacks{}); err != nil {
			t.Fatal(err)
		}
		return p.Params()
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("two seeded runs differ at %d", i)
		}
	}
}

func TestBatchNormRunningStats(t *testing.T) {
	m, tr := opModel(1, 13, "BatchNormalization", nil,
		in{name: "x", shape: []int{8, 2, 3}}, in{name: "s", shape: []int{2}}, in{name: "b", shape: []int{2}},
		in{name: "m", fixed: tensor.Float32s([]int{2}, []float32{0, 0})}, in{name: "v", fixed: tensor.Float32s([]int{2}, []float32{1, 1})})
	p, err := Compile(m, Options{Trainable: tr, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(p.Buffers()) != 2 {
		t.Fatalf("buffers %v", p.Buffers())
	}
	if _, err := p.Forward(true); err != nil {
		t.Fatal(err)
	}
	x := m.Graph.Initializers["x"]
	var mean, ss float64
	for n := 0; n < 8; n++ {
		for j := 0; j < 3; j++ {
			mean += x.Float64At(n*6 + j)
		}
	}
	mean /= 24
	for n := 0; n < 8; n++ {
		for j := 0; j < 3; j++ {
			d := x.Float64At(n*6+j) - mean
			ss += d * d
		}
	}
	rm, rv := p.Buffers()[0].Data[0], p.Buffers()[1].Data[0]
	if math.Abs(float64(rm)-0.1*mean) > 1e-6 || math.Abs(float64(rv)-(0.9+0.1*ss/23)) > 1e-5 {
		t.Fatalf("running mean %g var %g; want %g %g", rm, rv, 0.1*mean, 0.9+0.1*ss/23)
	}
	if len(p.State()) != p.NumParams()+4 {
		t.Errorf("State has %d values", len(p.State()))
	}
}

func TestPerExampleClipping(t *testing.T) {
	m := arch.MLP("mlp", []int{2, 12}, []int{8}, 3, 1)
	p, _ := Compile(m, Options{Threads: 2})
	defer p.Close()
	ds := blobs(10, 2, 12, 3, 1)
	b := &data.Batch{}
	b.Fill(ds, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	// Reference: per-example gradients one by one.
	var want []float32
	norms := make([]float64, 10)
	for i := 0; i < 10; i++ {
		one := &data.Batch{}
		one.Fill(ds, []int{i})
		p.ZeroGrad()
		p.Step(one, CrossEntropy{})
		g := p.Grads()
		n := GradNorm(p.Vars())
		norms[i] = n
		s := float32(math.Min(1, 0.5/n))
		if want == nil {
			want = make([]float32, len(g))
		}
		for j := range g {
			want[j] += s * g[j]
		}
	}
	p.ZeroGrad()
	got := make([]float64, 10)
	if _, err := p.PerExampleStep(b, CrossEntropy{}, 0.5, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Abs(got[i]-norms[i]) > 1e-5*norms[i] {
			t.Fatalf("norm %d: %g, want %g", i, got[i], norms[i])
		}
	}
	for j, g := range p.Grads() {
		if math.Abs(float64(g-want[j])) > 1e-5 {
			t.Fatalf("clipped sum[%d] = %g, want %g", j, g, want[j])
		}
	}
	// The mean of unclipped per-example gradients is the batch gradient.
	p.ZeroGrad()
	p.PerExampleStep(b, CrossEntropy{}, 0, nil)
	sum := p.Grads()
	p.ZeroGrad()
	p.Step(b, CrossEntropy{})
	for j, g := range p.Grads() {
		if math.Abs(float64(g-sum[j]/10)) > 1e-5 {
			t.Fatalf("mean per-example grad[%d] = %g, batch grad %g", j, sum[j]/10, g)
		}
	}
}

// A PyTorch-style export computes the flatten shape at run time
// (Shape, Gather, Unsqueeze, Concat, Reshape): those nodes run on the
// engine's kernels, off the gradient path.
func TestDynamicReshapeGraph(t *testing.T) {
	m, tr := opModel(3, 13, "MatMul", nil, in{name: "w", shape: []int{12, 3}})
	g := m.Graph
	g.Inputs = []graph.ValueInfo{{Name: "x", DType: tensor.Float32}}
	g.AddInitializer("zero", tensor.Scalar(int64(0)))
	g.AddInitializer("minus1", tensor.Int64s([]int{1}, []int64{-1}))
	g.AddInitializer("ax0", tensor.Int64s([]int{1}, []int64{0}))
	g.Nodes = append([]*graph.Node{
		{OpType: "Shape", Inputs: []string{"x"}, Outputs: []string{"sh"}},
		{OpType: "Gather", Inputs: []string{"sh", "zero"}, Outputs: []string{"n"}},
		{OpType: "Unsqueeze", Inputs: []string{"n", "ax0"}, Outputs: []string{"n1"}},
		{OpType: "Concat", Inputs: []string{"n1", "minus1"}, Outputs: []string{"shape"}, Attrs: map[string]*graph.Attr{"axis": intA(0)}},
		{OpType: "Reshape", Inputs: []string{"x", "shape"}, Outputs: []string{"flat"}},
		{OpType: "Relu", Inputs: []string{"flat"}, Outputs: []string{"r"}},
	}, g.Nodes...)
	g.Nodes[len(g.Nodes)-1].Inputs = []string{"r", "w"}
	p, err := Compile(m, Options{Trainable: tr, Threads: 1, InputGrads: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	x := randomBatch(5, []int{2, 6}, 3, 1)
	out, err := p.Forward(true, x.X)
	if err != nil {
		t.Fatal(err)
	}
	if len(out[0].Shape) != 2 || out[0].Shape[0] != 5 || out[0].Shape[1] != 3 {
		t.Fatalf("output shape %v", out[0].Shape)
	}
	d := tensor.Float32s([]int{5, 3}, make([]float32, 15))
	d.F32()[0] = 1
	if err := p.Backward(d); err != nil {
		t.Fatal(err)
	}
	gx := p.InputGrads()[0]
	if gx == nil || gx.Len() != 60 {
		t.Fatalf("input grad %v", gx)
	}
	// d out[0,0] / d x[0,j] = w[j,0] where x > 0.
	w := p.Vars()[0].Data
	for j := 0; j < 12; j++ {
		want := float32(0)
		if x.X.F32()[j] > 0 {
			want = w[j*3]
		}
		if gx.F32()[j] != want {
			t.Fatalf("dx[%d] = %g, want %g", j, gx.F32()[j], want)
		}
	}
	// A non-differentiable op on the gradient path is refused.
	bad, tr2 := opModel(1, 13, "Floor", nil, in{name: "x", shape: []int{3}})
	if _, err := Compile(bad, Options{Trainable: tr2}); err == nil {
		t.Error("Compile accepted Floor on the gradient path")
	}
}

func TestSchedules(t *testing.T) {
	if v := (StepLR{Base: 1, Every: 10, Gamma: 0.1}).LR(25); math.Abs(v-0.01) > 1e-12 {
		t.Errorf("StepLR = %g", v)
	}
	c := CosineLR{Base: 1, Min: 0, Steps: 100}
	if c.LR(0) != 1 || math.Abs(c.LR(50)-0.5) > 1e-12 || c.LR(100) != 0 {
		t.Errorf("CosineLR = %g %g %g", c.LR(0), c.LR(50), c.LR(100))
	}
	w := Warmup{Steps: 4, Then: ConstantLR(2)}
	if w.LR(0) != 0.5 || w.LR(3) != 2 || w.LR(10) != 2 {
		t.Errorf("Warmup = %g %g %g", w.LR(0), w.LR(3), w.LR(10))
	}
}

func TestOptimizersMatchPyTorch(t *testing.T) {
	// Two steps on p = [1, -2] with fixed gradients [0.5, 0.25] then
	// [-1, 2]; the expected values come from torch.optim (torch 1.13).
	cases := []struct {
		opt  Optimizer
		want [2]float32
	}{
		{&SGD{Momentum: 0.9, WeightDecay: 0.01}, [2]float32{1.0002105, -2.0241697}},
		{&SGD{Momentum: 0.9, Nesterov: true}, [2]float32{1.00545, -2.044775}},
		{&Adam{}, [2]float32{0.99366105, -2.0182147}},
		{AdamW(0.1), [2]float32{0.9916721, -2.0142069}},
		{&Adam{WeightDecay: 0.1}, [2]float32{0.99248201, -2.0176246}},
	}
	for _, c := range cases {
		v := &Var{Name: "p", Shape: []int{2}, Data: []float32{1, -2}, Grad: []float32{0.5, 0.25}}
		c.opt.Step([]*Var{v}, 0.01)
		v.Grad = []float32{-1, 2}
		c.opt.Step([]*Var{v}, 0.01)
		for i := range v.Data {
			if math.Abs(float64(v.Data[i]-c.want[i])) > 1e-5 {
				t.Errorf("%s: p = %v, want %v", c.opt, v.Data, c.want)
				break
			}
		}
	}
}

func TestFitDPSGDAndMSE(t *testing.T) {
	m := arch.MLP("mlp", []int{2, 12}, []int{16}, 3, 1)
	p, _ := Compile(m, Options{Threads: 2})
	defer p.Close()
	ds := blobs(96, 2, 12, 3, 1)
	hist, err := Fit(context.Background(), p, ds, Config{Epochs: 12, Batch: 16, LR: 0.2,
		PerExampleClip: 1, NoiseMultiplier: 0.1, Eval: ds}, Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	if acc := hist[len(hist)-1].EvalAcc; acc < 0.8 {
		t.Errorf("DP-SGD accuracy %.2f", acc)
	}
	// Regression: learn y = sum of the features with MSE.
	reg := blobs(128, 1, 4, 2, 3)
	reg.TShape = []int{1}
	for i := 0; i < reg.Len(); i++ {
		var s float32
		for _, v := range reg.X[i*4 : (i+1)*4] {
			s += v
		}
		reg.T = append(reg.T, s)
	}
	q, _ := Compile(arch.MLP("reg", []int{1, 4}, []int{8}, 1, 2), Options{Threads: 1})
	defer q.Close()
	h, err := Fit(context.Background(), q, reg, Config{Epochs: 40, Batch: 16, LR: 0.01, Optimizer: &Adam{},
		Loss: MSE{}, Eval: reg}, Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	if l := h[len(h)-1].EvalLoss; l > 0.05*h[0].TrainLoss {
		t.Errorf("MSE went from %.3f to %.3f", h[0].TrainLoss, l)
	}
	// MaxSteps and ErrStop end training early.
	h, _ = Fit(context.Background(), q, reg, Config{Epochs: 5, Batch: 16, MaxSteps: 3, Loss: MSE{}}, Callbacks{})
	if len(h) != 1 || h[0].Step != 3 {
		t.Errorf("MaxSteps: %+v", h)
	}
	n := 0
	Fit(context.Background(), q, reg, Config{Epochs: 5, Batch: 16, Loss: MSE{}}, Callbacks{Epoch: func(EpochMetrics) error {
		n++
		return ErrStop
	}})
	if n != 1 {
		t.Errorf("ErrStop: %d epochs", n)
	}
}
