package distill

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// The analytic gradient of the loss matches central differences.
func TestLossGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, c = 4, 5
	for _, tc := range []struct{ temp, alpha float64 }{{1, 0.5}, {3, 0.7}, {4, 1}, {0.5, 0}, {8, 0.9}} {
		zs, zt := make([]float64, n*c), make([]float64, n*c)
		for i := range zs {
			zs[i], zt[i] = 3*r.NormFloat64(), 3*r.NormFloat64()
		}
		labels := []int{0, 3, 4, 1}
		grad := make([]float64, n*c)
		if _, err := kdLoss(zs, zt, labels, n, c, tc.temp, tc.alpha, grad); err != nil {
			t.Fatal(err)
		}
		const eps = 1e-6
		for i := range zs {
			old := zs[i]
			zs[i] = old + eps
			lp, _ := kdLoss(zs, zt, labels, n, c, tc.temp, tc.alpha, nil)
			zs[i] = old - eps
			lm, _ := kdLoss(zs, zt, labels, n, c, tc.temp, tc.alpha, nil)
			zs[i] = old
			num := (lp - lm) / (2 * eps)
			if d := math.Abs(num - grad[i]); d > 1e-7+1e-5*math.Abs(num) {
				t.Errorf("T=%g alpha=%g: d/dz[%d]: analytic %.9g, numeric %.9g", tc.temp, tc.alpha, i, grad[i], num)
			}
		}
	}
}

func batchOf(student, teacher []float32, labels []int, c int) (*tensor.Tensor, *data.Batch) {
	n := len(labels)
	idx := make([]int, n)
	return tensor.Float32s([]int{n, c}, student),
		&data.Batch{Labels: labels, Index: idx, Y: tensor.Float32s([]int{n, c}, teacher)}
}

