package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/edgedl/edgedl/conformance"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// classScore is one of the top classes of a classifier row.
type classScore struct {
	Class int    `json:"class"`
	Score jfloat `json:"score"`
	Prob  jfloat `json:"prob"`
}

type outputReport struct {
	Name  string         `json:"name"`
	DType string         `json:"dtype"`
	Shape []int          `json:"shape"`
	File  string         `json:"file,omitempty"`
	Min   *jfloat        `json:"min,omitempty"`
	Max   *jfloat        `json:"max,omitempty"`
	Mean  *jfloat        `json:"mean,omitempty"`
	Top   [][]classScore `json:"top,omitempty"` // per batch row
	RelL2 *jfloat        `json:"rel_l2,omitempty"`
}

type runReport struct {
	Model     string         `json:"model"`
	Threads   int            `json:"threads"`
	LatencyMS float64        `json:"latency_ms"`
	Outputs   []outputReport `json:"outputs"`
}

func setupRun(e *env, fs *flag.FlagSet) func([]string) error {
	var in inputFlags
	in.register(fs)
	outDir := fs.String("output-dir", "", "write the outputs to `DIR`/output_0.pb ... (created if needed)")
	threads := fs.Int("threads", 0, "intra-op `threads` (default: one per CPU)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	expect := fs.String("expect-dir", "", "compare the outputs with `DIR`/output_0.pb ... and print the relative L2 error")
	tol := fs.Float64("tolerance", 0, "with --expect-dir, fail if a relative L2 error exceeds `X` (0: report only)")
	topK := fs.Int("top", 5, "number of top classes shown for [N,C] float outputs (0: none)")
	noOpt := fs.Bool("no-optimize", false, "compile without graph rewrites (fusion, BatchNorm folding)")
	return func(args []string) error {
		model := args[0]
		m, err := onnx.Load(model)
		if err != nil {
			return err
		}
		s, err := runtime.Compile(m, runtime.Options{Threads: *threads, NoOptimize: *noOpt, Logger: e.log})
		if err != nil {
			return fmt.Errorf("%s: %w", model, err)
		}
		defer s.Close()
		inputs, err := in.load(e, s.Inputs())
		if err != nil {
			return err
		}
		t0 := time.Now()
		outs, err := s.RunOrdered(inputs, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", model, err)
		}
		lat := time.Since(t0)
		e.log.Info("ran", "model", model, "latency", lat)
		rep := runReport{Model: model, Threads: s.Threads(), LatencyMS: float64(lat.Microseconds()) / 1e3}
		if *outDir != "" {
			if err := os.MkdirAll(*outDir, 0o755); err != nil {
				return err
			}
		}
		var tolErr error
		for i, v := range s.Outputs() {
			t := outs[i]
			or := outputReport{Name: v.Name, DType: t.DType.String(), Shape: t.Shape}
			if *outDir != "" {
				or.File = filepath.Join(*outDir, fmt.Sprintf("output_%d.pb", i))
				if err := onnx.WriteTensor(or.File, v.Name, t); err != nil {
					return err
				}
			}
			if t.DType != tensor.String && t.Len() > 0 {
				mn, mx, mean := valueStats(t)
				or.Min, or.Max, or.Mean = (*jfloat)(&mn), (*jfloat)(&mx), (*jfloat)(&mean)
			}
			if *topK > 0 {
				or.Top = topClasses(t, *topK)
			}
			if *expect != "" {
				p := filepath.Join(*expect, fmt.Sprintf("output_%d.pb", i))
				want, err := onnx.ReadTensor(p)
				if err != nil {
					return err
				}
				if want.DType != t.DType {
					return fmt.Errorf("%s: output %q is %v, the file holds %v", p, v.Name, t.DType, want.DType)
				}
				r, err := conformance.RelL2(t, want)
				if err != nil {
					return fmt.Errorf("%s: output %q: %w", p, v.Name, err)
				}
				or.RelL2 = (*jfloat)(&r)
				if *tol > 0 && !(r <= *tol) && tolErr == nil {
					tolErr = fmt.Errorf("output %q: relative L2 error %.3g exceeds --tolerance %g", v.Name, r, *tol)
				}
			}
			rep.Outputs = append(rep.Outputs, or)
		}
		if *asJSON {
			if err := writeJSON(e.stdout, rep); err != nil {
				return err
			}
		} else {
			printRun(e, &rep)
		}
		return tolErr
	}
}

func printRun(e *env, rep *runReport) {
	w := e.stdout
	fmt.Fprintf(w, "%s: ran in %.3f ms (%d threads)\n", rep.Model, rep.LatencyMS, rep.Threads)
	for i, o := range rep.Outputs {
		fmt.Fprintf(w, "output %d %q: %s %s", i, o.Name, o.DType, tensor.ShapeString(o.Shape))
		if o.Min != nil {
			fmt.Fprintf(w, "  min %.4g max %.4g mean %.4g", *o.Min, *o.Max, *o.Mean)
		}
		if o.File != "" {
			fmt.Fprintf(w, "  -> %s", o.File)
		}
		fmt.Fprintln(w)
		if o.RelL2 != nil {
			fmt.Fprintf(w, "  relative L2 error vs expected: %.3g\n", *o.RelL2)
		}
		const maxRows = 16
		for r, row := range o.Top {
			if r == maxRows {
				fmt.Fprintf(w, "  ... %d more rows\n", len(o.Top)-maxRows)
				break
			}
			fmt.Fprintf(w, "  row %d top-%d:", r, len(row))
			for j, c := range row {
				sep := ","
				if j == 0 {
					sep = ""
				}
				fmt.Fprintf(w, "%s %d (%.4g, p=%.3f)", sep, c.Class, c.Score, c.Prob)
			}
			fmt.Fprintln(w)
		}
	}
}

func valueStats(t *tensor.Tensor) (mn, mx, mean float64) {
	mn, mx = math.Inf(1), math.Inf(-1)
	var sum float64
	for i := 0; i < t.Len(); i++ {
		v := t.Float64At(i)
		mn, mx = math.Min(mn, v), math.Max(mx, v)
		sum += v
	}
	return mn, mx, sum / float64(t.Len())
}

// topClasses returns the k best classes of each row of an [N,C] float
// output with their softmax probabilities (or the scores themselves when a
// row already is a probability distribution).
func topClasses(t *tensor.Tensor, k int) [][]classScore {
	if !t.DType.IsFloat() || len(t.Shape) != 2 || t.Shape[1] < 2 {
		return nil
	}
	n, c := t.Shape[0], t.Shape[1]
	if k > c {
		k = c
	}
	out := make([][]classScore, n)
	scores := make([]float64, c)
	for r := 0; r < n; r++ {
		maxv, isProb, sum := math.Inf(-1), true, 0.0
		for j := range scores {
			v := t.Float64At(r*c + j)
			scores[j] = v
			maxv = math.Max(maxv, v)
			isProb = isProb && v >= 0 && v <= 1
			sum += v
		}
		isProb = isProb && math.Abs(sum-1) < 1e-3
		var z float64
		for _, v := range scores {
			z += math.Exp(v - maxv)
		}
		idx := make([]int, c)
		for j := range idx {
			idx[j] = j
		}
		sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
		row := make([]classScore, k)
		for j := range row {
			v := scores[idx[j]]
			p := v
			if !isProb {
				p = math.Exp(v-maxv) / z
			}
			row[j] = classScore{Class: idx[j], Score: jfloat(v), Prob: jfloat(p)}
		}
		out[r] = row
	}
	return out
}
