package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"sort"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// TensorInfo describes one value as it was at run time. In JSON the dtype
// is its name ("float32") and omitted optional arguments have an empty name
// and a null shape.
type TensorInfo struct {
	Name  string
	DType tensor.DType
	Shape []int
	// Bytes is the size of the element data (strings count their length).
	Bytes int64
	// Const marks initializers and values folded at compile time: they live
	// with the weights and never travel between tiers.
	Const bool
}

type tensorInfoJSON struct {
	Name  string `json:"name"`
	DType string `json:"dtype,omitempty"`
	Shape []int  `json:"shape"`
	Bytes int64  `json:"bytes"`
	Const bool   `json:"const,omitempty"`
}

// MarshalJSON writes the dtype by name.
func (t TensorInfo) MarshalJSON() ([]byte, error) {
	j := tensorInfoJSON{Name: t.Name, Shape: t.Shape, Bytes: t.Bytes, Const: t.Const}
	if t.DType != tensor.Undefined {
		j.DType = t.DType.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *TensorInfo) UnmarshalJSON(b []byte) error {
	var j tensorInfoJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*t = TensorInfo{Name: j.Name, Shape: j.Shape, Bytes: j.Bytes, Const: j.Const}
	if j.DType != "" {
		d, err := tensor.ParseDType(j.DType)
		if err != nil {
			return err
		}
		t.DType = d
	}
	return nil
}

func infoOf(name string, t *tensor.Tensor, isConst bool) TensorInfo {
	ti := TensorInfo{Name: name, Const: isConst}
	if t != nil {
		ti.DType = t.DType
		ti.Shape = append([]int{}, t.Shape...)
		ti.Bytes = int64(t.Bytes())
		if t.Data == nil { // a packed constant: only its type is kept
			n, _ := tensor.NumElements(t.Shape)
			ti.Bytes = int64(n * t.DType.Size())
		}
	}
	return ti
}

// NodeInfo is one executed node with the shapes it saw and its FLOPs.
type NodeInfo struct {
	// Index is the node's position in execution order (folded nodes are
	// not executed and have none).
	Index int `json:"index"`
	// Name is the node's name, or its first output's name when it has none
	// (value names are unique in a graph).
	Name    string       `json:"name"`
	Op      string       `json:"op"`
	Domain  string       `json:"domain,omitempty"`
	Inputs  []TensorInfo `json:"inputs"`
	Outputs []TensorInfo `json:"outputs"`
	// FLOPs follows the convention of NodeFLOPs.
	FLOPs int64 `json:"flops"`
	// Node is the graph node itself.
	Node *graph.Node `json:"-"`
}

// OutputBytes is the total size of the node's outputs.
func (n *NodeInfo) OutputBytes() int64 {
	var b int64
	for _, o := range n.Outputs {
		b += o.Bytes
	}
	return b
}

// ShapeInfo is what one traced run tells about a session: the shape of
// every value each executed node read and wrote.
type ShapeInfo struct {
	Inputs  []TensorInfo `json:"inputs"`
	Outputs []TensorInfo `json:"outputs"`
	Nodes   []NodeInfo   `json:"nodes"`
	// Folded is the number of top-level nodes folded into constants at
	// compile time (they do not run).
	Folded int `json:"folded"`
	// Rewritten is the number of top-level nodes the optimizer removed or
	// merged into others (identities, BatchNormalization into Conv,
	// activations into Conv/Gemm).
	Rewritten int `json:"rewritten"`
}

// FLOPs is the sum of the nodes' FLOPs: the cost of one inference.
func (si *ShapeInfo) FLOPs() int64 {
	var f int64
	for i := range si.Nodes {
		f += si.Nodes[i].FLOPs
	}
	return f
}

// OpFLOPs aggregates the executed nodes of one op type.
type OpFLOPs struct {
	Op    string `json:"op"`
	Nodes int    `json:"nodes"`
	FLOPs int64  `json:"flops"`
}

// FLOPsByOp sums FLOPs per op type, largest first (ties by name).
func (si *ShapeInfo) FLOPsByOp() []OpFLOPs {
	idx := map[string]int{}
	var out []OpFLOPs
	for i := range si.Nodes {
		n := &si.Nodes[i]
		op := n.Op
		if d := graph.NormalizeDomain(n.Domain); d != "" {
			op = d + "." + op
		}
		j, ok := idx[op]
		if !ok {
			j = len(out)
			idx[op] = j
			out = append(out, OpFLOPs{Op: op})
		}
		out[j].Nodes++
		out[j].FLOPs += n.FLOPs
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].FLOPs != out[b].FLOPs {
			return out[a].FLOPs > out[b].FLOPs
		}
		return out[a].Op < out[b].Op
	})
	return out
}

