package compress

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgedl/edgedl/bench"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// FileSize is the size of a file on disk in bytes.
func FileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("compress: %w", err)
	}
	return st.Size(), nil
}

// ModelSize is the size of m encoded as an ONNX file, in bytes.
func ModelSize(m *graph.Model) (int64, error) {
	b, err := onnx.Encode(m)
	if err != nil {
		return 0, fmt.Errorf("compress: %w", err)
	}
	return int64(len(b)), nil
}

// Argmax returns the index of the largest value of each row of a
// [rows, classes] float tensor.
func Argmax(t *tensor.Tensor) ([]int, error) {
	if t == nil || t.Rank() != 2 {
		return nil, fmt.Errorf("compress: argmax needs a [rows, classes] output, got %v", shapeOf(t))
	}
	n, c := t.Shape[0], t.Shape[1]
	v := t.Float32Values()
	out := make([]int, n)
	for i := 0; i < n; i++ {
		row := v[i*c : (i+1)*c]
		for j := range row {
			if row[j] > row[out[i]] {
				out[i] = j
			}
		}
	}
	return out, nil
}

func shapeOf(t *tensor.Tensor) string {
	if t == nil {
		return "nil"
	}
	return tensor.ShapeString(t.Shape)
}

// Accuracy is the fraction of rows whose largest entry of the session's
// first output is at the row's label, over all labelled batches.
func Accuracy(s *runtime.Session, data []Batch) (float64, error) {
	if len(data) == 0 {
		return 0, ErrNoData
	}
	right, total := 0, 0
	for bi, b := range data {
		if b.Labels == nil {
			return 0, fmt.Errorf("compress: accuracy: batch %d has no labels", bi)
		}
		out, err := s.RunOrdered(b.Inputs, nil)
		if err != nil {
			return 0, fmt.Errorf("compress: accuracy: batch %d: %w", bi, err)
		}
		pred, err := Argmax(out[0])
		if err != nil {
			return 0, err
		}
		if len(pred) != len(b.Labels) {
			return 0, fmt.Errorf("compress: accuracy: batch %d: %d predictions for %d labels", bi, len(pred), len(b.Labels))
		}
		for i, p := range pred {
			if p == b.Labels[i] {
				right++
			}
		}
		total += len(pred)
	}
	return float64(right) / float64(total), nil
}

// RelL2 is ||got-want|| / ||want|| over all elements (0 when both are
// zero, +Inf when only want is).
func RelL2(got, want *tensor.Tensor) (float64, error) {
	if got == nil || want == nil || !tensor.EqualShapes(got.Shape, want.Shape) {
		return 0, fmt.Errorf("compress: rel L2 of %s against %s", shapeOf(got), shapeOf(want))
	}
	var d, w float64
	accumL2(&d, &w, got, want)
	return relFrom(d, w), nil
}

func accumL2(d, w *float64, got, want *tensor.Tensor) {
	g, r := got.Float32Values(), want.Float32Values()
	for i := range r {
		e := float64(g[i]) - float64(r[i])
		*d += e * e
		*w += float64(r[i]) * float64(r[i])
	}
}

func relFrom(d, w float64) float64 {
	switch {
	case d == 0:
		return 0
	case w == 0:
		return math.Inf(1)
	}
	return math.Sqrt(d / w)
}

// OutputError is the relative L2 error of cand's first output against
// ref's, over all batches together, and the fraction of rows whose argmax
// differs (for [rows, classes] outputs; 0 otherwise).
func OutputError(ref, cand *runtime.Session, data []Batch) (relL2, disagree float64, err error) {
	if len(data) == 0 {
		return 0, 0, ErrNoData
	}
	var d, w float64
	rows, diff := 0, 0
	for bi, b := range data {
		r, err := ref.RunOrdered(b.Inputs, nil)
		if err != nil {
			return 0, 0, fmt.Errorf("compress: batch %d: reference: %w", bi, err)
		}
		c, err := cand.RunOrdered(b.Inputs, nil)
		if err != nil {
			return 0, 0, fmt.Errorf("compress: batch %d: %w", bi, err)
		}
		if !tensor.EqualShapes(r[0].Shape, c[0].Shape) {
			return 0, 0, fmt.Errorf("compress: batch %d: output shapes differ: %s and %s", bi, shapeOf(r[0]), shapeOf(c[0]))
		}
		accumL2(&d, &w, c[0], r[0])
		if r[0].Rank() == 2 {
			ra, _ := Argmax(r[0])
			ca, _ := Argmax(c[0])
			for i := range ra {
				if ra[i] != ca[i] {
					diff++
				}
			}
			rows += len(ra)
		}
	}
	if rows > 0 {
		disagree = float64(diff) / float64(rows)
	}
	return relFrom(d, w), disagree, nil
}

