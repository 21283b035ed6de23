package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/models/embedded"
	"github.com/edgedl/edgedl/node"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/link"
)

// Defaults of Options.
const (
	DefaultDuration       = 24 * time.Second
	DefaultBatch          = 16
	DefaultDeviceSlowdown = 16 // 8x slower than the edge
	DefaultEdgeSlowdown   = 2  // 2x slower than the cloud
)

// DefaultBandwidths is the device uplink schedule, in Mbit/s, each for an
// equal share of the run.
var DefaultBandwidths = []float64{100, 2, 50}

// Options configure the demos. Zero fields take the defaults.
type Options struct {
	// Threads is the intra-op thread count of every tier's sessions
	// (default 1: the tiers share this machine).
	Threads int
	// Samples is how many embedded digits RunEngine classifies one at a
	// time (max 200).
	Samples int

	// Duration is how long Run streams requests (default 24 s).
	Duration time.Duration
	// Interval is the time between table lines (default 1 s).
	Interval time.Duration
	// Bandwidths is the device uplink's schedule in Mbit/s, each step for
	// Duration/len(Bandwidths) (default 100, 2, 50).
	Bandwidths []float64
	// UplinkRTT is the device -> edge round trip (default 1 ms);
	// EdgeCloudMbps and EdgeCloudRTT the edge -> cloud link (default
	// 1000 Mbit/s, 2 ms). The device's direct path to the cloud has the
	// uplink's bandwidth and both RTTs.
	UplinkRTT     time.Duration
	EdgeCloudMbps float64
	EdgeCloudRTT  time.Duration
	// DeviceSlowdown and EdgeSlowdown emulate the tiers' speeds relative
	// to the cloud, which runs at this machine's speed (defaults 16 and 2:
	// the device 8x slower than the edge, the edge 2x slower than the
	// cloud).
	DeviceSlowdown, EdgeSlowdown float64
	// Codec encodes activations on the links: fp32, fp16 or int8 (default
	// int8: the planner and the wire use the same sizes).
	Codec string
	// Batch is the number of digits per request (default 16): the
	// embedded model is so small that one digit is not worth sending.
	Batch int
	// Model, when set, is an ONNX file to run instead of the embedded model
	// (on synthetic inputs at batch 1; no accuracy).
	Model string
	// Logger receives the nodes' logs (default: discarded).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if len(o.Bandwidths) == 0 {
		o.Bandwidths = DefaultBandwidths
	}
	if o.Codec == "" {
		o.Codec = "int8"
	}
	if o.UplinkRTT <= 0 {
		o.UplinkRTT = time.Millisecond
	}
	if o.EdgeCloudMbps <= 0 {
		o.EdgeCloudMbps = 1000
	}
	if o.EdgeCloudRTT <= 0 {
		o.EdgeCloudRTT = 2 * time.Millisecond
	}
	if o.DeviceSlowdown <= 0 {
		o.DeviceSlowdown = DefaultDeviceSlowdown
	}
	if o.EdgeSlowdown <= 0 {
		o.EdgeSlowdown = DefaultEdgeSlowdown
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
		if o.Model != "" {
			o.Batch = 1
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Result summarises a Run.
type Result struct {
	Requests, Failed int
	// Digits and Correct count classified embedded digits (0 with
	// Options.Model).
	Digits, Correct int
	P50, P99        time.Duration
	Switches        []node.Switch
	// Splits counts requests per split that ran them.
	Splits map[string]int
}

// Run runs the split-inference demo (see the package documentation) and
// writes the live table and the summary to w.
func Run(w io.Writer, opts Options) (*Result, error) {
	opts.defaults()
	var (
		m      *graph.Model
		x      *tensor.Tensor
		labels []uint8
		err    error
	)
	name := "embedded MNIST CNN"
	if opts.Model != "" {
		name = opts.Model
		m, err = onnx.Load(opts.Model)
	} else {
		m, err = embedded.MNISTModel()
		if err == nil {
			x, labels, err = embedded.MNISTSamples()
		}
	}
	if err != nil {
		return nil, err
	}
	codec, ok := map[string]partition.Codec{"fp32": partition.CodecFP32, "fp16": partition.CodecFP16,
		"int8": partition.CodecInt8}[opts.Codec]
	if !ok {
		return nil, fmt.Errorf("demo: codec %q: want fp32, fp16 or int8", opts.Codec)
	}
	prof, err := node.ProfileModel(m, opts.Batch, opts.Threads, 20)
	if err != nil {
		return nil, fmt.Errorf("demo: profile %s: %w", name, err)
	}
	token := randomToken()
	up0 := opts.Bandwidths[0]
	upRTT, ecRTT := opts.UplinkRTT, opts.EdgeCloudRTT
	uplink := link.New(link.Symmetric(link.Bitrate(up0)*link.Mbps, upRTT))
	direct := link.New(link.Symmetric(link.Bitrate(up0)*link.Mbps, upRTT+ecRTT))
	edgeCloud := link.New(link.Symmetric(link.Bitrate(opts.EdgeCloudMbps)*link.Mbps, ecRTT))

	cloud, cloudAddr, err := startNode(node.ServerConfig{Tier: "cloud", Token: token, Threads: opts.Threads, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer cloud.Close()
	edge, edgeAddr, err := startNode(node.ServerConfig{Tier: "edge", Token: token, Threads: opts.Threads,
		Slowdown: opts.EdgeSlowdown, Next: cloudAddr, NextDialer: edgeCloud.Dial, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer edge.Close()

	hop := func(mbps float64, rtt time.Duration) partition.Hop {
		return partition.Hop{Link: partition.Link{Mbps: mbps, RTT: rtt.Seconds()}, Codec: codec}
	}
	directHop := hop(up0, upRTT+ecRTT)
	prob := partition.Problem{DAG: prof.DAG,
		Tiers: []partition.Tier{
			{Name: "device", Times: partition.Scale(prof.Times, opts.DeviceSlowdown)},
			{Name: "edge", Times: partition.Scale(prof.Times, opts.EdgeSlowdown)},
			{Name: "cloud", Times: prof.Times}},
		Hops:   []partition.Hop{hop(up0, upRTT), hop(opts.EdgeCloudMbps, ecRTT)},
		Direct: &directHop,
	}
	ad, err := node.NewAdaptiveDevice(node.AdaptiveConfig{
		Device: node.DeviceConfig{Model: m, Edge: edgeAddr, Cloud: cloudAddr, EdgeDialer: uplink.Dial,
			CloudDialer: direct.Dial, Token: token, Codec: opts.Codec, Slowdown: opts.DeviceSlowdown, Threads: opts.Threads,
			Timeout: 2 * time.Second, Logger: opts.Logger},
		Problem: prob,
		Types:   prof.Types,
		Adapt: partition.AdaptConfig{Estimator: partition.EstimatorConfig{Alpha: 0.5},
			Hold: 1, ProbeAfter: 1},
	})
	if err != nil {
		return nil, err
	}
	defer ad.Close()
	ctx := context.Background()
	if err := ad.Prepare(ctx); err != nil {
		return nil, err
	}

	// Predictions under the true links, for the table.
	trueProb := prob
	predict := func(mbps float64, tier int) float64 {
		p := trueProb
		p.Hops = []partition.Hop{hop(mbps, upRTT), hop(opts.EdgeCloudMbps, ecRTT)}
		d := hop(mbps, upRTT+ecRTT)
		p.Direct = &d
		place := make([]int, len(prof.DAG.Nodes))
		for i := range place {
			place[i] = tier
		}
		pl, err := p.Evaluate(place)
		if err != nil {
			return 0
		}
		return pl.Latency * 1e3
	}

	fmt.Fprintf(w, "edgedl demo: split inference of the %s, device -> edge -> cloud on loopback\n", name)
	fmt.Fprintf(w, "tiers: cloud = this machine (%.3f ms per request of %d measured), edge %gx slower, device %gx slower (%gx the edge)\n",
		prof.Total*1e3, opts.Batch, opts.EdgeSlowdown, opts.DeviceSlowdown, opts.DeviceSlowdown/opts.EdgeSlowdown)
	fmt.Fprintf(w, "links: device->edge %s Mbit/s (changing), RTT %v; edge->cloud %g Mbit/s, RTT %v; device->cloud direct: uplink rate, RTT %v; codec %s\n",
		fmtSchedule(opts.Bandwidths), upRTT, opts.EdgeCloudMbps, ecRTT, upRTT+ecRTT, opts.Codec)
	if opts.Model == "" {
		fmt.Fprintf(w, "note: the embedded model is tiny (%d nodes, %.0f us per digit here), so splitting saves little;\n"+
			"      requests carry %d digits each to make the trade-off visible.\n", len(prof.DAG.Nodes),
			prof.Total*1e6/float64(opts.Batch), opts.Batch)
	}
	fmt.Fprintf(w, "initial plan: %s\n\n", ad.Status().Plan)
	fmt.Fprintf(w, "%5s %6s %6s %-8s %4s %8s %7s %7s %7s %7s %8s %8s %9s %9s\n",
		"t(s)", "link", "est", "split", "req", "lat(ms)", "dev", "edge", "cloud", "net", "KB up", "pred", "all-dev", "all-cloud")

	res := &Result{Splits: map[string]int{}}
	var all []time.Duration
	phase := opts.Duration / time.Duration(len(opts.Bandwidths))
	start := time.Now()
	nextLine := opts.Interval
	curBW := up0
	type acc struct {
		n                          int
		lat, dev, edge, cloud, net time.Duration
		bytes                      int64
		pred                       float64
		splits                     map[string]int
	}
	var cur acc
	reset := func() { cur = acc{splits: map[string]int{}} }
	reset()
	flush := func(el time.Duration) {
		st := ad.Status()
		est := 0.0
		if len(st.Links) > 0 {
			est = st.Links[0].Mbps
		}
		split := "-"
		best := 0
		for s, n := range cur.splits {
			if n > best || n == best && s < split {
				split, best = s, n
			}
		}
		if len(cur.splits) > 1 {
			split += "+"
		}
		if cur.n == 0 {
			fmt.Fprintf(w, "%5.1f %6.3g %6.3g %-8s %4d\n", el.Seconds(), curBW, est, split, 0)
			return
		}
		f := float64(cur.n)
		msOf := func(d time.Duration) float64 { return float64(d) / 1e6 / f }
		fmt.Fprintf(w, "%5.1f %6.3g %6.3g %-8s %4d %8.2f %7.2f %7.2f %7.2f %7.2f %8.1f %8.2f %9.2f %9.2f\n",
			el.Seconds(), curBW, est, split, cur.n, msOf(cur.lat), msOf(cur.dev), msOf(cur.edge), msOf(cur.cloud),
			msOf(cur.net), float64(cur.bytes)/1024/f, cur.pred/f, predict(curBW, 0), predict(curBW, 2))
		reset()
	}
	var inputs []*tensor.Tensor
	if opts.Model != "" {
		inputs = prof.Inputs
	}
	const per = 28 * 28
	for i := 0; ; i++ {
		el := time.Since(start)
		if el >= opts.Duration {
			break
		}
		if k := int(el / phase); k < len(opts.Bandwidths) && opts.Bandwidths[k] != curBW {
			curBW = opts.Bandwidths[k]
			_ = uplink.Set(link.Symmetric(link.Bitrate(curBW)*link.Mbps, upRTT))
			_ = direct.Set(link.Symmetric(link.Bitrate(curBW)*link.Mbps, upRTT+ecRTT))
			fmt.Fprintf(w, "      --- device uplink now %g Mbit/s ---\n", curBW)
		}
		lo := 0
		if x != nil {
			lo = (i * opts.Batch) % (len(labels) - opts.Batch + 1)
			inputs = []*tensor.Tensor{tensor.Float32s([]int{opts.Batch, 1, 28, 28}, x.F32()[lo*per:(lo+opts.Batch)*per])}
		}
		r, err := ad.Infer(ctx, inputs)
		res.Requests++
		if err != nil {
			res.Failed++
			continue
		}
		all = append(all, r.Total)
		res.Splits[r.Spec]++
		cur.n++
		cur.splits[r.Spec]++
		cur.lat += r.Total
		cur.dev += r.Device
		cur.edge += r.Edge
		cur.cloud += r.Cloud
		cur.net += r.Total - r.Device - r.Edge - r.Cloud
		cur.bytes += r.BytesUp
		cur.pred += r.Plan.Latency * 1e3
		if x != nil {
			out := r.Outputs[0].Tensor.F32()
			for k := 0; k < opts.Batch; k++ {
				res.Digits++
				if argmax(out[k*10:(k+1)*10]) == int(labels[lo+k]) {
					res.Correct++
				}
			}
		}
		if el := time.Since(start); el >= nextLine {
			flush(el)
			nextLine += opts.Interval
		}
	}
	if cur.n > 0 {
		flush(time.Since(start))
	}
	st := ad.Status()
	res.Switches = st.Switches
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	if n := len(all); n > 0 {
		res.P50 = all[(n-1)/2]
		res.P99 = all[min(n-1, (n*99+99)/100-1)]
	}

	fmt.Fprintf(w, "\ncolumns: link = true uplink Mbit/s, est = the device's estimate; split = cut indices (device|edge,cloud),\n"+
		"  '+' when several ran in the second; dev/edge/cloud = emulated compute ms, net = the rest (transfers, RPC, codecs);\n"+
		"  pred = planner's prediction for the split that ran; all-dev / all-cloud = predictions for those plans at the true link.\n")
	fmt.Fprintf(w, "\nsummary: %d requests (%d failed)", res.Requests, res.Failed)
	if res.Digits > 0 {
		fmt.Fprintf(w, ", %d digits, accuracy %.1f%%", res.Digits, 100*float64(res.Correct)/float64(res.Digits))
	}
	fmt.Fprintf(w, "; latency p50 %.2f ms, p99 %.2f ms\n", float64(res.P50)/1e6, float64(res.P99)/1e6)
	var splits []string
	for s := range res.Splits {
		splits = append(splits, s)
	}
	sort.Strings(splits)
	fmt.Fprintf(w, "requests per split:")
	for _, s := range splits {
		fmt.Fprintf(w, " %s=%d", s, res.Splits[s])
	}
	fmt.Fprintf(w, "\nplan switches: %d\n", len(res.Switches))
	for _, sw := range res.Switches {
		status := fmt.Sprintf("live at %.2fs", sw.Deployed.Seconds())
		if sw.Err != "" {
			status = "not deployed: " + sw.Err
		}
		est := ""
		if len(sw.Links) > 0 {
			est = fmt.Sprintf(", uplink estimate %.3g Mbit/s, RTT %.2g ms", sw.Links[0].Mbps, sw.Links[0].RTT*1e3)
		}
		fmt.Fprintf(w, "  %6.2fs  %s -> %s (%s%s; %s)\n", sw.Decided.Seconds(), node.SpecOf(sw.From), sw.Spec,
			sw.Reason, est, status)
		fmt.Fprintf(w, "           now: %s\n", sw.To)
	}
	return res, nil
}

func fmtSchedule(bw []float64) string {
	s := make([]string, len(bw))
	for i, b := range bw {
		s[i] = fmt.Sprint(b)
	}
	return strings.Join(s, " -> ")
}

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
