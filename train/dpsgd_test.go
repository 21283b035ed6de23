package train

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/edgedl/edgedl/train/arch"
)

// Poisson lots: round(N/B) of them per epoch, each example drawn with
// probability B/N independently (mean lot size B, binomial variance), the
// same lots for the same (seed, epoch) and others for another epoch.
func TestPoissonEpoch(t *testing.T) {
	ds := blobs(2000, 1, 3, 2, 1)
	const batch = 50
	if got := PoissonSteps(ds.Len(), batch); got != 40 {
		t.Fatalf("PoissonSteps(2000, 50) = %d, want 40", got)
	}
	count := make([]int, ds.Len())
	var lots []int
	var first [][]int
	for epoch := range 25 {
		for b := range PoissonEpoch(ds, batch, 7, epoch) {
			lots = append(lots, b.Len())
			if epoch == 0 {
				first = append(first, append([]int(nil), b.Index...))
			}
			for k, i := range b.Index {
				count[i]++
				if b.Labels[k] != ds.Y[i] {
					t.Fatalf("lot holds example %d with label %d, want %d", i, b.Labels[k], ds.Y[i])
				}
				if k > 0 && b.Index[k-1] >= i {
					t.Fatalf("lot indices not increasing: %v", b.Index)
				}
			}
		}
	}
	if len(lots) != 25*40 {
		t.Fatalf("%d lots in 25 epochs, want %d", len(lots), 25*40)
	}
	var mean, sq float64
	for _, n := range lots {
		mean += float64(n)
	}
	mean /= float64(len(lots))
	for _, n := range lots {
		sq += (float64(n) - mean) * (float64(n) - mean)
	}
	v := sq / float64(len(lots)-1)
	q := float64(batch) / float64(ds.Len())
	// Binomial(2000, 0.025): mean 50, variance 48.75; the mean of 1000 lots
	// has standard error 0.22.
	if math.Abs(mean-batch) > 1.2 || math.Abs(v-float64(ds.Len())*q*(1-q)) > 12 {
		t.Errorf("lot size mean %.2f variance %.2f, want 50 and 48.75", mean, v)
	}
	// Each example is drawn 1000·q = 25 times on average.
	var seen float64
	for _, c := range count {
		seen += float64(c)
	}
	if m := seen / float64(len(count)); math.Abs(m-25) > 0.6 {
		t.Errorf("examples drawn %.2f times on average, want 25", m)
	}
	k := 0
	for b := range PoissonEpoch(ds, batch, 7, 0) {
		if len(b.Index) != len(first[k]) || (len(b.Index) > 0 && b.Index[0] != first[k][0]) {
			t.Fatalf("lot %d differs between two draws of the same epoch", k)
		}
		k++
	}
	same := 0
	k = 0
	for b := range PoissonEpoch(ds, batch, 7, 1) {
		if len(b.Index) == len(first[k]) {
			same++
		}
		k++
	}
	if same == k {
		t.Errorf("epoch 1 has the same lot sizes as epoch 0")
	}
	// A lot of everything when B >= N.
	for b := range PoissonEpoch(ds, 5000, 1, 0) {
		if b.Len() != ds.Len() {
			t.Errorf("q = 1: lot of %d", b.Len())
		}
	}
	if PoissonSteps(0, 10) != 0 || PoissonSteps(10, 0) != 0 {
		t.Error("PoissonSteps of an empty set or batch should be 0")
	}
}

// DP-SGD with Poisson lots learns the toy problem and takes round(N/B)
// steps per epoch.
func TestFitDPSGDPoisson(t *testing.T) {
	m := arch.MLP("mlp", []int{2, 12}, []int{16}, 3, 1)
	p, _ := Compile(m, Options{Threads: 2})
	defer p.Close()
	ds := blobs(96, 2, 12, 3, 1)
	hist, err := Fit(context.Background(), p, ds, Config{Epochs: 12, Batch: 16, LR: 0.2,
		PerExampleClip: 1, NoiseMultiplier: 0.1, PoissonSampling: true, Eval: ds}, Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	if got := hist[len(hist)-1].Step; got != 12*6 {
		t.Errorf("%d steps in 12 epochs of Poisson lots, want 72", got)
	}
	if acc := hist[len(hist)-1].EvalAcc; acc < 0.8 {
		t.Errorf("DP-SGD (Poisson) accuracy %.2f", acc)
	}
}

// DP noise is keyed by a secret by default: two runs from the same seed
// end with different weights, while NoiseSeed reproduces a run exactly.
func TestDPNoiseKey(t *testing.T) {
	fit := func(noiseSeed uint64) []float32 {
		p, _ := Compile(arch.MLP("mlp", []int{2, 12}, []int{16}, 3, 1), Options{Threads: 1, Seed: 1})
		defer p.Close()
		_, err := Fit(context.Background(), p, blobs(64, 2, 12, 3, 1), Config{Epochs: 1, Batch: 16, LR: 0.1, Seed: 1,
			PerExampleClip: 1, NoiseMultiplier: 1, NoiseSeed: noiseSeed}, Callbacks{})
		if err != nil {
			t.Fatal(err)
		}
		var w []float32
		for _, v := range p.vars {
			w = append(w, v.Data...)
		}
		return w
	}
	same := func(a, b []float32) bool { return slices.Equal(a, b) }
	if a, b := fit(7), fit(7); !same(a, b) {
		t.Error("the same NoiseSeed gave different runs")
	}
	if a, b := fit(0), fit(0); same(a, b) {
		t.Error("two runs with secret noise keys gave identical weights: the noise is not fresh")
	}
	if k, _ := NoiseKey(0); k == ([32]byte{}) {
		t.Error("NoiseKey(0) returned the zero key")
	}
}
