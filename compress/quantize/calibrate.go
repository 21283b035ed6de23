package quantize

import (
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// Method chooses how a tensor's quantisation range is derived from the
// values seen during calibration.
type Method int

// Calibration methods.
const (
	// MinMax takes the smallest and largest value seen.
	MinMax Method = iota
	// Percentile clips (100-Options.Percentile)/2 percent of the values at
	// each end of the histogram.
	Percentile
	// Entropy picks the clipping threshold on the histogram of |x| whose
	// quantised distribution is closest (Kullback-Leibler divergence) to
	// the original, as TensorRT's entropy calibrator does.
	Entropy
	// MSE picks the range, among shrunken min-max ranges, with the least
	// expected squared quantisation error (rounding plus clipping).
	MSE
)

var methodNames = []string{"minmax", "percentile", "entropy", "mse"}

func (m Method) String() string {
	if m >= 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod maps "minmax", "percentile", "entropy" (or "kl") and "mse" to
// a Method.
func ParseMethod(s string) (Method, error) {
	s = strings.ToLower(s)
	if s == "kl" {
		return Entropy, nil
	}
	for i, n := range methodNames {
		if n == s {
			return Method(i), nil
		}
	}
	return 0, fmt.Errorf("quantize: unknown calibration method %q (minmax, percentile, entropy, mse)", s)
}

// Options configure static quantisation.
type Options struct {
	// Method is the calibration method (default MinMax).
	Method Method
	// Percentile is kept by the Percentile method (default 99.99).
	Percentile float64
	// Bins is the histogram size of the Percentile, Entropy and MSE
	// methods (default 2048, at least 256).
	Bins int
	// Activations is the type of quantised activations: tensor.Int8
	// (default) or tensor.Uint8; both are asymmetric (with a zero point).
	Activations tensor.DType
	// PerTensorWeights uses one weight scale per layer instead of one per
	// output channel.
	PerTensorWeights bool
	// FloatLayers names nodes that stay in float.
	FloatLayers []string
	// KeepFloat > 0 makes Static run Sensitivity and keep that many of
	// the most sensitive weight layers in float (mixed precision).
	KeepFloat int
	// SensitivityData is the set Sensitivity is measured on by Static
	// (default: the calibration data). Labelled data ranks layers by
	// accuracy drop, then output error; unlabelled data by output error.
	SensitivityData []compress.Batch
	// Threads for the calibration runs (0: one per CPU).
	Threads int
	// Logger receives warnings (operators kept in float); nil means
	// slog.Default().
	Logger *slog.Logger
}

func (o *Options) fill() error {
	if o.Percentile == 0 {
		o.Percentile = 99.99
	}
	if o.Bins == 0 {
		o.Bins = 2048
	}
	if o.Activations == tensor.Undefined {
		o.Activations = tensor.Int8
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.Method < MinMax || o.Method > MSE:
		return fmt.Errorf("quantize: unknown calibration method %v", o.Method)
	case o.Percentile <= 50 || o.Percentile > 100 || math.IsNaN(o.Percentile):
		return fmt.Errorf("quantize: percentile %v is out of range (50, 100]", o.Percentile)
	case o.Bins < 256 || o.Bins > 1<<20:
		return fmt.Errorf("quantize: %d histogram bins is out of range [256, 2^20]", o.Bins)
	case o.Activations != tensor.Int8 && o.Activations != tensor.Uint8:
		return fmt.Errorf("quantize: activations must be int8 or uint8, not %v", o.Activations)
	case o.KeepFloat < 0:
		return fmt.Errorf("quantize: KeepFloat %d is negative", o.KeepFloat)
	}
	return nil
}

// Range is a calibrated real-valued range of one tensor.
type Range struct{ Min, Max float32 }

// Calibration is a model prepared for quantisation (constants folded into
// initializers, BatchNormalization folded into Conv, nodes named) with the
// calibrated range of each of its float activations. It builds QDQ models
// with any subset of layers kept in float.
type Calibration struct {
	model  *graph.Model
	ranges map[string]Range
	opts   Options
}

// stat accumulates what one tensor's calibration needs.
type stat struct {
	min, max float32
	seen     bool
	hist     []float64
	lo, w    float64 // histogram origin and bin width
}

func (s *stat) addMinMax(v []float32) {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		if !s.seen {
			s.min, s.max, s.seen = x, x, true
		}
		s.min = min(s.min, x)
		s.max = max(s.max, x)
	}
}

// addHist adds values to the histogram: of x over [min, max], or of |x|
// over [0, max|x|] when abs is set.
func (s *stat) addHist(v []float32, abs bool) {
	if s.w <= 0 {
		return
	}
	inv := 1 / s.w
	n := len(s.hist)
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if abs {
			f = math.Abs(f)
		}
		i := int((f - s.lo) * inv)
		if i >= n {
			i = n - 1
		} else if i < 0 {
			i = 0
		}
		s.hist[i]++
	}
}

