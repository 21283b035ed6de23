package demo

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/models/embedded"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// EngineResult holds the engine-only demo's measurements.
type EngineResult struct {
	Samples       int
	Correct       int
	MedianLatency time.Duration
	P90Latency    time.Duration
	BatchPerSec   float64 // images/s at batch 200
}

// RunEngine is the engine-only demo (`edgedl demo --local`): the embedded
// model on the embedded digits in this process, with no network. It uses
// opts.Threads and opts.Samples (digits classified one at a time, at most
// 200) and writes accuracy, latency, throughput and the time per operator
// to w.
func RunEngine(w io.Writer, opts Options) (*EngineResult, error) {
	if opts.Samples <= 0 || opts.Samples > 200 {
		opts.Samples = 200
	}
	m, err := embedded.MNISTModel()
	if err != nil {
		return nil, err
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: opts.Threads})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	x, labels, err := embedded.MNISTSamples()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "edgedl demo: embedded MNIST CNN (%d nodes, %d kernels after folding), %d threads\n",
		len(m.Graph.Nodes), s.NumSteps(), s.Threads())
	fmt.Fprintf(w, "model: %s\n\n", m.Graph.Doc+m.Doc)

	res := &EngineResult{Samples: opts.Samples}
	lat := make([]time.Duration, 0, opts.Samples)
	per := 28 * 28
	var first []float32
	for i := 0; i < opts.Samples; i++ {
		img := tensor.Float32s([]int{1, 1, 28, 28}, x.F32()[i*per:(i+1)*per])
		t0 := time.Now()
		out, err := s.RunOrdered([]*tensor.Tensor{img}, nil)
		if err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		logits := out[0].F32()
		if i == 0 {
			first = logits
		}
		if argmax(logits) == int(labels[i]) {
			res.Correct++
		}
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	res.MedianLatency = lat[len(lat)/2]
	res.P90Latency = lat[len(lat)*9/10]

	fmt.Fprintln(w, asciiDigit(x.F32()[:per]))
	probs := softmax(first)
	fmt.Fprintf(w, "first digit: label %d, predicted %d (p=%.3f)\n\n", labels[0], argmax(first), probs[argmax(first)])

	t0 := time.Now()
	const reps = 5
	for r := 0; r < reps; r++ {
		if _, err := s.RunOrdered([]*tensor.Tensor{x}, nil); err != nil {
			return nil, err
		}
	}
	res.BatchPerSec = float64(reps*x.Shape[0]) / time.Since(t0).Seconds()

	// Where the time goes, per operator type, from one traced batch-1 run.
	byOp := map[string]time.Duration{}
	img := tensor.Float32s([]int{1, 1, 28, 28}, x.F32()[:per])
	for r := 0; r < 20; r++ {
		_, err := s.RunOrdered([]*tensor.Tensor{img}, func(_ int, n *graph.Node, _, _ []*tensor.Tensor, d time.Duration) {
			byOp[n.OpType] += d
		})
		if err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(w, "%-28s %10s\n", "metric", "value")
	fmt.Fprintf(w, "%-28s %9.1f%%\n", "accuracy (batch 1)", 100*float64(res.Correct)/float64(res.Samples))
	fmt.Fprintf(w, "%-28s %10s\n", "latency median (batch 1)", res.MedianLatency.Round(time.Microsecond))
	fmt.Fprintf(w, "%-28s %10s\n", "latency p90 (batch 1)", res.P90Latency.Round(time.Microsecond))
	fmt.Fprintf(w, "%-28s %10.0f\n", "throughput img/s (batch 200)", res.BatchPerSec)
	var total time.Duration
	ops := make([]string, 0, len(byOp))
	for op, d := range byOp {
		ops = append(ops, op)
		total += d
	}
	sort.Slice(ops, func(a, b int) bool { return byOp[ops[a]] > byOp[ops[b]] })
	fmt.Fprintf(w, "\ntime by operator (batch 1):\n")
	for _, op := range ops {
		share := float64(byOp[op]) / float64(total)
		fmt.Fprintf(w, "  %-20s %5.1f%% %s\n", op, 100*share, strings.Repeat("#", int(share*40+0.5)))
	}
	return res, nil
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func softmax(v []float32) []float64 {
	mx := float64(v[argmax(v)])
	out := make([]float64, len(v))
	var sum float64
	for i, x := range v {
		out[i] = math.Exp(float64(x) - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// asciiDigit renders a 28x28 image at half vertical resolution.
func asciiDigit(px []float32) string {
	const ramp = " .:-=+*#%@"
	var b strings.Builder
	for y := 0; y < 28; y += 2 {
		b.WriteString("  ")
		for x := 0; x < 28; x++ {
			v := (px[y*28+x] + px[(y+1)*28+x]) / 2
			b.WriteByte(ramp[int(v*float32(len(ramp)-1)+0.5)])
		}
		b.WriteByte('\n')
	}
	return b.String()
}