// Latency times single inferences of s on inputs (runs timed runs after a
// few warm-up runs; runs <= 0 means 50).
func Latency(s *runtime.Session, inputs []*tensor.Tensor, runs int) (bench.Result, error) {
	return bench.Time(func() error {
		_, err := s.RunOrdered(inputs, nil)
		return err
	}, bench.Options{Runs: runs})
}

// LayerError is the error of one value of a compressed model against the
// same value of the float model it came from.
type LayerError struct {
	Node  string // the reference model's node that writes Value
	Op    string
	Value string
	// RelL2 is ||cand-ref|| / ||ref|| over all batches.
	RelL2 float64
}

// dqSuffix is the name suffix of dequantized values in QDQ models (as
// ONNX Runtime's quantizer, and package compress/quantize, write them).
const dqSuffix = "_DequantizeLinear_Output"

// LayerErrors runs ref (the float model) and cand (a compressed copy) on
// the same batches and returns, for every float node output of ref that
// cand also computes with the same shape, the relative L2 error, in ref's
// node order. Both are compiled without graph rewrites so that every value
// is visible: for a QDQ model, cand's value is the dequantized tensor its
// readers see ("X_DequantizeLinear_Output"), which is what the integer
// kernels compute. Values the compressed model does not have (a Conv's
// output before the Relu that quantisation merged into it) or has with
// another shape (pruned channels) are left out.
func LayerErrors(ref, cand *graph.Model, data []Batch, threads int) ([]LayerError, error) {
	if len(data) == 0 {
		return nil, ErrNoData
	}
	if err := CheckBatches(ref, data); err != nil {
		return nil, err
	}
	opts := runtime.Options{Threads: threads, NoOptimize: true}
	rs, err := runtime.Compile(ref, opts)
	if err != nil {
		return nil, fmt.Errorf("compress: reference model: %w", err)
	}
	defer rs.Close()
	cs, err := runtime.Compile(cand, opts)
	if err != nil {
		return nil, fmt.Errorf("compress: compressed model: %w", err)
	}
	defer cs.Close()
	type acc struct {
		d, w float64
		bad  bool
	}
	stats := map[string]*acc{}
	var order []LayerError
	for bi, b := range data {
		refVals := map[string]*tensor.Tensor{}
		_, err := rs.RunOrdered(b.Inputs, func(_ int, n *graph.Node, _, out []*tensor.Tensor, _ time.Duration) {
			for i, t := range out {
				if t == nil || t.DType != tensor.Float32 || i >= len(n.Outputs) {
					continue
				}
				name := n.Outputs[i]
				refVals[name] = t.Clone()
				if bi == 0 {
					order = append(order, LayerError{Node: n.Name, Op: n.OpType, Value: name})
				}
			}
		})
		if err != nil {
			return nil, fmt.Errorf("compress: reference model: batch %d: %w", bi, err)
		}
		// Per batch, prefer the dequantized value over the raw one.
		type pick struct {
			t  *tensor.Tensor
			dq bool
		}
		got := map[string]pick{}
		_, err = cs.RunOrdered(b.Inputs, func(_ int, n *graph.Node, _, out []*tensor.Tensor, _ time.Duration) {
			for i, t := range out {
				if t == nil || t.DType != tensor.Float32 || i >= len(n.Outputs) {
					continue
				}
				name, dq := n.Outputs[i], false
				if base, ok := strings.CutSuffix(name, dqSuffix); ok {
					name, dq = base, true
				}
				if _, ok := refVals[name]; !ok {
					continue
				}
				if p, ok := got[name]; ok && p.dq && !dq {
					continue
				}
				got[name] = pick{t.Clone(), dq}
			}
		})
		if err != nil {
			return nil, fmt.Errorf("compress: compressed model: batch %d: %w", bi, err)
		}
		for name, p := range got {
			r := refVals[name]
			a := stats[name]
			if a == nil {
				a = &acc{}
				stats[name] = a
			}
			if !tensor.EqualShapes(p.t.Shape, r.Shape) {
				a.bad = true
				continue
			}
			accumL2(&a.d, &a.w, p.t, r)
		}
	}
	var out []LayerError
	for _, le := range order {
		a := stats[le.Value]
		if a == nil || a.bad {
			continue
		}
		le.RelL2 = relFrom(a.d, a.w)
		out = append(out, le)
	}
	return out, nil
}

