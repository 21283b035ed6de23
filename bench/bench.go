// Package bench measures inference latency the way the project reports it:
// batch-1 runs after a warm-up, median / p90 / min over many runs,
// throughput, and the process's peak resident memory.
//
// Comparisons with ONNX Runtime live in bench/ortref (build tag "ort");
// a Runner abstracts over both so one loop times either engine.
package bench

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// Runner runs one inference on fixed inputs.
type Runner func() error

// Options control a measurement.
type Options struct {
	Runs   int           // timed runs (default 50)
	Warmup int           // untimed runs first (default 5)
	MinDur time.Duration // keep running until at least this much time passed (default 0)
}

// Result of timing one engine on one model.
type Result struct {
	Runs       int     `json:"runs"`
	MedianMS   float64 `json:"median_ms"`
	P90MS      float64 `json:"p90_ms"`
	MinMS      float64 `json:"min_ms"`
	MeanMS     float64 `json:"mean_ms"`
	Throughput float64 `json:"throughput_per_s"`
}

// Time runs r Warmup times, then Runs times (or until MinDur), and
// summarises the latencies.
func Time(r Runner, o Options) (Result, error) {
	if o.Runs <= 0 {
		o.Runs = 50
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 5
	}
	for i := 0; i < o.Warmup; i++ {
		if err := r(); err != nil {
			return Result{}, err
		}
	}
	var lat []time.Duration
	start := time.Now()
	for i := 0; i < o.Runs || time.Since(start) < o.MinDur; i++ {
		t0 := time.Now()
		if err := r(); err != nil {
			return Result{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	return Summarise(lat), nil
}

// Summarise computes the statistics of a set of latencies.
func Summarise(lat []time.Duration) Result {
	if len(lat) == 0 {
		return Result{}
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	mean := ms(sum) / float64(len(s))
	return Result{
		Runs:       len(s),
		MedianMS:   ms(s[len(s)/2]),
		P90MS:      ms(s[(len(s)*9)/10]),
		MinMS:      ms(s[0]),
		MeanMS:     mean,
		Throughput: 1000 / mean,
	}
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM on
// Linux), or 0 where unknown.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// SyntheticInputs makes deterministic random inputs for a graph's declared
// inputs, binding unknown dims to batch (first dim) or 1.
func SyntheticInputs(g *graph.Graph, batch int, seed int64) ([]*tensor.Tensor, error) {
	rng := rand.New(rand.NewSource(seed))
	var out []*tensor.Tensor
	for _, v := range g.Inputs {
		shape, ok := v.StaticShape(1)
		if !ok {
			return nil, fmt.Errorf("bench: input %q has no declared shape; give an input file", v.Name)
		}
		if len(shape) > 0 && !v.Shape[0].Known() {
			shape[0] = batch
		}
		t, err := tensor.Make(v.DType, shape)
		if err != nil {
			return nil, fmt.Errorf("bench: input %q: %w", v.Name, err)
		}
		switch d := t.Data.(type) {
		case []float32:
			for i := range d {
				d[i] = float32(rng.NormFloat64())
			}
		case []float64:
			for i := range d {
				d[i] = rng.NormFloat64()
			}
		case []int64:
			for i := range d {
				d[i] = int64(rng.Intn(10))
			}
		case []int32:
			for i := range d {
				d[i] = int32(rng.Intn(10))
			}
		case []uint8:
			for i := range d {
				d[i] = uint8(rng.Intn(256))
			}
		case []int8:
			for i := range d {
				d[i] = int8(rng.Intn(256) - 128)
			}
		case []bool:
			for i := range d {
				d[i] = rng.Intn(2) == 1
			}
		}
		out = append(out, t)
	}
	return out, nil
}