// checkModelOptions fills in opts's defaults and checks that m can be
// quantized: a model of opset 10 or later (QuantizeLinear); below 13 the
// weight scales become per-tensor (no per-channel DequantizeLinear).
func checkModelOptions(m *graph.Model, opts *Options) error {
	if err := opts.fill(); err != nil {
		return err
	}
	if m == nil || m.Graph == nil {
		return fmt.Errorf("quantize: nil model")
	}
	if m.Opset() < 10 {
		return fmt.Errorf("quantize: the model's opset %d has no QuantizeLinear (needs 10 or later)", m.Opset())
	}
	if m.Opset() < 13 && !opts.PerTensorWeights {
		opts.Logger.Warn("quantize: opset below 13 has no per-channel DequantizeLinear; using per-tensor weight scales", "opset", m.Opset())
		opts.PerTensorWeights = true
	}
	return nil
}

// Calibrate runs m on data (batches of its inputs) and records the range
// of every float activation by opts.Method. Data must not be empty and
// must match the model's inputs.
func Calibrate(m *graph.Model, data []compress.Batch, opts Options) (*Calibration, error) {
	if err := checkModelOptions(m, &opts); err != nil {
		return nil, err
	}
	pm, err := gx.Prepare(m, true)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := compress.CheckBatches(pm, data); err != nil {
		return nil, fmt.Errorf("quantize: calibration data: %w", err)
	}
	s, err := runtime.Compile(pm, runtime.Options{Threads: opts.Threads, NoOptimize: true})
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	defer s.Close()
	stats := map[string]*stat{}
	get := func(name string) *stat {
		st := stats[name]
		if st == nil {
			st = &stat{}
			stats[name] = st
		}
		return st
	}
	pass := func(visit func(name string, t *tensor.Tensor)) error {
		for bi, b := range data {
			for i, v := range pm.Graph.Inputs {
				if b.Inputs[i].DType == tensor.Float32 {
					visit(v.Name, b.Inputs[i])
				}
			}
			_, err := s.RunOrdered(b.Inputs, func(_ int, n *graph.Node, _, out []*tensor.Tensor, _ time.Duration) {
				for i, t := range out {
					if t != nil && t.DType == tensor.Float32 && i < len(n.Outputs) && n.Outputs[i] != "" {
						visit(n.Outputs[i], t)
					}
				}
			})
			if err != nil {
				return fmt.Errorf("quantize: calibration batch %d: %w", bi, err)
			}
		}
		return nil
	}
	if err := pass(func(name string, t *tensor.Tensor) { get(name).addMinMax(t.F32()) }); err != nil {
		return nil, err
	}
	abs := opts.Method == Entropy
	if opts.Method != MinMax {
		for _, st := range stats {
			if !st.seen {
				continue
			}
			st.hist = make([]float64, opts.Bins)
			if abs {
				st.lo, st.w = 0, float64(max(-st.min, st.max))/float64(opts.Bins)
			} else {
				st.lo, st.w = float64(st.min), (float64(st.max)-float64(st.min))/float64(opts.Bins)
			}
		}
		if err := pass(func(name string, t *tensor.Tensor) { stats[name].addHist(t.F32(), abs) }); err != nil {
			return nil, err
		}
	}
	c := &Calibration{model: pm, ranges: map[string]Range{}, opts: opts}
	for name, st := range stats {
		if !st.seen {
			continue
		}
		c.ranges[name] = rangeOf(st, opts)
	}
	return c, nil
}

