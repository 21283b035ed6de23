package partition

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
)

// CascadeSample is one input as seen by a two-model cascade (an early
// exit, DDNN; a small model on the device and a big one in the cloud,
// Sedna's joint inference): the small model's confidence in its answer,
// and whether each model's answer is right.
type CascadeSample struct {
	Confidence   float64
	SmallCorrect bool
	BigCorrect   bool
}

// CascadePoint is the cascade's behaviour at one threshold: inputs whose
// confidence is below Threshold are offloaded to the big model, the rest
// are answered by the small one.
type CascadePoint struct {
	Threshold float64 `json:"threshold"`
	// Offloaded is the number of offloaded inputs; Fraction their share.
	Offloaded int     `json:"offloaded"`
	Fraction  float64 `json:"fraction"`
	// Accuracy is the cascade's accuracy over all inputs.
	Accuracy float64 `json:"accuracy"`
	// LocalAccuracy is the small model's accuracy on the inputs it kept
	// (NaN if it kept none).
	LocalAccuracy float64 `json:"local_accuracy"`
}

// Latency is the cascade's mean latency per input when the small model
// costs small seconds and an offload costs offload seconds more.
func (p CascadePoint) Latency(small, offload float64) float64 {
	return small + p.Fraction*offload
}

// Cascade computes accuracy against offloaded fraction for each threshold
// (samples with Confidence < threshold are offloaded). With no thresholds
// it uses CascadeThresholds(samples). Points come in increasing threshold
// order. It costs O((n + t) log n).
func Cascade(samples []CascadeSample, thresholds []float64) []CascadePoint {
	if thresholds == nil {
		thresholds = CascadeThresholds(samples)
	}
	n := len(samples)
	s := slices.Clone(samples)
	slices.SortFunc(s, func(a, b CascadeSample) int {
		switch {
		case a.Confidence < b.Confidence:
			return -1
		case a.Confidence > b.Confidence:
			return 1
		}
		return 0
	})
	// big[i]: big-model hits among s[:i]; small[i]: small-model hits among s[i:].
	big := make([]int, n+1)
	small := make([]int, n+1)
	for i, x := range s {
		big[i+1] = big[i]
		if x.BigCorrect {
			big[i+1]++
		}
	}
	for i := n - 1; i >= 0; i-- {
		small[i] = small[i+1]
		if s[i].SmallCorrect {
			small[i]++
		}
	}
	th := slices.Clone(thresholds)
	slices.Sort(th)
	out := make([]CascadePoint, 0, len(th))
	for _, t := range th {
		k, _ := slices.BinarySearchFunc(s, t, func(x CascadeSample, t float64) int {
			if x.Confidence < t {
				return -1
			}
			return 1
		})
		p := CascadePoint{Threshold: t, Offloaded: k, LocalAccuracy: math.NaN()}
		if n > 0 {
			p.Fraction = float64(k) / float64(n)
			p.Accuracy = float64(big[k]+small[k]) / float64(n)
		}
		if k < n {
			p.LocalAccuracy = float64(small[k]) / float64(n-k)
		}
		out = append(out, p)
	}
	return out
}

// CascadeThresholds returns every threshold at which the cascade changes:
// each distinct confidence, and one above the largest (offload all). The
// first point (the smallest confidence) offloads nothing.
func CascadeThresholds(samples []CascadeSample) []float64 {
	var th []float64
	for _, s := range samples {
		th = append(th, s.Confidence)
	}
	slices.Sort(th)
	th = slices.Compact(th)
	if len(th) > 0 {
		th = append(th, math.Nextafter(th[len(th)-1], math.Inf(1)))
	}
	return th
}

// CheapestAbove returns the point with the smallest offloaded fraction whose
// accuracy reaches target; ok is false if none does.
func CheapestAbove(points []CascadePoint, target float64) (p CascadePoint, ok bool) {
	for _, q := range points {
		if q.Accuracy >= target && (!ok || q.Fraction < p.Fraction) {
			p, ok = q, true
		}
	}
	return p, ok
}

// WriteCascade prints the accuracy/offload table.
func WriteCascade(w io.Writer, points []CascadePoint) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "threshold\toffloaded\taccuracy\tlocal accuracy")
	for _, p := range points {
		local := "-"
		if !math.IsNaN(p.LocalAccuracy) {
			local = fmt.Sprintf("%.2f%%", 100*p.LocalAccuracy)
		}
		fmt.Fprintf(tw, "%.4g\t%d (%.1f%%)\t%.2f%%\t%s\n", p.Threshold, p.Offloaded, 100*p.Fraction, 100*p.Accuracy, local)
	}
	return tw.Flush()
}
