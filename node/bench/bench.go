// Package bench measures split inference. Run (`edgedl bench partition`)
// measures how good the partition planner's choices are; RunCascade
// (`edgedl bench cascade`) measures a small-model/big-model cascade
// (accuracy, offloaded fraction, latency and bytes per confidence
// threshold).
//
// Run measures how good the partition planner's choices are:
// for each uplink bandwidth it runs a model split across a device, an edge
// and a cloud node (node.Server on loopback, emulated links from package
// transport/link, slowdown factors for the tiers' speeds) and compares the
// measured latency of the planner's plan with the best measured placement
// (the oracle) and with running everything on one tier. It backs
// `edgedl bench partition`.
//
// What the oracle covers: at each bandwidth, the single-tier placements
// (all-device, all-edge, all-cloud), the planner's plan, and the
// device|edge prefix cuts (the edge runs the rest) that the cost model
// ranks among the best Options.Candidates at that bandwidth, skipping
// those predicted more than Options.Prune times slower than the
// planner's plan (they would take minutes at 1 Mbit/s and cannot win
// unless the model is off by that factor). Options.Candidates < 0
// measures every cut at every bandwidth (slow for large models). The
// oracle is the fastest among those measured (by Options.Statistic); device|edge|cloud
// cut pairs other than the planner's are not enumerated.
//
// Every placement is measured end to end over real gRPC: the median (or
// minimum) of Requests timed requests (one request for a single-tier placement
// predicted beyond Prune times the plan). Pieces are uploaded, and one
// warm-up request runs, with the links unthrottled before the bandwidth
// under test is set.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sort"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/node"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/transport/link"
)

// Options configure Run. Zero fields take the defaults.
type Options struct {
	// Bandwidths are the device uplink rates to test, in Mbit/s (default
	// 1, 5, 10, 50, 100, 1000); RTT is its round trip (default 20 ms).
	Bandwidths []float64
	RTT        time.Duration
	// EdgeCloudMbps and EdgeCloudRTT describe the edge -> cloud link
	// (default 1000 Mbit/s, 10 ms). The device's direct path to the cloud
	// has the uplink's rate and both RTTs.
	EdgeCloudMbps float64
	EdgeCloudRTT  time.Duration
	// DeviceSlowdown and EdgeSlowdown scale this machine's compute for the
	// device and the edge (default 8 and 2); the cloud runs at this
	// machine's speed.
	DeviceSlowdown, EdgeSlowdown float64
	// Codec encodes activations on the wire: fp32 (default), fp16, int8.
	Codec string
	// Requests is the number of timed requests per placement and
	// bandwidth (default 5).
	Requests int
	// Statistic summarises a placement's requests: "median" (default) or
	// "min". On a machine shared with other jobs the minimum of
	// interleaved requests is the better estimate of unloaded latency: load
	// only ever adds time, and the same placement's median can move by
	// tens of percent between bandwidth rows.
	Statistic string
	// Candidates is how many device|edge cuts, best predicted first, are
	// measured per bandwidth besides the fixed placements (default 6;
	// negative: all). Prune skips placements predicted more than this
	// factor slower than the planner's plan (default 3; negative: none).
	Candidates int
	Prune      float64
	// Threads is every session's intra-op thread count (default 1).
	Threads int
	// ComputeClock is what the slowdown factors multiply: node.ClockWall
	// (default) or node.ClockCPU (thread CPU time; needs Threads 1), which
	// keeps other load on the machine from being multiplied by 8.
	ComputeClock string
	// ProfileRuns is the number of profiling runs (default 10).
	ProfileRuns int
	// Logger receives the nodes' logs (default: discarded); Progress,
	// when set, gets a line per measured placement.
	Logger   *slog.Logger
	Progress io.Writer
}

