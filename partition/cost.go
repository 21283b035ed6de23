package partition

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/edgedl/edgedl/runtime"
)

// Units: the cost model counts time in seconds, sizes in bytes, bandwidth
// in Mbit/s (10^6 bit/s), power in watts and energy in joules.

// Codec describes how activations are encoded on a link. Floating-point
// tensors are re-encoded at ElemBytes per element plus TensorOverhead;
// other tensors (int64 shapes, indices, bool masks) travel as they are.
type Codec struct {
	Name string `json:"name"`
	// ElemBytes is the encoded size of one floating-point element; 0
	// keeps each tensor's own element size (no re-encoding).
	ElemBytes float64 `json:"elem_bytes"`
	// TensorOverhead is added per floating-point tensor: a quantiser's
	// scale and zero point, say.
	TensorOverhead float64 `json:"tensor_overhead"`
	// Ratio estimates a lossless stage after the element encoding (e.g.
	// deflate): encoded bytes are divided by it. 0 or 1 means none.
	Ratio float64 `json:"ratio,omitempty"`
	// EncodeSecPerByte and DecodeSecPerByte are the codec's time per byte
	// of raw (unencoded) tensor data on a tier whose CodecSlowdown is 1;
	// the sender pays the first, the receiver the second.
	EncodeSecPerByte float64 `json:"encode_s_per_byte,omitempty"`
	DecodeSecPerByte float64 `json:"decode_s_per_byte,omitempty"`
}

// The element encodings; set the codec times from measurements of the
// transport's implementation.
var (
	// CodecRaw sends tensors as the runtime holds them.
	CodecRaw = Codec{Name: "raw"}
	// CodecFP32 sends floats as float32 (4 bytes per element).
	CodecFP32 = Codec{Name: "fp32", ElemBytes: 4}
	// CodecFP16 sends floats as IEEE half precision (2 bytes per element).
	CodecFP16 = Codec{Name: "fp16", ElemBytes: 2}
	// CodecInt8 quantises each float tensor to int8 with a float32 scale
	// and an int32 zero point (1 byte per element plus 8 per tensor).
	CodecInt8 = Codec{Name: "int8", ElemBytes: 1, TensorOverhead: 8}
)

// encoded is the number of bytes v occupies on the wire.
func (c Codec) encoded(s TensorSize) float64 {
	b := float64(s.Bytes)
	if c.ElemBytes > 0 && s.DType.IsFloat() {
		b = c.ElemBytes*float64(s.Elems) + c.TensorOverhead
	}
	if c.Ratio > 1 {
		b /= c.Ratio
	}
	return b
}

// Encoded is the number of bytes a tensor of size s occupies on the wire.
func (c Codec) Encoded(s TensorSize) float64 { return c.encoded(s) }

// EncodedBytes is the size on the wire of a cut's crossing tensors (after
// DAG.SetSizes).
func (d *DAG) EncodedBytes(c Cut, codec Codec) float64 {
	var b float64
	for _, name := range c.Crossing {
		if id, ok := d.valueID[name]; ok {
			b += codec.encoded(d.Values[id].Size)
		}
	}
	return b
}

func (c Codec) String() string {
	if c.Name != "" {
		return c.Name
	}
	return "raw"
}

// Link is one network hop as the planner sees it.
type Link struct {
	// Mbps is the usable bandwidth in Mbit/s; a link with Mbps <= 0 is
	// down and is never used.
	Mbps float64 `json:"mbps"`
	// RTT is the round-trip time in seconds, paid once per use of the hop
	// (the request, and the response carrying the small result).
	RTT float64 `json:"rtt_s"`
}

// Up reports whether the link can carry data.
func (l Link) Up() bool { return l.Mbps > 0 && !math.IsInf(l.RTT, 1) && !math.IsNaN(l.Mbps) }

// Seconds is the time to send b bytes, excluding the RTT.
func (l Link) Seconds(b float64) float64 {
	if b <= 0 {
		return 0
	}
	return b * 8 / (l.Mbps * 1e6)
}

func (l Link) String() string {
	return fmt.Sprintf("%.3g Mbit/s, RTT %.3g ms", l.Mbps, l.RTT*1e3)
}

// Hop is a link and the codec used on it.
type Hop struct {
	Link  Link  `json:"link"`
	Codec Codec `json:"codec"`
}

