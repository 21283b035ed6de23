package deepcomp

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/compress/codebook"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

func randVar(r *rand.Rand, name string, n int) *train.Var {
	v := &train.Var{Name: name, Shape: []int{n}, Data: make([]float32, n), Grad: make([]float32, n)}
	for i := range v.Data {
		v.Data[i] = float32(r.NormFloat64())
	}
	return v
}

func TestMaskedOptimizerHoldsZeros(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w, b := randVar(r, "w", 100), randVar(r, "b", 10)
	keep := make([]bool, 100)
	for i := range keep {
		keep[i] = i%3 == 0
		if !keep[i] {
			w.Data[i] = 0
		}
	}
	orig := append([]float32(nil), w.Data...)
	origB := append([]float32(nil), b.Data...)
	opt := &MaskedOptimizer{Inner: &train.SGD{Momentum: 0.9, WeightDecay: 1e-3}, Masks: Masks{"w": keep}}
	for step := 0; step < 5; step++ {
		for _, v := range []*train.Var{w, b} {
			for i := range v.Grad {
				v.Grad[i] = float32(r.NormFloat64())
			}
		}
		opt.Step([]*train.Var{w, b}, 0.1)
	}
	for i, k := range keep {
		if !k && w.Data[i] != 0 {
			t.Fatalf("pruned weight %d is %g after fine-tuning", i, w.Data[i])
		}
		if k && w.Data[i] == orig[i] {
			t.Fatalf("kept weight %d did not move", i)
		}
	}
	for i := range b.Data {
		if b.Data[i] == origB[i] {
			t.Fatalf("unmasked variable b[%d] did not move", i)
		}
	}
	if kept, total := (Masks{"w": keep}).Kept(); kept != 34 || total != 100 {
		t.Fatalf("Kept = %d of %d, want 34 of 100", kept, total)
	}
}

func TestSharedOptimizerSumsGradients(t *testing.T) {
	// 8 weights: two centroids and two pruned weights.
	w := &train.Var{Name: "w", Shape: []int{8}, Data: []float32{0.5, -1, 0.5, 0, -1, 0.5, 0, -1},
		Grad: []float32{1, 2, 3, 100, 4, 5, 100, 6}}
	s, err := SharedFrom(tensor.Float32s([]int{8}, w.Data), 4, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Centroids) != 2 || s.Centroids[0] != -1 || s.Centroids[1] != 0.5 {
		t.Fatalf("centroids %v, want [-1 0.5]", s.Centroids)
	}
	opt := &SharedOptimizer{Inner: &train.SGD{}, Shared: map[string]*Shared{"w": s}}
	opt.Step([]*train.Var{w}, 0.01)
	// centroid -1: grads 2+4+6 = 12; centroid 0.5: 1+3+5 = 9.
	wantLo, wantHi := float32(-1)-0.01*12, float32(0.5)-0.01*9
	want := []float32{wantHi, wantLo, wantHi, 0, wantLo, wantHi, 0, wantLo}
	for i := range want {
		if math.Abs(float64(w.Data[i]-want[i])) > 1e-6 {
			t.Fatalf("after one step w = %v, want %v", w.Data, want)
		}
	}
	if _, err := SharedFrom(tensor.Float32s([]int{3}, []float32{1, 2, 3}), 2, false); err == nil {
		t.Fatal("3 distinct values accepted as a 2-entry codebook")
	}
	if _, err := SharedFrom(nil, 2, false); err == nil {
		t.Fatal("nil tensor accepted")
	}
}

// blobs is a 3-class problem on 4x4 images: each class lights a different
// quadrant, with noise.
func blobs(n int, seed uint64) *data.InMemory {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*16)
	y := make([]int, n)
	for i := range y {
		c := i % 3
		y[i] = c
		for p := 0; p < 16; p++ {
			row, col := p/4, p%4
			v := 0.8 * r.NormFloat64()
			if (c == 0 && row < 2 && col < 2) || (c == 1 && row >= 2 && col >= 2) || (c == 2 && row < 2 && col >= 2) {
				v += 1
			}
			x[i*16+p] = float32(v)
		}
	}
	return &data.InMemory{X: x, SampleShape: []int{1, 4, 4}, Y: y}
}