// Ranges returns the calibrated range of each float activation, by value
// name (of the prepared model, see Model).
func (c *Calibration) Ranges() map[string]Range {
	out := make(map[string]Range, len(c.ranges))
	for k, v := range c.ranges {
		out[k] = v
	}
	return out
}

// Model is the prepared float model the calibration ran on (BatchNorm
// folded, nodes named). Treat it as read-only.
func (c *Calibration) Model() *graph.Model { return c.model }

// rangeOf turns the statistics into a range by the configured method.
func rangeOf(st *stat, o Options) Range {
	r := Range{st.min, st.max}
	if o.Method == MinMax || st.w <= 0 {
		return r
	}
	h := st.hist
	var total float64
	for _, c := range h {
		total += c
	}
	if total == 0 {
		return r
	}
	switch o.Method {
	case Percentile:
		cut := (100 - o.Percentile) / 200 * total
		var acc float64
		lo, hi := 0, len(h)-1
		for i, c := range h {
			acc += c
			if acc > cut {
				lo = i
				break
			}
		}
		acc = 0
		for i := len(h) - 1; i >= 0; i-- {
			acc += h[i]
			if acc > cut {
				hi = i
				break
			}
		}
		r = Range{float32(st.lo + float64(lo)*st.w), float32(st.lo + float64(hi+1)*st.w)}
	case Entropy:
		nq := 128
		if st.min >= 0 || st.max <= 0 {
			nq = 256 // one-sided: all levels fall on one side
		}
		t := float32(entropyThreshold(h, nq) * st.w)
		r = Range{max(st.min, -t), min(st.max, t)}
	case MSE:
		r = mseRange(st, o.Activations)
	}
	r.Min = max(r.Min, st.min)
	r.Max = min(r.Max, st.max)
	return r
}

// entropyThreshold returns the number of leading bins of the |x|
// histogram to keep (the clipping threshold in bins), minimising
// KL(P||Q) where P is the kept histogram with the clipped tail added to
// its last bin and Q is that histogram quantised to nq levels and expanded
// back over the non-empty bins (TensorRT's calibrator, with MXNet's
// smoothing of empty bins).
func entropyThreshold(h []float64, nq int) float64 {
	n := len(h)
	if n <= nq {
		return float64(n)
	}
	suffix := make([]float64, n+1)
	for i := n - 1; i >= 0; i-- {
		suffix[i] = suffix[i+1] + h[i]
	}
	best, bestI := math.Inf(1), n
	p := make([]float64, n)
	q := make([]float64, n)
	for i := nq; i <= n; i++ {
		copy(p[:i], h[:i])
		p[i-1] += suffix[i]
		merged := i / nq
		for j := 0; j < nq; j++ {
			start, stop := j*merged, (j+1)*merged
			if j == nq-1 {
				stop = i
			}
			var sum float64
			nz := 0
			for k := start; k < stop; k++ {
				sum += h[k]
				if p[k] != 0 {
					nz++
				}
			}
			for k := start; k < stop; k++ {
				q[k] = 0
				if p[k] != 0 && nz > 0 {
					q[k] = sum / float64(nz)
				}
			}
		}
		d := klSmoothed(p[:i], q[:i])
		if d < best {
			best, bestI = d, i
		}
	}
	return float64(bestI)
}