// Radio models the device's transmit power while uploading at a given
// throughput: BaseW + PerMbpsW * Mbps (the linear uplink model of Huang et
// al., "A Close Examination of Performance and Power Characteristics of 4G
// LTE Networks", MobiSys 2012, which Neurosurgeon, Kang et al., ASPLOS
// 2017, uses for its energy estimates).
//
// The fits were made on 2012 phones at uplink rates of a few Mbit/s.
// PerMbpsW is also the energy per Mbit sent, which dominates at high rates;
// MaxW can cap the power where the line leaves its measured range.
type Radio struct {
	Name     string  `json:"name"`
	BaseW    float64 `json:"base_w"`
	PerMbpsW float64 `json:"per_mbps_w"`
	// MaxW caps the transmit power; 0 means no cap.
	MaxW float64 `json:"max_w,omitempty"`
}

// Uplink power models from Huang et al. (MobiSys 2012): beta and alpha_u.
var (
	RadioWiFi = Radio{Name: "wifi", BaseW: 0.13286, PerMbpsW: 0.28317}
	RadioLTE  = Radio{Name: "lte", BaseW: 1.28804, PerMbpsW: 0.43839}
	Radio3G   = Radio{Name: "3g", BaseW: 0.81788, PerMbpsW: 0.86898}
)

// Power is the radio's transmit power in watts at mbps.
func (r Radio) Power(mbps float64) float64 {
	p := r.BaseW + r.PerMbpsW*mbps
	if r.MaxW > 0 {
		p = min(p, r.MaxW)
	}
	return p
}

// Energy models the device's power draw.
type Energy struct {
	// ComputeW is drawn while the device computes (its piece, encoding).
	ComputeW float64 `json:"compute_w"`
	// IdleW is drawn while it waits for the other tiers.
	IdleW float64 `json:"idle_w"`
	// Radio gives the power while transmitting.
	Radio Radio `json:"radio"`
}

// DefaultEnergy is a phone-class device on Wi-Fi. ComputeW and IdleW are
// assumptions of the right order for a mobile SoC running a CNN on its
// CPU cores (a few watts busy, a fraction of a watt waiting with the screen
// off), not measurements: replace them with the device's own numbers. The
// radio model is Huang et al.'s Wi-Fi uplink fit.
var DefaultEnergy = Energy{ComputeW: 2.5, IdleW: 0.3, Radio: RadioWiFi}

// Tier is one place the model can run.
type Tier struct {
	Name string `json:"name"`
	// Times holds each DAG node's compute time on this tier in seconds
	// (TimesFromReport of a profile measured there, or scaled from
	// another tier's with Scale, or predicted by a Predictor).
	Times []float64 `json:"times_s"`
	// CodecSlowdown scales codec times on this tier (0 means 1).
	CodecSlowdown float64 `json:"codec_slowdown,omitempty"`
}

func (t Tier) codecScale() float64 {
	if t.CodecSlowdown > 0 {
		return t.CodecSlowdown
	}
	return 1
}

// Scale returns times multiplied by f: a tier f times slower than the one
// the times were measured on (a device 8x slower than the edge server).
func Scale(times []float64, f float64) []float64 {
	out := make([]float64, len(times))
	for i, t := range times {
		out[i] = t * f
	}
	return out
}

// matchNode finds the DAG node a profiled (possibly optimized) node stands
// for: the node of the same name, or the producer of one of its outputs.
// A profile of an optimized session merges BatchNormalization and
// activations into the Conv before them; their time lands on that node.
func (d *DAG) matchNode(ni *runtime.NodeInfo) (int, bool) {
	if ni.Node != nil && ni.Node.Name != "" {
		if id, ok := d.nodeName[ni.Node.Name]; ok {
			return id, true
		}
	}
	if id, ok := d.NodeByName(ni.Name); ok {
		return id, true
	}
	for _, o := range ni.Outputs {
		if vid, ok := d.valueID[o.Name]; ok && d.Values[vid].Producer >= 0 {
			return d.Values[vid].Producer, true
		}
	}
	return 0, false
}