func accuracy(t *testing.T, m *graph.Model, ds *data.InMemory) float64 {
	t.Helper()
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.RunOrdered([]*tensor.Tensor{tensor.Float32s([]int{ds.Len(), 1, 4, 4}, ds.X)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := out[0].F32()
	right := 0
	for i, l := range ds.Y {
		best := 0
		for j := 1; j < 3; j++ {
			if o[i*3+j] > o[i*3+best] {
				best = j
			}
		}
		if best == l {
			right++
		}
	}
	return float64(right) / float64(ds.Len())
}

func TestCompressSmallMLP(t *testing.T) {
	trainSet, testSet := blobs(600, 1), blobs(300, 2)
	m := arch.MLP("mlp", []int{1, 4, 4}, []int{64, 32}, 3, 1)
	ctx := context.Background()
	base, _, err := Retrain(ctx, m, trainSet, FineTune{Epochs: 5, LR: 0.05, Momentum: 0.9, Threads: 1}, nil, "baseline")
	if err != nil {
		t.Fatal(err)
	}
	baseAcc := accuracy(t, base, testSet)
	if baseAcc < 0.8 {
		t.Fatalf("baseline accuracy %.3f: the toy problem did not train", baseAcc)
	}
	var stages []Stage
	res, err := Compress(ctx, base, trainSet, Config{Sparsity: 0.8, Steps: 2, Bits: 3, MinElements: 64,
		Tune:  FineTune{Epochs: 2, LR: 0.02, Momentum: 0.9, Threads: 1, Eval: testSet},
		Stage: func(s Stage) { stages = append(stages, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 4 || len(res.Stages) != 4 {
		t.Fatalf("%d stages reported, %d in the result; want 2 pruning, sharing, fine-tuning", len(stages), len(res.Stages))
	}
	// Pruned weights stay pruned through both retraining runs and the
	// container; every coded tensor has at most 2^3 distinct non-zeros.
	stats := prune.Sparsity(res.Model)
	for _, s := range stats {
		if s.Sparsity() < 0.8-1e-3 {
			t.Errorf("%s: sparsity %.3f after compression, want >= 0.8", s.Weight, s.Sparsity())
		}
	}
	if len(res.Report.Tensors) == 0 {
		t.Fatal("no tensor was coded")
	}
	for _, tr := range res.Report.Tensors {
		distinct := map[float32]bool{}
		for _, v := range res.Model.Graph.Initializers[tr.Name].F32() {
			if v != 0 {
				distinct[v] = true
			}
		}
		if len(distinct) > 8 {
			t.Errorf("%s: %d distinct non-zero weights, want <= 8", tr.Name, len(distinct))
		}
	}
	// The container is the model: decoding it again gives the same
	// weights as the last stage (the fine-tuned, shared model).
	dec, err := codebook.Decode(res.Container, codebook.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Stages[len(res.Stages)-1].Model
	for _, tr := range res.Report.Tensors {
		if err := sameValues(tr.Name, dec.Graph.Initializers[tr.Name], last.Graph.Initializers[tr.Name]); err != nil {
			t.Fatal(err)
		}
	}
	if int64(len(res.Container))*4 > res.WeightBytes {
		t.Errorf("container %d bytes for %d bytes of float weights: less than 4x smaller", len(res.Container), res.WeightBytes)
	}
	acc := accuracy(t, res.Model, testSet)
	if acc < baseAcc-0.05 {
		t.Errorf("compressed accuracy %.3f, baseline %.3f", acc, baseAcc)
	}
	if got := res.Stages[len(res.Stages)-1].EvalAcc; math.Abs(got-acc) > 1e-9 {
		t.Errorf("the last stage's evaluation says %.4f, the decoded model scores %.4f", got, acc)
	}
	t.Logf("baseline %.3f, compressed %.3f, %d -> %d bytes", baseAcc, acc, res.WeightBytes, len(res.Container))
}

func TestBadInput(t *testing.T) {
	m := arch.MLP("mlp", []int{1, 4, 4}, []int{8}, 3, 1)
	ds := blobs(30, 1)
	ctx := context.Background()
	for _, c := range []Config{
		{Sparsity: 1},
		{Sparsity: -0.1},
		{Sparsity: math.NaN()},
		{Sparsity: 0.5, Steps: -1},
		{Bits: 9},
		{ConvBits: -1, Bits: 4},
		{Tune: FineTune{Epochs: 1, Momentum: 1}},
		{ShareLR: -1},
	} {
		if _, err := Compress(ctx, m, ds, c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if _, err := Compress(ctx, nil, ds, Config{}); err == nil {
		t.Error("nil model accepted")
	}
	empty := &data.InMemory{SampleShape: []int{1, 4, 4}}
	if _, err := Compress(ctx, m, empty, Config{Sparsity: 0.5, Tune: FineTune{Epochs: 1}}); err == nil {
		t.Error("empty training set accepted")
	}
	if _, err := Compress(ctx, m, nil, Config{Sparsity: 0.5, Tune: FineTune{Epochs: 1}}); err == nil {
		t.Error("nil training set accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Compress(cctx, m, ds, Config{Sparsity: 0.5, Tune: FineTune{Epochs: 1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if _, err := ZeroMasks(m, []string{"nope"}); err == nil {
		t.Error("unknown initializer accepted")
	}
}
