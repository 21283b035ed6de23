package qat

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// mnistSubsets returns n training and m test images, or skips.
func mnistSubsets(t *testing.T, n, m int) (*data.Subset, *data.Subset) {
	t.Helper()
	dir, err := data.MNISTDir()
	if err != nil {
		t.Skip(err)
	}
	tr, err := data.MNIST(dir, "train")
	if err != nil {
		t.Skip(err)
	}
	te, err := data.MNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &data.Subset{Data: tr, Indices: data.Permutation(tr.Len(), 1, 0)[:n]},
		&data.Subset{Data: te, Indices: data.Permutation(te.Len(), 2, 0)[:m]}
}

// batches turns a data set into compress batches (labelled).
func batches(ds data.Dataset, size int) []compress.Batch {
	var out []compress.Batch
	l := &data.Loader{Data: ds, Batch: size}
	for b := range l.Epoch(0) {
		x := tensor.Float32s(append([]int{}, b.X.Shape...), append([]float32{}, b.X.F32()...))
		out = append(out, compress.Batch{Inputs: []*tensor.Tensor{x}, Labels: append([]int{}, b.Labels...)})
	}
	return out
}

// executedOps lists the operators a compiled session runs.
func executedOps(t *testing.T, m *graph.Model, in *tensor.Tensor) map[string]int {
	t.Helper()
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := s.InferShapes([]*tensor.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range info.Nodes {
		ops[n.Op]++
	}
	return ops
}

// lenet returns LeNet-5 briefly trained in float on tr.
func lenet(t *testing.T, tr data.Dataset) *graph.Model {
	t.Helper()
	p, err := train.Compile(arch.LeNet5(1), train.Options{Threads: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := train.Fit(context.Background(), p, tr, train.Config{Epochs: 1, Batch: 32, LR: 0.05,
		Optimizer: &train.SGD{Momentum: 0.9}, Seed: 1}, train.Callbacks{}); err != nil {
		t.Fatal(err)
	}
	return p.Export()
}

// QAT on LeNet-5: the training graph has a quantiser where the QDQ model
// quantises; fine-tuning moves the ranges; the exported QDQ model runs
// as integer kernels in edgedl's runtime and computes what the fake-quant
// program computed.
func TestQATLeNet(t *testing.T) {
	tr, te := mnistSubsets(t, 600, 250)
	m := lenet(t, tr)
	calib := batches(&data.Subset{Data: tr.Data, Indices: tr.Indices[:200]}, 100)
	q, err := Prepare(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// LeNet-5 (no ReLU after the convolutions): input, conv1 out, conv2
	// out, fc1 (ReLU) out and the logits get quantisers; the MaxPool and
	// Flatten outputs reuse their input's parameters.
	if got := len(q.Activations()); got != 5 {
		t.Errorf("fake-quantised activations %v, want 5", q.Activations())
	}
	if got := len(q.Weights()); got != 4 {
		t.Errorf("fake-quantised weights %v, want 4", q.Weights())
	}
	fq := 0
	for _, n := range q.Graph().Graph.Nodes {
		if n.Domain == train.QATDomain {
			fq++
		}
	}
	if fq != 9 {
		t.Errorf("%d fake-quant nodes, want 9", fq)
	}
	p, err := q.Compile(train.Options{Threads: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r0, err := q.Ranges(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Buffers()) != 5 {
		t.Errorf("%d buffers, want the 5 ranges", len(p.Buffers()))
	}
	hist, err := train.Fit(context.Background(), p, tr, train.Config{Epochs: 1, Batch: 32, LR: 0.01,
		Optimizer: &train.SGD{Momentum: 0.9}, Seed: 2}, train.Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := q.Ranges(p)
	moved := 0
	for _, a := range q.Activations() {
		if r0[a] != r1[a] {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no activation range moved during training")
	}
	out, err := q.Export(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Metadata["edgedl.quantize"], "quantisation-aware") {
		t.Errorf("metadata %q", out.Metadata["edgedl.quantize"])
	}
	test := batches(te, 250)
	ops := executedOps(t, out, test[0].Inputs[0])
	if ops["QConv"] != 2 || ops["QGemm"] != 2 || ops["Conv"] != 0 || ops["Gemm"] != 0 {
		t.Errorf("executed %v: want 2 QConv and 2 QGemm", ops)
	}
	// The exported model computes what the fake-quant program computes
	// in inference mode, up to the integer kernels' requantisation.
	s, err := runtime.Compile(out, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var num, den float64
	agree, n := 0, 0
	for _, b := range test {
		want, err := p.Forward(false, b.Inputs[0])
		if err != nil {
			t.Fatal(err)
		}
		w := append([]float32{}, want[0].F32()...)
		got, err := s.RunOrdered(b.Inputs, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := got[0].F32()
		for i := range w {
			d := float64(g[i] - w[i])
			num += d * d
			den += float64(w[i]) * float64(w[i])
		}
		for i := 0; i < b.Rows(); i++ {
			if argmax(g[i*10:(i+1)*10]) == argmax(w[i*10:(i+1)*10]) {
				agree++
			}
			n++
		}
	}
	rel := math.Sqrt(num / den)
	t.Logf("QAT LeNet-5 (1 epoch on 600 images, loss %.3f): QDQ vs fake-quant program: rel L2 %.2g, top-1 agreement %d/%d",
		hist[0].TrainLoss, rel, agree, n)
	if rel > 0.02 || float64(agree) < 0.99*float64(n) {
		t.Errorf("the QDQ model departs from the QAT program: rel L2 %.3g, agreement %d/%d", rel, agree, n)
	}
	// The float model without quantisers carries the trained weights.
	fm, err := q.FloatModel(p)
	if err != nil {
		t.Fatal(err)
	}
	w0 := q.Weights()[0]
	if fm.Graph.Initializers[w0].F32()[0] == q.Float().Graph.Initializers[w0].F32()[0] {
		t.Errorf("FloatModel kept the initial %s", w0)
	}
}

func argmax(v []float32) int {
	b := 0
	for i, x := range v {
		if x > v[b] {
			b = i
		}
	}
	return b
}

// The exported int8 weights are the fake quantiser's values: for each
// weight layer, dequantising the QDQ model's int8 tensor gives back the
// output of FakeQuantizeWeight on the trained float weight.
func TestExportedWeightsAreFakeQuantValues(t *testing.T) {
	m := arch.MLP("mlp", []int{6}, []int{5}, 3, 1)
	calib := []compress.Batch{{Inputs: []*tensor.Tensor{tensor.Float32s([]int{4, 6}, []float32{
		1, -2, 0.5, 3, 0, 1, 0.2, 0.1, -1, 2, 2, -0.5, 1, 1, 1, -1, -1, 0, 0, 0.3, 0.6, -0.9, 1.2, 4})}}}
	q, err := Prepare(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p, err := q.Compile(train.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// change the weights as training would
	for _, v := range p.Vars() {
		for i := range v.Data {
			v.Data[i] *= 1.37
		}
	}
	out, err := q.Export(p)
	if err != nil {
		t.Fatal(err)
	}
	g := out.Graph
	checked := 0
	for _, n := range g.Nodes {
		if n.OpType != "DequantizeLinear" {
			continue
		}
		qt := g.Initializers[n.Inputs[0]]
		if qt == nil || qt.DType != tensor.Int8 || qt.Rank() != 2 {
			continue
		}
		name := strings.TrimSuffix(n.Inputs[0], "_quantized")
		var w []float32
		for _, v := range p.Vars() {
			if v.Name == name {
				w = v.Data
			}
		}
		if w == nil {
			t.Fatalf("no trained weight %q", name)
		}
		scales := g.Initializers[n.Inputs[1]].F32()
		rows, cols := qt.Shape[0], qt.Shape[1]
		for r := 0; r < rows; r++ {
			var am float32
			for c := 0; c < cols; c++ {
				am = max(am, float32(math.Abs(float64(w[r*cols+c]))))
			}
			if scales[r] != train.SymmetricScale(am) {
				t.Fatalf("%s row %d: scale %g, fake quantiser's %g", name, r, scales[r], train.SymmetricScale(am))
			}
			for c := 0; c < cols; c++ {
				fq := float32(math.RoundToEven(float64(w[r*cols+c]/scales[r]))) * scales[r]
				if dq := float32(qt.Data.([]int8)[r*cols+c]) * scales[r]; dq != fq {
					t.Fatalf("%s[%d,%d]: dequantised %g, fake-quant %g", name, r, c, dq, fq)
				}
			}
		}
		checked++
	}
	if checked != 2 {
		t.Errorf("checked %d weight tensors, want 2", checked)
	}
}

func TestQATErrors(t *testing.T) {
	m := arch.MLP("mlp", []int{6}, []int{5}, 3, 1)
	calib := []compress.Batch{{Inputs: []*tensor.Tensor{tensor.Float32s([]int{1, 6}, []float32{1, 2, 3, 4, 5, 6})}}}
	if _, err := Prepare(nil, calib, Options{}); err == nil {
		t.Error("nil model accepted")
	}
	if _, err := Prepare(m, nil, Options{Logger: quiet}); err == nil {
		t.Error("no calibration data accepted")
	}
	if _, err := Prepare(m, calib, Options{Momentum: 2}); err == nil {
		t.Error("momentum 2 accepted")
	}
	if _, err := Prepare(m, calib, Options{Activations: tensor.Int16}); err == nil {
		t.Error("int16 activations accepted")
	}
	old := *m
	old.Opsets = map[string]int64{"": 11}
	if _, err := Prepare(&old, calib, Options{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "opset") {
		t.Errorf("opset 11: %v", err)
	}
	wrong := []compress.Batch{{Inputs: []*tensor.Tensor{tensor.Float32s([]int{1, 5}, []float32{1, 2, 3, 4, 5})}}}
	if _, err := Prepare(m, wrong, Options{Logger: quiet}); err == nil {
		t.Error("calibration data of the wrong shape accepted")
	}
	q, err := Prepare(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	other, err := train.Compile(m, train.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := q.Export(other); err == nil {
		t.Error("exported from a program of another model")
	}
	if _, err := q.Export(nil); err == nil {
		t.Error("exported from a nil program")
	}
}

// On graphs with BatchNormalization, residual Add, Clip, depthwise and
// pointwise convolutions, global pooling, MatMul and a float Softmax, the
// QAT program and its QDQ export compute the same function, and an
// operator without an integer form stays float with a warning.
func TestQATGraphs(t *testing.T) {
	for _, c := range []struct {
		name     string
		m        *graph.Model
		classes  int
		positive bool
		warn     string
	}{
		{"cnn-bn", testmodels.CNN(1, true), 3, true, ""},
		{"residual", testmodels.Residual(2), 5, false, ""},
		{"mlp-softmax", testmodels.MLP(3), 6, true, "Softmax"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ins := testmodels.Inputs(c.m, 4, 8, 16, c.positive)
			var calib []compress.Batch
			var x []float32
			for _, in := range ins {
				calib = append(calib, compress.Batch{Inputs: in})
				x = append(x, in[0].F32()...)
			}
			shape := ins[0][0].Shape[1:]
			y := make([]int, len(ins)*ins[0][0].Shape[0])
			for i := range y {
				y[i] = i % c.classes
			}
			ds, err := data.NewInMemory(x, shape, y)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			q, err := Prepare(c.m, calib, Options{Logger: slog.New(rec)})
			if err != nil {
				t.Fatal(err)
			}
			p, err := q.Compile(train.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			loss := train.Loss(train.CrossEntropy{})
			if c.warn != "" {
				loss = train.MSE{} // the output is a softmax
			}
			if _, err := train.Fit(context.Background(), p, ds, train.Config{Epochs: 2, Batch: 16, LR: 0.01, Loss: loss, Seed: 1},
				train.Callbacks{}); err != nil {
				t.Fatal(err)
			}
			out, err := q.Export(p)
			if err != nil {
				t.Fatal(err)
			}
			s, err := runtime.Compile(out, runtime.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var num, den float64
			for _, in := range testmodels.Inputs(c.m, 9, 2, 16, c.positive) {
				want, err := p.Forward(false, in[0])
				if err != nil {
					t.Fatal(err)
				}
				w := append([]float32{}, want[0].F32()...)
				got, err := s.RunOrdered(in, nil)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range got[0].F32() {
					num += float64(v-w[i]) * float64(v-w[i])
					den += float64(w[i]) * float64(w[i])
				}
			}
			rel := math.Sqrt(num / den)
			t.Logf("%d quantisers: QDQ vs QAT program rel L2 %.2g; warnings %v", len(q.Activations())+len(q.Weights()), rel, rec.msgs)
			if rel > 0.03 {
				t.Errorf("QDQ export departs from the QAT program: rel L2 %.3g", rel)
			}
			warned := false
			for _, msg := range rec.msgs {
				warned = warned || c.warn != "" && strings.Contains(msg, "op="+c.warn)
			}
			if c.warn != "" && !warned {
				t.Errorf("no warning about %s kept in float: %v", c.warn, rec.msgs)
			}
			if c.warn == "" && len(rec.msgs) > 0 {
				t.Errorf("unexpected warnings %v", rec.msgs)
			}
		})
	}
}