// nodeInfo describes top-level step i from the tensors the trace saw.
func (s *Session) nodeInfo(i int, n *graph.Node, in, out []*tensor.Tensor) NodeInfo {
	p := s.plan
	st := &p.steps[i]
	ni := NodeInfo{Index: i, Name: n.Name, Op: n.OpType, Domain: graph.NormalizeDomain(n.Domain), Node: n}
	if ni.Name == "" {
		for _, o := range n.Outputs {
			if o != "" {
				ni.Name = o
				break
			}
		}
	}
	ni.Inputs = make([]TensorInfo, len(st.in))
	for j, id := range st.in {
		if id < 0 || j >= len(in) {
			// Omitted, or a constant the kernel pre-packed at compile time
			// (kernels.PackedInputs): the run passes nil for it.
			if j < len(n.Inputs) && n.Inputs[j] != "" {
				ni.Inputs[j] = infoOf(n.Inputs[j], st.packed[j], true)
			}
			continue
		}
		ni.Inputs[j] = infoOf(p.names[id], in[j], p.consts[id] != nil)
	}
	ni.Outputs = make([]TensorInfo, len(st.out))
	for j, id := range st.out {
		if id < 0 || j >= len(out) {
			continue
		}
		ni.Outputs[j] = infoOf(p.names[id], out[j], false)
	}
	ni.FLOPs = NodeFLOPs(n, shapesOf(ni.Inputs), shapesOf(ni.Outputs))
	return ni
}

func shapesOf(ts []TensorInfo) [][]int {
	s := make([][]int, len(ts))
	for i, t := range ts {
		s[i] = t.Shape
	}
	return s
}

func (s *Session) ioInfo(inputs, outputs []*tensor.Tensor) (ins, outs []TensorInfo) {
	for i, v := range s.plan.g.Inputs {
		ins = append(ins, infoOf(v.Name, inputs[i], false))
	}
	for i, v := range s.plan.g.Outputs {
		outs = append(outs, infoOf(v.Name, outputs[i], false))
	}
	return ins, outs
}

// folded is the number of nodes of the compiled graph that do not run.
func (s *Session) folded() int { return len(s.plan.g.Nodes) - len(s.plan.steps) }

// rewritten is the number of model nodes the optimizer removed or merged.
func (s *Session) rewritten() int {
	return s.modelNodes - len(s.plan.g.Nodes)
}

// InferShapes runs the session once on inputs (in graph order; see
// SyntheticInputs) and records the dtype and shape of every value each
// executed node reads and writes, with the node's FLOPs.
func (s *Session) InferShapes(inputs []*tensor.Tensor) (*ShapeInfo, error) {
	info := &ShapeInfo{Folded: s.folded(), Rewritten: s.rewritten()}
	info.Nodes = make([]NodeInfo, 0, len(s.plan.steps))
	outs, err := s.RunOrdered(inputs, func(i int, n *graph.Node, in, out []*tensor.Tensor, _ time.Duration) {
		info.Nodes = append(info.Nodes, s.nodeInfo(i, n, in, out))
	})
	if err != nil {
		return nil, err
	}
	info.Inputs, info.Outputs = s.ioInfo(inputs, outs)
	return info, nil
}

// SyntheticOptions choose the shapes and values of SyntheticInputs.
type SyntheticOptions struct {
	// Batch is the size given to a symbolic or unknown first dimension
	// (default 1). Other symbolic or unknown dims are 1.
	Batch int
	// Dims gives sizes to symbolic dims by name; it overrides Batch.
	Dims map[string]int
	// Rand, if not nil, fills float inputs with standard normal values and
	// uint8 inputs with uniform bytes; otherwise every input is zero.
	// Integer (index-like) and bool inputs are always zero.
	Rand *rand.Rand
}

// SyntheticInputs makes one tensor per graph input, in graph order, with
// the declared dtype and shape (symbolic dims bound as opts says).
func (s *Session) SyntheticInputs(opts SyntheticOptions) ([]*tensor.Tensor, error) {
	return SyntheticInputs(s.plan.g.Inputs, opts)
}