// TimesFromReport maps a profile's median node latencies onto the DAG's
// nodes, in seconds. Nodes the profiled session did not run (folded, or
// fused into a neighbour, which then carries their time) get 0. It fails
// if a profiled node matches nothing in the DAG (a profile of another
// model).
func TimesFromReport(d *DAG, rep *runtime.ProfileReport) ([]float64, error) {
	t := make([]float64, len(d.Nodes))
	var unknown []string
	for i := range rep.Nodes {
		np := &rep.Nodes[i]
		id, ok := d.matchNode(&np.NodeInfo)
		if !ok {
			unknown = append(unknown, np.Name)
			continue
		}
		t[id] += np.MedianUS * 1e-6
	}
	if len(unknown) > 0 {
		return t, fmt.Errorf("partition: %d profiled nodes are not in graph %q (first %q): a profile of another model?", len(unknown), d.Graph.Name, unknown[0])
	}
	return t, nil
}

// ParseReport decodes a runtime.ProfileReport from its JSON.
func ParseReport(b []byte) (*runtime.ProfileReport, error) {
	var rep runtime.ProfileReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("partition: profile report: %w", err)
	}
	return &rep, nil
}

// NodeStat is what the latency predictor knows about a node.
type NodeStat struct {
	Op    string `json:"op"`
	FLOPs int64  `json:"flops"`
	// Bytes is the size of everything the node reads and writes.
	Bytes int64 `json:"bytes"`
}

func statOf(ni *runtime.NodeInfo) NodeStat {
	s := NodeStat{Op: ni.Op, FLOPs: ni.FLOPs}
	if ni.Domain != "" {
		s.Op = ni.Domain + "." + ni.Op
	}
	for _, t := range ni.Inputs {
		s.Bytes += t.Bytes
	}
	for _, t := range ni.Outputs {
		s.Bytes += t.Bytes
	}
	return s
}

// NodeStats maps traced nodes (ShapeInfo.Nodes, best from an unoptimized
// session) onto the DAG: op type, FLOPs and bytes per DAG node. Nodes the
// trace did not see keep their op type and zero counts.
func NodeStats(d *DAG, nodes []runtime.NodeInfo) []NodeStat {
	st := make([]NodeStat, len(d.Nodes))
	for i := range d.Nodes {
		st[i].Op = d.Nodes[i].Op
	}
	for i := range nodes {
		if id, ok := d.matchNode(&nodes[i]); ok {
			s := statOf(&nodes[i])
			st[id].FLOPs += s.FLOPs
			st[id].Bytes += s.Bytes
		}
	}
	return st
}

// Sample is one measured node: the predictor's training data.
type Sample struct {
	NodeStat
	Seconds float64 `json:"s"`
}

// SamplesFromReport turns a profile into predictor samples, one per
// executed node (median latency).
func SamplesFromReport(rep *runtime.ProfileReport) []Sample {
	out := make([]Sample, 0, len(rep.Nodes))
	for i := range rep.Nodes {
		out = append(out, Sample{NodeStat: statOf(&rep.Nodes[i].NodeInfo), Seconds: rep.Nodes[i].MedianUS * 1e-6})
	}
	return out
}

// Coeffs is one fitted latency model: Seconds = A + B*FLOPs + C*Bytes,
// all coefficients non-negative.
type Coeffs struct {
	A float64 `json:"a_s"`
	B float64 `json:"b_s_per_flop"`
	C float64 `json:"c_s_per_byte"`
	// N is the number of samples it was fitted on.
	N int `json:"n"`
}

// Predict evaluates the model.
func (c Coeffs) Predict(flops, bytes int64) float64 {
	return c.A + c.B*float64(flops) + c.C*float64(bytes)
}

// Predictor estimates node latencies on a tier that has no profile of
// the model, Neurosurgeon-style: one linear model per op type in FLOPs
// and bytes moved, fitted on profiles of (other) models on that tier.
type Predictor struct {
	// Ops holds the per-op-type models.
	Ops map[string]Coeffs `json:"ops"`
	// All is fitted on every sample; it serves op types never seen.
	All Coeffs `json:"all"`
}

// FitPredictor fits, for each op type and for all samples together, the
// non-negative least-squares model Seconds ~ A + B*FLOPs + C*Bytes. With
// three coefficients NNLS is solved exactly by trying every subset of them
// (the optimum is the unconstrained fit on its active set).
func FitPredictor(samples []Sample) Predictor {
	p := Predictor{Ops: map[string]Coeffs{}}
	byOp := map[string][]Sample{}
	for _, s := range samples {
		byOp[s.Op] = append(byOp[s.Op], s)
	}
	for op, ss := range byOp {
		p.Ops[op] = fitNNLS(ss)
	}
	p.All = fitNNLS(samples)
	return p
}