// The soft term vanishes when the student copies the teacher; with alpha 0
// the loss is cross-entropy; the soft term is T²·KL.
func TestLossProperties(t *testing.T) {
	z := []float32{1, -2, 0.5, 3, 0, 0, 2, -1}
	labels := []int{3, 0}
	out, b := batchOf(z, z, labels, 4)
	soft, err := Loss{Temperature: 4, Alpha: 1}.Eval(out, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(soft) > 1e-12 {
		t.Errorf("student = teacher: soft loss %g, want 0", soft)
	}
	other := []float32{0, 0, 0, 0, 5, 1, 0, 0}
	out, b = batchOf(z, other, labels, 4)
	hard, _ := Loss{Temperature: 4, Alpha: 0}.Eval(out, b, nil)
	ce, _ := train.CrossEntropy{}.Eval(out, b, nil)
	if math.Abs(hard-ce) > 1e-6 {
		t.Errorf("alpha 0: %g, cross-entropy %g", hard, ce)
	}
	// T²·KL by hand for T=2
	kl := 0.0
	for i := 0; i < 2; i++ {
		p, q := softmax(other[i*4:(i+1)*4], 2), softmax(z[i*4:(i+1)*4], 2)
		for j := range p {
			kl += p[j] * math.Log(p[j]/q[j])
		}
	}
	got, _ := Loss{Temperature: 2, Alpha: 1}.Eval(out, b, nil)
	if want := 4 * kl / 2; math.Abs(got-want) > 1e-9 {
		t.Errorf("soft loss %g, want T²·KL = %g", got, want)
	}
	mixed, _ := Loss{Temperature: 2, Alpha: 0.25}.Eval(out, b, nil)
	if want := 0.25*got + 0.75*ce; math.Abs(mixed-want) > 1e-6 {
		t.Errorf("alpha 0.25: %g, want %g", mixed, want)
	}
}

func softmax(z []float32, temp float64) []float64 {
	p := make([]float64, len(z))
	var s float64
	for i, v := range z {
		p[i] = math.Exp(float64(v) / temp)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

func TestLossErrors(t *testing.T) {
	z := []float32{1, 2, 3, 4}
	out, b := batchOf(z, z, []int{0, 1}, 2)
	for _, c := range []struct {
		l    Loss
		want string
	}{{Loss{Temperature: 0, Alpha: 0.5}, "temperature"}, {Loss{Temperature: math.NaN(), Alpha: 0.5}, "temperature"},
		{Loss{Temperature: 2, Alpha: 1.5}, "alpha"}, {Loss{Temperature: 2, Alpha: math.NaN()}, "alpha"}} {
		if _, err := c.l.Eval(out, b, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one about %s", c.l, err, c.want)
		}
	}
	l := Loss{Temperature: 2, Alpha: 0.5}
	nb := *b
	nb.Y = nil
	if _, err := l.Eval(out, &nb, nil); err == nil || !strings.Contains(err.Error(), "teacher logits") {
		t.Errorf("no targets: %v", err)
	}
	nb = *b
	nb.Y = tensor.Float32s([]int{2, 3}, make([]float32, 6))
	if _, err := l.Eval(out, &nb, nil); err == nil {
		t.Error("teacher [2,3] vs student [2,2] accepted")
	}
	nb = *b
	nb.Labels = []int{0, -1}
	if _, err := l.Eval(out, &nb, nil); err == nil || !strings.Contains(err.Error(), "label") {
		t.Errorf("unlabelled sample with alpha < 1: %v", err)
	}
	if _, err := (Loss{Temperature: 2, Alpha: 1}).Eval(out, &nb, nil); err != nil {
		t.Errorf("alpha 1 must not read labels: %v", err)
	}
}

// synthetic is n samples of 12 standard-normal features labelled by the
// teacher's arg max.
func synthetic(t *testing.T, teacher *graph.Model, n int, seed uint64) *data.InMemory {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*12)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	s, err := runtime.Compile(teacher, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	outs, err := s.RunOrdered([]*tensor.Tensor{tensor.Float32s([]int{n, 12}, x)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]int, n)
	for i := range y {
		row := outs[0].F32()[i*4 : (i+1)*4]
		for j, v := range row {
			if v > row[y[i]] {
				y[i] = j
			}
		}
	}
	ds, err := data.NewInMemory(x, []int{12}, y)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// SoftTargets holds exactly the engine's outputs; a Softmax teacher's
// probabilities are turned back into logits (up to a constant per row).
func TestSoftTargets(t *testing.T) {
	tm := arch.MLP("teacher", []int{12}, []int{24}, 4, 3)
	ds := synthetic(t, tm, 100, 1)
	teacher, err := NewONNXTeacher(tm, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Close()
	tg, err := SoftTargets(context.Background(), teacher, ds, 32)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Classes() != 4 || tg.Probabilities || tg.Len() != 100 {
		t.Fatalf("classes %d, probabilities %v, len %d", tg.Classes(), tg.Probabilities, tg.Len())
	}
	x := make([]float32, 12)
	ds.Sample(37, x)
	want, err := teacher.Logits(tensor.Float32s([]int{1, 12}, x))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 4)
	tg.Target(37, got)
	for j := range got {
		if math.Abs(float64(got[j]-want.F32()[j])) > 1e-5 {
			t.Fatalf("target %v, teacher %v", got, want.F32())
		}
	}
	if tg.Label(37) != ds.Y[37] {
		t.Fatal("labels are not passed through")
	}

	sm := *tm
	g := *tm.Graph
	g.Nodes = append(append([]*graph.Node{}, tm.Graph.Nodes...), &graph.Node{Name: "sm", OpType: "Softmax",
		Inputs: []string{"logits"}, Outputs: []string{"prob"}})
	g.Outputs = []graph.ValueInfo{{Name: "prob", DType: tensor.Float32}}
	sm.Graph = &g
	pt, err := NewONNXTeacher(&sm, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	tp, err := SoftTargets(context.Background(), pt, ds, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Probabilities {
		t.Fatal("softmax outputs not recognised")
	}
	lp := make([]float32, 4)
	tp.Target(37, lp)
	for j := 1; j < 4; j++ { // log-probabilities differ from logits by a constant
		if d := (lp[j] - lp[0]) - (got[j] - got[0]); math.Abs(float64(d)) > 1e-4 {
			t.Fatalf("log-probabilities %v vs logits %v", lp, got)
		}
	}
}

// A small student distilled from a teacher on its soft targets alone
// (alpha 1: the labels are never read) learns to agree with it on unseen
// inputs.
func TestDistillLearnsTeacher(t *testing.T) {
	tm := arch.MLP("teacher", []int{12}, []int{48}, 4, 5)
	trainSet := synthetic(t, tm, 2000, 1)
	for i := range trainSet.Y {
		trainSet.Y[i] = -1 // unlabelled transfer set
	}
	test := synthetic(t, tm, 1000, 2)
	teacher, err := NewONNXTeacher(tm, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Close()
	student := arch.MLP("student", []int{12}, []int{32}, 4, 9)
	before := agreement(t, student, test)
	cfg := Config{Temperature: 2, Alpha: 1, Threads: 1,
		Train: train.Config{Epochs: 30, Batch: 32, LR: 0.05, Optimizer: &train.SGD{Momentum: 0.9}, Seed: 1, Eval: test}}
	out, hist, err := Distill(context.Background(), student, teacher, trainSet, cfg, train.Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	after := agreement(t, out, test)
	t.Logf("agreement with the teacher on 1,000 unseen inputs: %.3f before, %.3f after; eval acc per epoch %.3f -> %.3f",
		before, after, hist[0].EvalAcc, hist[len(hist)-1].EvalAcc)
	if after < 0.8 || after < before+0.3 {
		t.Errorf("the student agrees with the teacher on %.3f of unseen inputs (%.3f before)", after, before)
	}
	if math.Abs(hist[len(hist)-1].EvalAcc-after) > 1e-9 {
		t.Errorf("reported eval accuracy %.4f, measured %.4f", hist[len(hist)-1].EvalAcc, after)
	}
	if hist[len(hist)-1].TrainLoss >= hist[0].TrainLoss {
		t.Errorf("distillation loss did not fall: %.4f -> %.4f", hist[0].TrainLoss, hist[len(hist)-1].TrainLoss)
	}
	if !strings.Contains(out.Metadata["edgedl.distill"], "T=2") {
		t.Errorf("metadata %v", out.Metadata)
	}
}

// agreement is the student's accuracy against the teacher's labels.
func agreement(t *testing.T, m *graph.Model, ds *data.InMemory) float64 {
	t.Helper()
	p, err := train.Compile(m, train.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, acc, err := p.Evaluate(ds, 500, nil)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

func TestDistillErrors(t *testing.T) {
	tm := arch.MLP("teacher", []int{12}, []int{8}, 4, 5)
	ds := synthetic(t, tm, 64, 1)
	teacher, err := NewONNXTeacher(tm, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Close()
	ctx := context.Background()
	if _, _, err := Distill(ctx, arch.MLP("s", []int{12}, []int{4}, 4, 1), teacher, ds, Config{Temperature: -1}, train.Callbacks{}); err == nil {
		t.Error("negative temperature accepted")
	}
	if _, _, err := Distill(ctx, nil, teacher, ds, Config{}, train.Callbacks{}); err == nil {
		t.Error("nil student accepted")
	}
	// a student with 3 classes cannot learn a 4-class teacher
	_, _, err = Distill(ctx, arch.MLP("s", []int{12}, []int{4}, 3, 1), teacher, ds, Config{Train: train.Config{Epochs: 1}}, train.Callbacks{})
	if err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Errorf("3-class student, 4-class teacher: %v", err)
	}
	// a teacher that does not take the data
	bad, err := NewONNXTeacher(arch.MLP("t", []int{7}, []int{4}, 4, 1), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := SoftTargets(ctx, bad, ds, 16); err == nil {
		t.Error("teacher with the wrong input shape ran")
	}
	if _, err := NewONNXTeacher(nil, 1); err == nil {
		t.Error("nil teacher accepted")
	}
}
