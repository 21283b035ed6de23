// Package conformance runs ONNX backend test folders (model.onnx plus
// test_data_set_N/{input,output}_K.pb) against edgedl's runtime and compares
// outputs with the ONNX runner's tolerances.
package conformance

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// Status of one test.
type Status int

// Test outcomes.
const (
	Pass Status = iota
	Fail
	Skip
)

func (s Status) String() string { return [...]string{"pass", "FAIL", "skip"}[s] }

// Result of one test folder.
type Result struct {
	Name     string
	Dir      string
	Status   Status
	Reason   string
	Duration time.Duration
}

// Options control a run.
type Options struct {
	RTol, ATol float64       // defaults 1e-3, 1e-7 (the ONNX backend runner's)
	Timeout    time.Duration // per test; default 60 s
	Threads    int
}

func (o *Options) defaults() {
	if o.RTol == 0 {
		o.RTol = 1e-3
	}
	if o.ATol == 0 {
		o.ATol = 1e-7
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Threads == 0 {
		o.Threads = 1
	}
}

// Find returns every folder under the roots that holds a model.onnx, sorted.
func Find(roots ...string) ([]string, error) {
	var dirs []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() == "model.onnx" {
				dirs = append(dirs, filepath.Dir(path))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// RunDir runs one test folder, never panicking and giving up after the timeout.
func RunDir(dir string, opts Options) Result {
	opts.defaults()
	res := Result{Name: filepath.Base(dir), Dir: dir}
	start := time.Now()
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- Result{Status: Fail, Reason: fmt.Sprintf("panic: %v", r)}
			}
		}()
		done <- runDir(dir, opts)
	}()
	select {
	case r := <-done:
		res.Status, res.Reason = r.Status, r.Reason
	case <-time.After(opts.Timeout):
		res.Status, res.Reason = Fail, fmt.Sprintf("timed out after %v", opts.Timeout)
	}
	res.Duration = time.Since(start)
	return res
}

func classify(err error) Result {
	if kernels.IsUnsupported(err) {
		return Result{Status: Skip, Reason: err.Error()}
	}
	return Result{Status: Fail, Reason: err.Error()}
}

func runDir(dir string, opts Options) Result {
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return classify(err)
	}
	for _, v := range append(append([]graph.ValueInfo{}, m.Graph.Inputs...), m.Graph.Outputs...) {
		if v.Kind != graph.KindTensor {
			return Result{Status: Skip, Reason: fmt.Sprintf("unsupported: value %q is a sequence/optional/map, not a tensor", v.Name)}
		}
		if v.DType != tensor.Undefined && !v.DType.Supported() {
			return Result{Status: Skip, Reason: fmt.Sprintf("unsupported: value %q has dtype %v", v.Name, v.DType)}
		}
	}
	sess, err := runtime.Compile(m, runtime.Options{Threads: opts.Threads})
	if err != nil {
		return classify(err)
	}
	defer sess.Close()
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return Result{Status: Fail, Reason: "no test_data_set_* folders"}
	}
	for _, set := range sets {
		inputs, err := readSeq(set, "input", len(m.Graph.Inputs))
		if err != nil {
			return classify(err)
		}
		want, err := readSeq(set, "output", len(m.Graph.Outputs))
		if err != nil {
			return classify(err)
		}
		got, err := sess.RunOrdered(inputs, nil)
		if err != nil {
			return classify(err)
		}
		for i := range want {
			if err := Compare(got[i], want[i], opts.RTol, opts.ATol); err != nil {
				return Result{Status: Fail, Reason: fmt.Sprintf("%s output %d (%s): %v", filepath.Base(set), i, m.Graph.Outputs[i].Name, err)}
			}
		}
	}
	return Result{Status: Pass}
}

func readSeq(dir, prefix string, n int) ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, n)
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%s_%d.pb", prefix, i))
		t, err := onnx.ReadTensor(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("missing %s", p)
			}
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// Compare checks got against want with numpy's assert_allclose rule
// |got-want| <= atol + rtol*|want| (NaNs must coincide); integers, bools
// and strings must be equal.
func Compare(got, want *tensor.Tensor, rtol, atol float64) error {
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !tensor.EqualShapes(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if got.DType == tensor.String {
		g, w := got.Data.([]string), want.Data.([]string)
		for i := range w {
			if g[i] != w[i] {
				return fmt.Errorf("element %d: %q, want %q", i, g[i], w[i])
			}
		}
		return nil
	}
	exact := !got.DType.IsFloat()
	bad, first := 0, -1
	var worst float64
	for i := 0; i < want.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		if exact {
			if got.Int64At(i) != want.Int64At(i) || g != w {
				bad++
				if first < 0 {
					first = i
				}
			}
			continue
		}
		if math.IsNaN(w) || math.IsNaN(g) {
			if math.IsNaN(w) != math.IsNaN(g) {
				bad++
				if first < 0 {
					first = i
				}
			}
			continue
		}
		if math.IsInf(w, 0) || math.IsInf(g, 0) {
			if g != w {
				bad++
				if first < 0 {
					first = i
				}
			}
			continue
		}
		d := math.Abs(g - w)
		if d > atol+rtol*math.Abs(w) {
			bad++
			if first < 0 {
				first = i
			}
			if d > worst {
				worst = d
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ; first at %d: got %g, want %g (max abs diff %g)",
			bad, want.Len(), first, got.Float64At(first), want.Float64At(first), worst)
	}
	return nil
}

// RelL2 is ||got-want||_2 / ||want||_2 over float values.
func RelL2(got, want *tensor.Tensor) (float64, error) {
	if !tensor.EqualShapes(got.Shape, want.Shape) {
		return math.Inf(1), fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	var num, den float64
	for i := 0; i < want.Len(); i++ {
		d := got.Float64At(i) - want.Float64At(i)
		num += d * d
		w := want.Float64At(i)
		den += w * w
	}
	if den == 0 {
		return math.Sqrt(num), nil
	}
	return math.Sqrt(num / den), nil
}

// Summary counts results.
func Summary(rs []Result) (pass, fail, skip int) {
	for _, r := range rs {
		switch r.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		}
	}
	return
}

// FirstLine trims an error reason to one line.
func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