// Predict estimates one node's latency in seconds.
func (p Predictor) Predict(s NodeStat) float64 {
	c, ok := p.Ops[s.Op]
	if !ok {
		c = p.All
	}
	return c.Predict(s.FLOPs, s.Bytes)
}

// Times predicts every node of a DAG from its stats (see NodeStats).
func (p Predictor) Times(stats []NodeStat) []float64 {
	t := make([]float64, len(stats))
	for i, s := range stats {
		t[i] = p.Predict(s)
	}
	return t
}

// fitNNLS fits y ~ a + b*f + c*m with a, b, c >= 0.
func fitNNLS(ss []Sample) Coeffs {
	if len(ss) == 0 {
		return Coeffs{}
	}
	// Scale features to O(1) for a well-conditioned solve.
	var fs, ms float64
	for _, s := range ss {
		fs = max(fs, float64(s.FLOPs))
		ms = max(ms, float64(s.Bytes))
	}
	if fs == 0 {
		fs = 1
	}
	if ms == 0 {
		ms = 1
	}
	x := func(s Sample, j int) float64 {
		switch j {
		case 0:
			return 1
		case 1:
			return float64(s.FLOPs) / fs
		}
		return float64(s.Bytes) / ms
	}
	best, bestErr := Coeffs{N: len(ss)}, math.Inf(1)
	for mask := 1; mask < 8; mask++ {
		var cols []int
		for j := 0; j < 3; j++ {
			if mask&(1<<j) != 0 {
				cols = append(cols, j)
			}
		}
		k := len(cols)
		var ata [3][3]float64
		var atb [3]float64
		for _, s := range ss {
			for a := 0; a < k; a++ {
				xa := x(s, cols[a])
				atb[a] += xa * s.Seconds
				for b := 0; b < k; b++ {
					ata[a][b] += xa * x(s, cols[b])
				}
			}
		}
		sol, ok := solve(ata, atb, k)
		if !ok {
			continue
		}
		var coef [3]float64
		feasible := true
		for a, j := range cols {
			if sol[a] < 0 {
				feasible = false
			}
			coef[j] = sol[a]
		}
		if !feasible {
			continue
		}
		var sse float64
		for _, s := range ss {
			r := s.Seconds - (coef[0] + coef[1]*x(s, 1) + coef[2]*x(s, 2))
			sse += r * r
		}
		if sse < bestErr*(1-1e-12) {
			bestErr = sse
			best = Coeffs{A: coef[0], B: coef[1] / fs, C: coef[2] / ms, N: len(ss)}
		}
	}
	return best
}

// solve solves the k x k system a x = b by Gaussian elimination with
// partial pivoting; ok is false if it is (numerically) singular.
func solve(a [3][3]float64, b [3]float64, k int) (x [3]float64, ok bool) {
	var scale float64
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			scale = max(scale, math.Abs(a[i][j]))
		}
	}
	if scale == 0 {
		return x, false
	}
	for c := 0; c < k; c++ {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) <= 1e-12*scale {
			return x, false
		}
		a[c], a[p] = a[p], a[c]
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < k; r++ {
			f := a[r][c] / a[c][c]
			for j := c; j < k; j++ {
				a[r][j] -= f * a[c][j]
			}
			b[r] -= f * b[c]
		}
	}
	for r := k - 1; r >= 0; r-- {
		s := b[r]
		for j := r + 1; j < k; j++ {
			s -= a[r][j] * x[j]
		}
		x[r] = s / a[r][r]
	}
	return x, true
}

// String lists the fitted models, one op per line: the fixed cost, and
// the throughputs the per-FLOP and per-byte coefficients amount to.
func (p Predictor) String() string {
	var b strings.Builder
	ops := make([]string, 0, len(p.Ops))
	for op := range p.Ops {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	line := func(op string, c Coeffs) {
		rate := func(x float64, unit string) string {
			if x <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.3g %s", 1/x/1e9, unit)
		}
		fmt.Fprintf(&b, "%-20s n=%-4d %8.3gus + FLOPs at %-14s + bytes at %s\n", op, c.N, c.A*1e6, rate(c.B, "GFLOP/s"), rate(c.C, "GB/s"))
	}
	for _, op := range ops {
		line(op, p.Ops[op])
	}
	line("(all)", p.All)
	return b.String()
}
