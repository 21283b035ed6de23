package dp

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/internal/vec"
)

func TestClip(t *testing.T) {
	v := []float32{3, 4}
	if n := ClipL2(v, 1); n != 5 || math.Abs(vec.Norm2(v)-1) > 1e-6 {
		t.Fatalf("norm %v, clipped to %v", n, v)
	}
	w := []float32{0.3, 0.4}
	ClipL2(w, 1)
	if w[0] != 0.3 || w[1] != 0.4 {
		t.Fatalf("short vector changed: %v", w)
	}
}

// Without noise, NoisySum is the sum of the clipped inputs; with noise, the
// empirical standard deviation is σC.
func TestGaussianSum(t *testing.T) {
	xs := [][]float32{{3, 4}, {0.3, 0.4}, {-30, 0}}
	dst := make([]float32, 2)
	g := GaussianSum{Clip: 1, NoiseMultiplier: 0, Rand: rand.New(rand.NewPCG(1, 1))}
	n, err := g.NoisySum(dst, xs)
	if err != nil || n != 2 {
		t.Fatalf("clipped %d, %v", n, err)
	}
	want := []float64{0.6 + 0.3 - 1, 0.8 + 0.4 + 0}
	for i := range want {
		if math.Abs(float64(dst[i])-want[i]) > 1e-6 {
			t.Fatalf("sum %v, want %v", dst, want)
		}
	}
	g.NoiseMultiplier = 1.5
	g.Clip = 2
	big := make([]float32, 20000)
	if _, err := g.NoisySum(big, nil); err != nil {
		t.Fatal(err)
	}
	var ss float64
	for _, x := range big {
		ss += float64(x) * float64(x)
	}
	std := math.Sqrt(ss / float64(len(big)))
	if math.Abs(std-3) > 0.05 {
		t.Fatalf("noise std %v, want 3", std)
	}
	if _, err := (GaussianSum{Clip: 1}).NoisySum(dst, xs); err == nil {
		t.Fatal("missing Rand accepted")
	}
	if _, err := g.NoisySum(dst, [][]float32{{1}}); err == nil {
		t.Fatal("wrong length accepted")
	}
	mean := make([]float32, 2)
	g2 := GaussianSum{Clip: 1, Rand: rand.New(rand.NewPCG(1, 1))}
	if _, err := g2.NoisyMean(mean, xs, 4); err != nil || math.Abs(float64(mean[1])-1.2/4) > 1e-6 {
		t.Fatalf("noisy mean %v, %v", mean, err)
	}
}

// DP-FedAvg inside a federated.Server: with zero noise it is the mean of
// the clipped deltas divided by the expected count.
func TestDPFedAvgInServer(t *testing.T) {
	agg := &FedAvg{Clip: 1, NoiseMultiplier: 0, ExpectedClients: 4, Rand: rand.New(rand.NewPCG(2, 2))}
	srv := federated.Server{Aggregator: agg}
	global := []float32{0, 0}
	ups := []federated.Update{
		{Client: 1, Params: []float32{10, 0}, Samples: 1000},
		{Client: 2, Params: []float32{0, 0.5}, Samples: 1},
	}
	if _, err := srv.Step(global, ups); err != nil {
		t.Fatal(err)
	}
	if global[0] != 0.25 || global[1] != 0.125 || agg.Clipped != 1 {
		t.Fatalf("global %v, clipped %d", global, agg.Clipped)
	}
	// With noise: averaged over many rounds, unbiased around the clipped mean.
	agg2 := &FedAvg{Clip: 1, NoiseMultiplier: 1, Rand: rand.New(rand.NewPCG(3, 3))}
	dst := make([]float32, 1)
	var s float64
	const rounds = 4000
	for r := 0; r < rounds; r++ {
		if err := agg2.Aggregate(dst, []federated.Update{{Params: []float32{0.5}}, {Params: []float32{3}}}); err != nil {
			t.Fatal(err)
		}
		s += float64(dst[0])
	}
	// mean (0.5+1)/2 = 0.75; noise std per round 1/2; 5 standard errors.
	if m := s / rounds; math.Abs(m-0.75) > 5*0.5/math.Sqrt(rounds) {
		t.Fatalf("mean %v, want 0.75", m)
	}
}

func TestEpsilonAfter(t *testing.T) {
	// DP-FedAvg à la McMahan et al. 2018 scale: 100 of 10^6 users per round
	// is q = 1e-4; noise 1.0 over 5000 rounds at delta 1e-9 should be a
	// single-digit epsilon.
	e, err := EpsilonAfter(1e-4, 1.0, 5000, 1e-9, ConversionImproved)
	if err != nil || !(e > 0 && e < 10) {
		t.Fatalf("eps %v, %v", e, err)
	}
}
