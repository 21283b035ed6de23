package partition_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/partition"
)

// TestCascadeBruteForce compares the sweep with a direct count per
// threshold on random samples with tied confidences.
func TestCascadeBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	for trial := 0; trial < 50; trial++ {
		n := r.IntN(200)
		samples := make([]partition.CascadeSample, n)
		for i := range samples {
			c := float64(r.IntN(20)) / 20 // ties
			samples[i] = partition.CascadeSample{Confidence: c,
				SmallCorrect: r.Float64() < c, BigCorrect: r.Float64() < 0.9}
		}
		th := []float64{-1, 0, 0.33, 0.5, 0.95, 2}
		for _, th := range [][]float64{th, nil} {
			pts := partition.Cascade(samples, th)
			for _, p := range pts {
				off, right, kept, keptRight := 0, 0, 0, 0
				for _, s := range samples {
					if s.Confidence < p.Threshold {
						off++
						if s.BigCorrect {
							right++
						}
					} else {
						kept++
						if s.SmallCorrect {
							right++
							keptRight++
						}
					}
				}
				if p.Offloaded != off || (n > 0 && math.Abs(p.Accuracy-float64(right)/float64(n)) > 1e-12) {
					t.Fatalf("threshold %v: %+v; want %d offloaded, %d right of %d", p.Threshold, p, off, right, n)
				}
				if kept > 0 && math.Abs(p.LocalAccuracy-float64(keptRight)/float64(kept)) > 1e-12 {
					t.Fatalf("threshold %v: local accuracy %v", p.Threshold, p.LocalAccuracy)
				}
			}
			if th == nil && n > 0 {
				if pts[0].Offloaded != 0 || pts[len(pts)-1].Offloaded != n {
					t.Fatalf("default thresholds should span none to all offloaded: %+v ... %+v", pts[0], pts[len(pts)-1])
				}
			}
		}
	}
}

func TestCascadeTable(t *testing.T) {
	samples := []partition.CascadeSample{
		// The big model errs on a confident input that the small one gets
		// right: the cascade beats both models alone.
		{0.9, true, false}, {0.8, true, true}, {0.6, false, true}, {0.3, false, true}, {0.2, true, false},
	}
	pts := partition.Cascade(samples, []float64{0, 0.5, 0.7, 1})
	acc := []float64{0.6, 0.6, 0.8, 0.6}
	for i, p := range pts {
		if math.Abs(p.Accuracy-acc[i]) > 1e-12 {
			t.Errorf("threshold %v: accuracy %v, want %v", p.Threshold, p.Accuracy, acc[i])
		}
	}
	if p, ok := partition.CheapestAbove(pts, 0.75); !ok || p.Threshold != 0.7 || p.Fraction != 0.6 {
		t.Errorf("CheapestAbove(0.75) = %+v, %v", p, ok)
	}
	if got := pts[2].Latency(0.005, 0.05); math.Abs(got-0.035) > 1e-12 {
		t.Errorf("latency %v", got)
	}
	var b bytes.Buffer
	partition.WriteCascade(&b, pts)
	if !strings.Contains(b.String(), "3 (60.0%)") {
		t.Errorf("table:\n%s", b.String())
	}
}