// klSmoothed is KL(P||Q) of two unnormalised histograms after moving a
// little mass (1e-4 per bin) into empty bins, as MXNet's calibrator does.
func klSmoothed(p, q []float64) float64 {
	smooth := func(x []float64) (nz int, eps1 float64, sum float64, ok bool) {
		const eps = 1e-4
		zeros := 0
		for _, v := range x {
			if v == 0 {
				zeros++
			}
			sum += v
		}
		nz = len(x) - zeros
		if nz == 0 {
			return 0, 0, 0, false
		}
		eps1 = eps * float64(zeros) / float64(nz)
		sum += eps*float64(zeros) - eps1*float64(nz)
		return nz, eps1, sum, true
	}
	_, pe, ps, ok1 := smooth(p)
	_, qe, qs, ok2 := smooth(q)
	if !ok1 || !ok2 {
		return math.Inf(1)
	}
	var d float64
	for k := range p {
		pv, qv := p[k], q[k]
		if pv == 0 {
			pv = 1e-4
		} else {
			pv -= pe
		}
		if qv == 0 {
			qv = 1e-4
		} else {
			qv -= qe
		}
		if pv <= 0 || qv <= 0 {
			return math.Inf(1)
		}
		pv /= ps
		qv /= qs
		d += pv * math.Log(pv/qv)
	}
	return d
}

// mseRange searches ranges [min·a, max·a] for a in (0, 1] and returns the
// one with the least expected squared error over the histogram: clipping
// error for values outside, scale²/12 rounding noise for values inside.
func mseRange(st *stat, dt tensor.DType) Range {
	lo, hi := min(st.min, 0), max(st.max, 0)
	best, bestR := math.Inf(1), Range{st.min, st.max}
	for k := 1; k <= 200; k++ {
		a := float32(k) / 200
		r := Range{lo * a, hi * a}
		scale, zp := actParams(r, dt)
		qmin, qmax := qLimits(dt)
		dlo := (float64(qmin) - float64(zp)) * float64(scale)
		dhi := (float64(qmax) - float64(zp)) * float64(scale)
		noise := float64(scale) * float64(scale) / 12
		var e float64
		for i, c := range st.hist {
			if c == 0 {
				continue
			}
			x := st.lo + (float64(i)+0.5)*st.w
			switch {
			case x < dlo:
				e += c * (x - dlo) * (x - dlo)
			case x > dhi:
				e += c * (x - dhi) * (x - dhi)
			default:
				e += c * noise
			}
		}
		if e < best {
			best, bestR = e, r
		}
	}
	return bestR
}

// qLimits is the integer range of an activation type.
func qLimits(dt tensor.DType) (int32, int32) {
	if dt == tensor.Uint8 {
		return 0, 255
	}
	return -128, 127
}

// actParams computes an asymmetric scale and zero point for a range, as
// ONNX Runtime's quantizer does: the range is widened to include 0, the
// scale is (rmax-rmin)/(qmax-qmin) computed in float64, and the zero point
// round(qmin - rmin/scale) (ties to even).
func actParams(r Range, dt tensor.DType) (float32, int32) {
	qmin, qmax := qLimits(dt)
	rmin, rmax := math.Min(float64(r.Min), 0), math.Max(float64(r.Max), 0)
	scale := (rmax - rmin) / float64(qmax-qmin)
	if scale < 0x1p-126 { // below float32's smallest normal, as ONNX Runtime checks
		return 1, 0
	}
	zp := math.RoundToEven(float64(qmin) - rmin/scale)
	zp = math.Max(float64(qmin), math.Min(float64(qmax), zp))
	return float32(scale), int32(zp)
}

// Layers lists the names of the weight layers (Conv, Gemm, MatMul with a
// constant weight) that can be quantised, in graph order.
func (c *Calibration) Layers() []string {
	var out []string
	for _, l := range gx.WeightLayers(c.model.Graph) {
		if c.quantizable(l.Node) {
			out = append(out, l.Node.Name)
		}
	}
	return out
}

// quantizable reports whether a weight layer has calibrated float input
// and output ranges.
func (c *Calibration) quantizable(n *graph.Node) bool {
	_, in := c.ranges[n.Inputs[0]]
	_, out := c.ranges[n.Outputs[0]]
	return in && out
}

// sortedKeys returns map keys in order (for deterministic logs).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