// SyntheticInputs makes tensors for the given value declarations; see
// Session.SyntheticInputs.
func SyntheticInputs(vis []graph.ValueInfo, opts SyntheticOptions) ([]*tensor.Tensor, error) {
	if opts.Batch <= 0 {
		opts.Batch = 1
	}
	out := make([]*tensor.Tensor, len(vis))
	for i, v := range vis {
		if v.Kind != graph.KindTensor {
			return nil, fmt.Errorf("runtime: input %q is not a tensor", v.Name)
		}
		if !v.HasShape {
			return nil, fmt.Errorf("runtime: input %q has an unknown rank; give its value", v.Name)
		}
		if !v.DType.Supported() {
			return nil, fmt.Errorf("runtime: input %q has unsupported dtype %v", v.Name, v.DType)
		}
		shape := make([]int, len(v.Shape))
		for j, d := range v.Shape {
			switch {
			case d.Param != "" && opts.Dims[d.Param] > 0:
				shape[j] = opts.Dims[d.Param]
			case d.Known():
				shape[j] = int(d.Value)
			case j == 0:
				shape[j] = opts.Batch
			default:
				shape[j] = 1
			}
		}
		t, err := tensor.Make(v.DType, shape)
		if err != nil {
			return nil, fmt.Errorf("runtime: input %q: %w", v.Name, err)
		}
		if r := opts.Rand; r != nil {
			switch d := t.Data.(type) {
			case []float32:
				for k := range d {
					d[k] = float32(r.NormFloat64())
				}
			case []float64:
				for k := range d {
					d[k] = r.NormFloat64()
				}
			case []uint16:
				for k := range d {
					switch t.DType {
					case tensor.Float16:
						d[k] = tensor.FloatToHalf(float32(r.NormFloat64()))
					case tensor.BFloat16:
						d[k] = tensor.FloatToBFloat16(float32(r.NormFloat64()))
					}
				}
			case []uint8:
				for k := range d {
					d[k] = uint8(r.UintN(256))
				}
			}
		}
		out[i] = t
	}
	return out, nil
}

// ProfileOptions configure Profile.
type ProfileOptions struct {
	// Runs is the number of timed runs (default 10).
	Runs int
	// Warmup is the number of untimed runs before them (default 1; a
	// negative value means none).
	Warmup int
}

// NodeProfile is one executed node's shapes, FLOPs and latency over the
// timed runs.
type NodeProfile struct {
	NodeInfo
	// OutputBytes is the size of the node's outputs: what crosses the
	// link if the model is cut right after this node.
	OutputBytes int64   `json:"output_bytes"`
	MedianUS    float64 `json:"median_us"`
	P90US       float64 `json:"p90_us"`
	MeanUS      float64 `json:"mean_us"`
	MinUS       float64 `json:"min_us"`
	// Share is MedianUS over the sum of all nodes' medians.
	Share float64 `json:"share"`
	// GFLOPS is FLOPs per nanosecond of median latency (0 if unmeasurable).
	GFLOPS float64 `json:"gflops"`
}

// Median is MedianUS as a Duration.
func (n *NodeProfile) Median() time.Duration { return usDuration(n.MedianUS) }

// ProfileTotals summarises a profile.
type ProfileTotals struct {
	Nodes       int   `json:"nodes"`
	FLOPs       int64 `json:"flops"`
	OutputBytes int64 `json:"output_bytes"`
	// NodeMedianUS is the sum of the nodes' median latencies.
	NodeMedianUS float64 `json:"node_median_us"`
	// RunMedianUS and RunP90US are wall-clock latencies of whole runs,
	// including the runtime's own overhead between nodes.
	RunMedianUS float64 `json:"run_median_us"`
	RunP90US    float64 `json:"run_p90_us"`
	// RunMinUS is the fastest whole run: on a shared machine, the best
	// estimate of the unloaded latency.
	RunMinUS float64 `json:"run_min_us"`
	// GFLOPS is FLOPs per nanosecond of median run latency.
	GFLOPS float64 `json:"gflops"`
}

// ProfileReport is the result of Profile: a per-node cost table that the
// partition planner consumes (measured on one machine, encoded as JSON to
// be carried to another).
type ProfileReport struct {
	Model     string        `json:"model,omitempty"` // set by the caller, if wanted
	GOOS      string        `json:"goos"`
	GOARCH    string        `json:"goarch"`
	NumCPU    int           `json:"num_cpu"`
	Threads   int           `json:"threads"`
	Runs      int           `json:"runs"`
	Warmup    int           `json:"warmup"`
	Inputs    []TensorInfo  `json:"inputs"`
	Outputs   []TensorInfo  `json:"outputs"`
	Folded    int           `json:"folded"`
	Rewritten int           `json:"rewritten"`
	Nodes     []NodeProfile `json:"nodes"`
	Totals    ProfileTotals `json:"totals"`
}