func (o *Options) defaults() {
	if len(o.Bandwidths) == 0 {
		o.Bandwidths = []float64{1, 5, 10, 50, 100, 1000}
	}
	if o.RTT <= 0 {
		o.RTT = 20 * time.Millisecond
	}
	if o.EdgeCloudMbps <= 0 {
		o.EdgeCloudMbps = 1000
	}
	if o.EdgeCloudRTT <= 0 {
		o.EdgeCloudRTT = 10 * time.Millisecond
	}
	if o.DeviceSlowdown <= 0 {
		o.DeviceSlowdown = 8
	}
	if o.EdgeSlowdown <= 0 {
		o.EdgeSlowdown = 2
	}
	if o.Codec == "" {
		o.Codec = "fp32"
	}
	if o.Statistic == "" {
		o.Statistic = "median"
	}
	if o.Requests <= 0 {
		o.Requests = 5
	}
	if o.Candidates == 0 {
		o.Candidates = 6
	}
	if o.Prune == 0 {
		o.Prune = 3
	}
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.ProfileRuns <= 0 {
		o.ProfileRuns = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Measure is one placement measured at one bandwidth.
type Measure struct {
	Split       string  `json:"split"`
	MeasuredMs  float64 `json:"measured_ms"`
	PredictedMs float64 `json:"predicted_ms"`
	Fallbacks   int     `json:"fallbacks,omitempty"`
}

// Row is one bandwidth's result. Cuts are split specifications
// (node.SpecOf: "device", "edge", "cloud", "K1,K2").
type Row struct {
	Mbps        float64 `json:"bandwidth_mbps"`
	PlannerMs   float64 `json:"planner_ms"`
	OracleMs    float64 `json:"oracle_ms"`
	AllDeviceMs float64 `json:"all_device_ms"`
	AllEdgeMs   float64 `json:"all_edge_ms"`
	AllCloudMs  float64 `json:"all_cloud_ms"`
	PlannerCut  string  `json:"planner_cut"`
	OracleCut   string  `json:"oracle_cut"`
	PredictedMs float64 `json:"planner_predicted_ms"`
	// BestSingle names the fastest measured single-tier placement
	// ("device", "edge" or "cloud"); Speedup is its latency over the
	// planner's measured latency (> 1: the split plan wins).
	BestSingle   string    `json:"best_single_tier"`
	BestSingleMs float64   `json:"best_single_tier_ms"`
	Speedup      float64   `json:"speedup_over_best_single_tier"`
	Measured     []Measure `json:"measured"`
}

// Ratio is the planner's measured latency over the oracle's.
func (r Row) Ratio() float64 { return r.PlannerMs / r.OracleMs }

// bestSingle fills BestSingle, BestSingleMs and Speedup from the
// single-tier measurements.
func (r *Row) bestSingle() {
	r.BestSingle, r.BestSingleMs, r.Speedup = "", 0, 0
	for _, c := range []struct {
		name string
		ms   float64
	}{{"device", r.AllDeviceMs}, {"edge", r.AllEdgeMs}, {"cloud", r.AllCloudMs}} {
		if c.ms > 0 && (r.BestSingle == "" || c.ms < r.BestSingleMs) {
			r.BestSingle, r.BestSingleMs = c.name, c.ms
		}
	}
	if r.BestSingle != "" && r.PlannerMs > 0 {
		r.Speedup = r.BestSingleMs / r.PlannerMs
	}
}

// Report is Run's result.
type Report struct {
	Model          string  `json:"model"`
	Nodes          int     `json:"nodes"`
	Cuts           int     `json:"cuts"`
	ComputeMs      float64 `json:"compute_ms_here"`
	RTTMs          float64 `json:"rtt_ms"`
	EdgeCloudMbps  float64 `json:"edge_cloud_mbps"`
	EdgeCloudRTTMs float64 `json:"edge_cloud_rtt_ms"`
	DeviceSlowdown float64 `json:"device_slowdown"`
	EdgeSlowdown   float64 `json:"edge_slowdown"`
	Codec          string  `json:"codec"`
	Requests       int     `json:"requests"`
	Statistic      string  `json:"statistic"`
	ComputeClock   string  `json:"compute_clock"`
	Oracle         string  `json:"oracle_covers"`
	Rows           []Row   `json:"rows"`
}

// Run benchmarks model m (name labels the report).
func Run(ctx context.Context, name string, m *graph.Model, opts Options) (*Report, error) {
	opts.defaults()
	if opts.ComputeClock == node.ClockCPU && opts.Threads > 1 {
		return nil, fmt.Errorf("bench: the cpu compute clock needs single-threaded sessions (threads %d)", opts.Threads)
	}
	codec, ok := map[string]partition.Codec{"fp32": partition.CodecFP32, "fp16": partition.CodecFP16,
		"int8": partition.CodecInt8}[opts.Codec]
	if !ok {
		return nil, fmt.Errorf("bench: codec %q: want fp32, fp16 or int8", opts.Codec)
	}
	prof, err := node.ProfileModelStat(m, 1, opts.Threads, opts.ProfileRuns, opts.Statistic)
	if err != nil {
		return nil, fmt.Errorf("bench: profile %s: %w", name, err)
	}
	n := len(prof.DAG.Nodes)
	rep := &Report{Model: name, Nodes: n, Cuts: n + 1, ComputeMs: prof.Total * 1e3, RTTMs: ms(opts.RTT),
		EdgeCloudMbps: opts.EdgeCloudMbps, EdgeCloudRTTMs: ms(opts.EdgeCloudRTT), DeviceSlowdown: opts.DeviceSlowdown,
		EdgeSlowdown: opts.EdgeSlowdown, Codec: opts.Codec, Requests: opts.Requests, Statistic: opts.Statistic, ComputeClock: opts.ComputeClock,
		Oracle: fmt.Sprintf("all-device, all-edge, all-cloud, the planner's plan, and the %d best-predicted device|edge cuts within %gx of the plan's prediction", opts.Candidates, opts.Prune)}
	if opts.Candidates < 0 {
		rep.Oracle = "all-device, all-edge, all-cloud, the planner's plan and every device|edge cut"
	}

	token := randomToken()
	fast := func(rtt time.Duration) link.Profile { return link.Profile{RTT: rtt} } // unlimited rate
	uplink := link.New(fast(opts.RTT))
	direct := link.New(fast(opts.RTT + opts.EdgeCloudRTT))
	ec := link.New(link.Symmetric(link.Bitrate(opts.EdgeCloudMbps)*link.Mbps, opts.EdgeCloudRTT))
	cloud, cloudAddr, err := startNode(node.ServerConfig{Tier: "cloud", Token: token, Threads: opts.Threads, ComputeClock: opts.ComputeClock,
		CacheBytes: 2 << 30, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer cloud.Close()
	edge, edgeAddr, err := startNode(node.ServerConfig{Tier: "edge", Token: token, Threads: opts.Threads, ComputeClock: opts.ComputeClock,
		Slowdown: opts.EdgeSlowdown, Next: cloudAddr, NextDialer: ec.Dial, CacheBytes: 2 << 30,
		ForwardTimeout: time.Minute, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer edge.Close()

	hop := func(mbps float64, rtt time.Duration) partition.Hop {
		return partition.Hop{Link: partition.Link{Mbps: mbps, RTT: rtt.Seconds()}, Codec: codec}
	}
	problem := func(mbps float64) partition.Problem {
		d := hop(mbps, opts.RTT+opts.EdgeCloudRTT)
		return partition.Problem{DAG: prof.DAG,
			Tiers: []partition.Tier{
				{Name: "device", Times: partition.Scale(prof.Times, opts.DeviceSlowdown)},
				{Name: "edge", Times: partition.Scale(prof.Times, opts.EdgeSlowdown)},
				{Name: "cloud", Times: prof.Times}},
			Hops:   []partition.Hop{hop(mbps, opts.RTT), hop(opts.EdgeCloudMbps, opts.EdgeCloudRTT)},
			Direct: &d,
		}
	}

	devices := map[string]*node.Device{}
	defer func() {
		for _, d := range devices {
			d.Close()
		}
	}()
	device := func(p partition.Plan) (*node.Device, error) {
		spec := node.SpecOf(p)
		if d := devices[spec]; d != nil {
			return d, nil
		}
		ps, err := node.PlanPieces(m, prof.DAG, p, prof.Types)
		if err != nil {
			return nil, err
		}
		d, err := node.NewDevice(node.DeviceConfig{Model: m, Pieces: ps, Edge: edgeAddr, Cloud: cloudAddr,
			EdgeDialer: uplink.Dial, CloudDialer: direct.Dial, Token: token, Codec: opts.Codec,
			Slowdown: opts.DeviceSlowdown, ComputeClock: opts.ComputeClock, Threads: opts.Threads, NoFallback: true, Retries: -1,
			Timeout: 10 * time.Minute, Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		// Upload at full speed: the benchmark is about inference.
		uplink.Set(fast(opts.RTT))
		direct.Set(fast(opts.RTT + opts.EdgeCloudRTT))
		if err := d.Prepare(ctx); err != nil {
			d.Close()
			return nil, fmt.Errorf("bench: prepare %s: %w", spec, err)
		}
		// Warm up (connections, caches) at full speed too.
		if _, err := d.Infer(ctx, prof.Inputs); err != nil {
			d.Close()
			return nil, fmt.Errorf("bench: warm up %s: %w", spec, err)
		}
		devices[spec] = d
		return d, nil
	}
	// one times one request of p (whose device must exist) at the link
	// rate set.
	one := func(p partition.Plan, mm *Measure) (float64, error) {
		r, err := devices[node.SpecOf(p)].Infer(ctx, prof.Inputs)
		if err != nil {
			return 0, fmt.Errorf("bench: %s: %w", node.SpecOf(p), err)
		}
		if r.Fallback {
			mm.Fallbacks++
		}
		return ms(r.Total), nil
	}

	for _, mbps := range opts.Bandwidths {
		prob := problem(mbps)
		plan, err := prob.Plan()
		if err != nil {
			return nil, err
		}
		place := func(tierOf func(i int) int) (partition.Plan, error) {
			t := make([]int, n)
			for i := range t {
				t[i] = tierOf(i)
			}
			return prob.Evaluate(t)
		}
		row := Row{Mbps: mbps, PlannerCut: node.SpecOf(plan), PredictedMs: plan.Latency * 1e3}
		cands := []partition.Plan{plan}
		fixed := map[string]*float64{"device": &row.AllDeviceMs, "edge": &row.AllEdgeMs, "cloud": &row.AllCloudMs}
		for tier := 0; tier < 3; tier++ {
			p, err := place(func(int) int { return tier })
			if err != nil {
				return nil, err
			}
			cands = append(cands, p)
		}
		var cuts []partition.Plan
		for k := 1; k < n; k++ {
			p, err := place(func(i int) int { return map[bool]int{true: 0, false: 1}[i < k] })
			if err != nil {
				return nil, err
			}
			cuts = append(cuts, p)
		}
		sort.SliceStable(cuts, func(a, b int) bool { return cuts[a].Latency < cuts[b].Latency })
		if opts.Candidates >= 0 && len(cuts) > opts.Candidates {
			cuts = cuts[:opts.Candidates]
		}
		cands = append(cands, cuts...)
		// The placements to measure, their devices ready (made at full
		// link speed), then rounds of one request each, alternating, so
		// that the machine's load changes hit all of them alike.
		type todo struct {
			p    partition.Plan
			runs int
			lat  []float64
			mm   Measure
		}
		var todos []*todo
		seen := map[string]bool{}
		for i, p := range cands {
			spec := node.SpecOf(p)
			if seen[spec] {
				continue
			}
			seen[spec] = true
			runs := opts.Requests
			if i > 0 && opts.Prune > 0 && p.Latency > opts.Prune*plan.Latency {
				if _, single := fixed[spec]; !single {
					continue
				}
				runs = 1 // a single-tier placement far off the best: one request says enough
			}
			if _, err := device(p); err != nil {
				return nil, err
			}
			todos = append(todos, &todo{p: p, runs: runs, mm: Measure{Split: spec, PredictedMs: p.Latency * 1e3}})
		}
		uplink.Set(link.Symmetric(link.Bitrate(mbps)*link.Mbps, opts.RTT))
		direct.Set(link.Symmetric(link.Bitrate(mbps)*link.Mbps, opts.RTT+opts.EdgeCloudRTT))
		for round := 0; round < opts.Requests; round++ {
			for _, t := range todos {
				if round >= t.runs {
					continue
				}
				v, err := one(t.p, &t.mm)
				if err != nil {
					return nil, fmt.Errorf("%w at %g Mbit/s", err, mbps)
				}
				t.lat = append(t.lat, v)
			}
		}
		row.OracleMs = math.Inf(1)
		for i, t := range todos {
			sort.Float64s(t.lat)
			mm := t.mm
			mm.MeasuredMs = t.lat[len(t.lat)/2]
			if opts.Statistic == "min" {
				mm.MeasuredMs = t.lat[0]
			}
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "  %7g Mbit/s  %-10s measured %9.2f ms  predicted %9.2f ms\n", mbps, mm.Split, mm.MeasuredMs, mm.PredictedMs)
			}
			row.Measured = append(row.Measured, mm)
			if i == 0 {
				row.PlannerMs = mm.MeasuredMs
			}
			if f := fixed[mm.Split]; f != nil {
				*f = mm.MeasuredMs
			}
			if mm.MeasuredMs < row.OracleMs {
				row.OracleMs, row.OracleCut = mm.MeasuredMs, mm.Split
			}
		}
		row.bestSingle()
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// WriteTable prints the report as a table.
func WriteTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "%s: %d nodes, %d cuts, %.2f ms per inference here; device %gx, edge %gx this machine, cloud 1x\n",
		rep.Model, rep.Nodes, rep.Cuts, rep.ComputeMs, rep.DeviceSlowdown, rep.EdgeSlowdown)
	clock := rep.ComputeClock
	if clock == "" {
		clock = node.ClockWall
	}
	fmt.Fprintf(w, "uplink RTT %g ms; edge->cloud %g Mbit/s, RTT %g ms; codec %s; %s of %d requests per placement; slowdowns applied to %s compute time\n",
		rep.RTTMs, rep.EdgeCloudMbps, rep.EdgeCloudRTTMs, rep.Codec, rep.Statistic, rep.Requests, clock)
	fmt.Fprintf(w, "oracle: best measured of %s\n\n", rep.Oracle)
	fmt.Fprintf(w, "%9s %-10s %10s %10s %-10s %10s %7s %10s %10s %10s %-7s %8s\n", "Mbit/s", "planner", "pred ms", "meas ms",
		"oracle", "oracle ms", "ratio", "device ms", "edge ms", "cloud ms", "best-1", "speedup")
	worst := 0.0
	minSpeed, maxSpeed := math.Inf(1), 0.0
	for _, r := range rep.Rows {
		worst = max(worst, r.Ratio())
		minSpeed, maxSpeed = min(minSpeed, r.Speedup), max(maxSpeed, r.Speedup)
		fmt.Fprintf(w, "%9g %-10s %10.2f %10.2f %-10s %10.2f %7.3f %10.2f %10.2f %10.2f %-7s %7.2fx\n", r.Mbps, r.PlannerCut,
			r.PredictedMs, r.PlannerMs, r.OracleCut, r.OracleMs, r.Ratio(), r.AllDeviceMs, r.AllEdgeMs, r.AllCloudMs,
			r.BestSingle, r.Speedup)
	}
	fmt.Fprintf(w, "\nworst planner/oracle ratio: %.3f (%+.1f%%)\n", worst, 100*(worst-1))
	if len(rep.Rows) > 0 {
		fmt.Fprintf(w, "planner speedup over the best single-tier placement (best-1): %.2fx to %.2fx\n", minSpeed, maxSpeed)
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// startNode serves a tier node on a random loopback port.
func startNode(cfg node.ServerConfig) (*node.Server, string, error) {
	s, err := node.NewServer(cfg)
	if err != nil {
		return nil, "", err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	go s.Serve(lis)
	return s, lis.Addr().String(), nil
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
