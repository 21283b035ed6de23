package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"sort"
	"time"

	"github.com/edgedl/edgedl/bench"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// ortRunner is set by cmd_bench_ort.go when the binary is built with the
// "ort" tag (cgo): it opens ONNX Runtime on a model and returns a runner.
var ortRunner func(path string, threads int, inputs []*tensor.Tensor) (run bench.Runner, closeFn func(), err error)

// benchReport is the JSON form of `edgedl bench`.
type benchReport struct {
	Model        string        `json:"model"`
	Threads      int           `json:"threads"`
	Batch        int           `json:"batch"`
	Rounds       int           `json:"rounds"`
	PeakRSSBytes int64         `json:"peak_rss_bytes"`
	GOOS         string        `json:"goos"`
	GOARCH       string        `json:"goarch"`
	CPUs         int           `json:"cpus"`
	bench.Result               // edgedl's figures (median_ms, p90_ms, ...)
	ORT          *bench.Result `json:"ort,omitempty"`
	Ratio        float64       `json:"ratio_edgedl_over_ort,omitempty"`
}

func setupBench(e *env, fs *flag.FlagSet) func([]string) error {
	var in inputFlags
	in.register(fs)
	runs := fs.Int("runs", 50, "timed `runs` per round")
	warmup := fs.Int("warmup", 10, "untimed `runs` before timing")
	rounds := fs.Int("rounds", 3, "alternating `rounds` (edgedl, ORT, edgedl, ...); medians are over all runs")
	threads := fs.Int("threads", 0, "intra-op `threads` for both engines (default: one per CPU)")
	batch := fs.Int("batch", 1, "size of a symbolic first input dim")
	asJSON := fs.Bool("json", false, "print one JSON object")
	compare := fs.Bool("compare-ort", false, "also time ONNX Runtime on the same inputs, in the same process (needs a build with -tags ort)")
	noOpt := fs.Bool("no-optimize", false, "compile without graph rewrites")
	return func(args []string) error {
		if *runs <= 0 || *warmup < 0 || *rounds <= 0 || *batch <= 0 {
			return usagef("--runs, --rounds and --batch must be positive, --warmup not negative")
		}
		if *compare && ortRunner == nil {
			return errors.New("--compare-ort needs ONNX Runtime: build with `go build -tags ort ./cmd/edgedl` after `bash scripts/setup-ort.sh` (cgo)")
		}
		path := args[0]
		m, err := onnx.Load(path)
		if err != nil {
			return err
		}
		n := *threads
		if n <= 0 {
			n = goruntime.NumCPU()
		}
		s, err := runtime.Compile(m, runtime.Options{Threads: n, NoOptimize: *noOpt, Logger: e.log})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer s.Close()
		s.Model, m = nil, nil // let the original weights go: peak RSS counts what the session needs
		goruntime.GC()
		var inputs []*tensor.Tensor
		if len(in.files) > 0 {
			inputs, err = in.load(e, s.Inputs())
		} else {
			inputs, err = s.SyntheticInputs(runtime.SyntheticOptions{Batch: *batch, Rand: rand.New(rand.NewPCG(1, 2))})
		}
		if err != nil {
			return err
		}
		ours := func() error { _, err := s.RunOrdered(inputs, nil); return err }
		var closers []func()
		defer func() {
			for _, c := range closers {
				c()
			}
		}()
		// ONNX Runtime is opened after edgedl's first round, so that the peak
		// RSS reported is edgedl's alone.
		var theirs bench.Runner
		openORT := func() error {
			r, closeFn, err := ortRunner(path, n, inputs)
			if err != nil {
				return err
			}
			closers = append(closers, closeFn)
			theirs = r
			return nil
		}
		rep := benchReport{Model: path, Threads: n, Batch: *batch, Rounds: *rounds,
			GOOS: goruntime.GOOS, GOARCH: goruntime.GOARCH, CPUs: goruntime.NumCPU()}
		// Alternate the engines in rounds so that drift in the machine's
		// load hits both alike; warm both up first.
		var ourLat, theirLat []float64
		var rssBeforeORT int64
		// With ONNX Runtime, each engine's round starts with a pause (and,
		// after the first, two untimed runs), for both engines alike: ONNX
		// Runtime's intra-op threads spin for a while after its runs, and
		// without the pause they took the second CPU from edgedl's next
		// round (a 2-thread 0.07 ms model measured 0.106 ms that way
		// against 0.070 ms alone).
		for r := 0; r < *rounds; r++ {
			w := *warmup
			if r > 0 {
				w = 2
				if theirs != nil {
					time.Sleep(settlePause)
				}
			}
			_, lat, err := timeRuns(ours, *runs, w)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			ourLat = append(ourLat, lat...)
			if r == 0 {
				rssBeforeORT = bench.PeakRSS()
				if *compare {
					if err := openORT(); err != nil {
						return err
					}
				}
			}
			if theirs != nil {
				time.Sleep(settlePause)
				_, lat, err := timeRuns(theirs, *runs, w)
				if err != nil {
					return fmt.Errorf("onnxruntime: %w", err)
				}
				theirLat = append(theirLat, lat...)
			}
		}
		rep.Result = summariseMS(ourLat)
		rep.PeakRSSBytes = rssBeforeORT
		if theirs != nil {
			o := summariseMS(theirLat)
			rep.ORT = &o
			rep.Ratio = rep.MedianMS / o.MedianMS
		}
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		fmt.Fprintf(e.stdout, "%s: batch %d, %d threads, %d rounds x %d runs after %d warm-up, %s/%s\n\n",
			path, *batch, n, *rounds, *runs, *warmup, rep.GOOS, rep.GOARCH)
		t := &table{right: []bool{false, true, true, true, true}}
		t.add("engine", "median", "p90", "min", "throughput/s")
		t.add("edgedl", ms(rep.MedianMS), ms(rep.P90MS), ms(rep.MinMS), fmt.Sprintf("%.1f", rep.Throughput*float64(*batch)))
		if rep.ORT != nil {
			o := rep.ORT
			t.add("onnxruntime", ms(o.MedianMS), ms(o.P90MS), ms(o.MinMS), fmt.Sprintf("%.1f", o.Throughput*float64(*batch)))
		}
		t.write(e.stdout, "")
		if rep.ORT != nil {
			fmt.Fprintf(e.stdout, "\nratio edgedl/onnxruntime (median): %.2f\n", rep.Ratio)
		}
		fmt.Fprintf(e.stdout, "peak RSS (edgedl, before ONNX Runtime is loaded): %s\n", humanBytes(rep.PeakRSSBytes))
		return nil
	}
}

func ms(v float64) string { return fmt.Sprintf("%.3f ms", v) }

// timeRuns times runs calls after warmup untimed ones, returning the
// latencies in milliseconds.
func timeRuns(r bench.Runner, runs, warmup int) (bench.Result, []float64, error) {
	for i := 0; i < warmup; i++ {
		if err := r(); err != nil {
			return bench.Result{}, nil, err
		}
	}
	lat := make([]float64, 0, runs)
	for i := 0; i < runs; i++ {
		t0 := nowNano()
		if err := r(); err != nil {
			return bench.Result{}, nil, err
		}
		lat = append(lat, float64(nowNano()-t0)/1e6)
	}
	return summariseMS(lat), lat, nil
}

func summariseMS(lat []float64) bench.Result {
	s := append([]float64(nil), lat...)
	sort.Float64s(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	mean := sum / float64(len(s))
	return bench.Result{Runs: len(s), MedianMS: s[len(s)/2], P90MS: s[len(s)*9/10], MinMS: s[0], MeanMS: mean, Throughput: 1000 / mean}
}

// settlePause is the pause before each engine's round in an alternating
// comparison (see cmdBench).
const settlePause = 50 * time.Millisecond