// Profile runs s opts.Warmup times untimed, then opts.Runs times with a
// trace, and reports each executed node's shapes, output bytes, FLOPs and
// latency statistics, with totals. inputs are in graph order (see
// SyntheticInputs for made-up ones).
func Profile(s *Session, inputs []*tensor.Tensor, opts ProfileOptions) (*ProfileReport, error) {
	if opts.Runs <= 0 {
		opts.Runs = 10
	}
	if opts.Warmup == 0 {
		opts.Warmup = 1
	}
	if opts.Warmup < 0 {
		opts.Warmup = 0
	}
	for i := 0; i < opts.Warmup; i++ {
		if _, err := s.RunOrdered(inputs, nil); err != nil {
			return nil, err
		}
	}
	nsteps := len(s.plan.steps)
	samples := make([][]float64, nsteps) // per step, microseconds per run
	for i := range samples {
		samples[i] = make([]float64, 0, opts.Runs)
	}
	runs := make([]float64, 0, opts.Runs)
	var nodes []NodeInfo
	var first []*tensor.Tensor
	for r := 0; r < opts.Runs; r++ {
		record := r == 0
		t0 := time.Now()
		outs, err := s.RunOrdered(inputs, func(i int, n *graph.Node, in, out []*tensor.Tensor, d time.Duration) {
			if record {
				nodes = append(nodes, s.nodeInfo(i, n, in, out))
			}
			samples[i] = append(samples[i], float64(d.Nanoseconds())/1e3)
		})
		wall := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if record {
			first = outs
		}
		runs = append(runs, float64(wall.Nanoseconds())/1e3)
	}
	if len(nodes) != nsteps {
		return nil, errors.New("runtime: profile: the trace missed steps")
	}
	rep := &ProfileReport{
		GOOS: goruntime.GOOS, GOARCH: goruntime.GOARCH, NumCPU: goruntime.NumCPU(),
		Threads: s.Threads(), Runs: opts.Runs, Warmup: opts.Warmup,
		Folded: s.folded(), Rewritten: s.rewritten(),
		Nodes: make([]NodeProfile, nsteps),
	}
	rep.Inputs, rep.Outputs = s.ioInfo(inputs, first)
	tot := &rep.Totals
	tot.Nodes = nsteps
	for i := range nodes {
		st := Stats(samples[i])
		np := NodeProfile{NodeInfo: nodes[i], OutputBytes: nodes[i].OutputBytes(),
			MedianUS: st.Median, P90US: st.P90, MeanUS: st.Mean, MinUS: st.Min}
		if np.MedianUS > 0 {
			np.GFLOPS = float64(np.FLOPs) / (np.MedianUS * 1e3)
		}
		rep.Nodes[i] = np
		tot.FLOPs += np.FLOPs
		tot.OutputBytes += np.OutputBytes
		tot.NodeMedianUS += np.MedianUS
	}
	for i := range rep.Nodes {
		if tot.NodeMedianUS > 0 {
			rep.Nodes[i].Share = rep.Nodes[i].MedianUS / tot.NodeMedianUS
		}
	}
	rs := Stats(runs)
	tot.RunMedianUS, tot.RunP90US, tot.RunMinUS = rs.Median, rs.P90, rs.Min
	if rs.Median > 0 {
		tot.GFLOPS = float64(tot.FLOPs) / (rs.Median * 1e3)
	}
	return rep, nil
}

// SampleStats summarises a list of samples.
type SampleStats struct {
	Min, Median, P90, Mean, Max float64
}

// Stats computes the minimum, median (middle value, or mean of the middle
// two), 90th percentile (nearest rank), mean and maximum of xs, which it
// does not modify. All are 0 for no samples.
func Stats(xs []float64) SampleStats {
	if len(xs) == 0 {
		return SampleStats{}
	}
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	n := len(s)
	st := SampleStats{Min: s[0], Max: s[n-1]}
	if n%2 == 1 {
		st.Median = s[n/2]
	} else {
		st.Median = (s[n/2-1] + s[n/2]) / 2
	}
	rank := int(math.Ceil(0.9*float64(n))) - 1
	st.P90 = s[max(rank, 0)]
	var sum float64
	for _, x := range s {
		sum += x
	}
	st.Mean = sum / float64(n)
	return st
}

func usDuration(us float64) time.Duration { return time.Duration(us * 1e3) }