// Report holds the figures of one model variant: what a Pareto plot of
// accuracy against size and latency shows.
type Report struct {
	Name string
	// Bytes is the size on disk (ONNX file or compressed container).
	Bytes int64
	// Accuracy is a fraction in [0, 1]; NaN when not measured.
	Accuracy float64
	// Latency is edgedl's median single-inference latency; 0 when not
	// measured. ORTLatency is ONNX Runtime's, when measured.
	Latency, ORTLatency time.Duration
}

// MeasureOptions configure Measure.
type MeasureOptions struct {
	Threads int
	// LatencyInputs, if set, are timed LatencyRuns times (default 50).
	LatencyInputs []*tensor.Tensor
	LatencyRuns   int
	// Bytes is the size to report; 0 means the size of m encoded as ONNX.
	Bytes int64
}

// Measure compiles m and reports its size, its accuracy on eval (if eval
// is labelled and not empty) and its latency.
func Measure(name string, m *graph.Model, eval []Batch, o MeasureOptions) (Report, error) {
	r := Report{Name: name, Bytes: o.Bytes, Accuracy: math.NaN()}
	if r.Bytes == 0 {
		var err error
		if r.Bytes, err = ModelSize(m); err != nil {
			return r, err
		}
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: o.Threads})
	if err != nil {
		return r, fmt.Errorf("compress: %s: %w", name, err)
	}
	defer s.Close()
	if len(eval) > 0 && eval[0].Labels != nil {
		if r.Accuracy, err = Accuracy(s, eval); err != nil {
			return r, fmt.Errorf("compress: %s: %w", name, err)
		}
	}
	if o.LatencyInputs != nil {
		res, err := Latency(s, o.LatencyInputs, o.LatencyRuns)
		if err != nil {
			return r, fmt.Errorf("compress: %s: %w", name, err)
		}
		r.Latency = time.Duration(res.MedianMS * float64(time.Millisecond))
	}
	return r, nil
}

// WriteReports prints reports as a table: name, size, ratio to the first
// report's size, accuracy, and latencies.
func WriteReports(w io.Writer, rs []Report) error {
	if len(rs) == 0 {
		return errors.New("compress: no reports")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tsize\tratio\taccuracy\tlatency\tORT latency")
	for _, r := range rs {
		acc, lat, ort := "-", "-", "-"
		if !math.IsNaN(r.Accuracy) {
			acc = fmt.Sprintf("%.2f%%", 100*r.Accuracy)
		}
		if r.Latency > 0 {
			lat = r.Latency.Round(time.Microsecond).String()
		}
		if r.ORTLatency > 0 {
			ort = r.ORTLatency.Round(time.Microsecond).String()
		}
		ratio := "-"
		if r.Bytes > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(rs[0].Bytes)/float64(r.Bytes))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, HumanBytes(r.Bytes), ratio, acc, lat, ort)
	}
	return tw.Flush()
}

// HumanBytes formats a byte count as B, KiB or MiB.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
