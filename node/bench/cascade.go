package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/node"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/link"
)

// CascadeOptions configure RunCascade. Zero fields take the defaults.
type CascadeOptions struct {
	// Thresholds are the confidence thresholds to report (default 0.5,
	// 0.7, 0.9, 0.95, 0.99): an input whose small-model confidence (top
	// softmax probability) is below the threshold is offloaded.
	Thresholds []float64
	// Timed is how many inputs (the first ones) are sent through the
	// cascade over the network to measure latency and bytes (default 500;
	// negative: all). Accuracy and the offloaded fraction always cover
	// every input.
	Timed int
	// Mbps and RTT describe the device's uplink to the edge (default 10
	// Mbit/s, 20 ms); DeviceSlowdown and EdgeSlowdown scale this machine's
	// compute (default 8 and 2).
	Mbps                         float64
	RTT                          time.Duration
	DeviceSlowdown, EdgeSlowdown float64
	// Codec encodes the offloaded input (default fp32).
	Codec string
	// Threads is every session's intra-op thread count (default 1).
	Threads int
	// Logger receives the node's logs (default: discarded).
	Logger *slog.Logger
}

func (o *CascadeOptions) defaults() {
	if len(o.Thresholds) == 0 {
		o.Thresholds = []float64{0.5, 0.7, 0.9, 0.95, 0.99}
	}
	if o.Timed == 0 {
		o.Timed = 500
	}
	if o.Mbps <= 0 {
		o.Mbps = 10
	}
	if o.RTT <= 0 {
		o.RTT = 20 * time.Millisecond
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
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// CascadeRow is the cascade at one threshold: accuracy and offloaded
// fraction over every input (from partition.CascadePoint), and latency
// and uplink bytes.
type CascadeRow struct {
	Threshold float64 `json:"threshold"`
	Offloaded int     `json:"offloaded"`
	Fraction  float64 `json:"fraction_offloaded"`
	Accuracy  float64 `json:"accuracy"`
	// LocalAccuracy is the small model's accuracy on the inputs it kept
	// (nil when it kept none).
	LocalAccuracy *float64 `json:"local_accuracy"`
	// MeanMs and MeanBytesUp are the expected latency and uplink bytes
	// per input over every input: the measured mean small-model time plus
	// Fraction times the measured mean offload time (and bytes).
	MeanMs      float64 `json:"mean_latency_ms"`
	MeanBytesUp float64 `json:"mean_bytes_up"`
	// TimedMeanMs, P50Ms and P99Ms are over the timed inputs, each costing
	// its own measured requests; TimedOffloaded is how many of them were
	// offloaded.
	TimedMeanMs    float64 `json:"timed_mean_latency_ms"`
	P50Ms          float64 `json:"p50_latency_ms"`
	P99Ms          float64 `json:"p99_latency_ms"`
	TimedOffloaded int     `json:"timed_offloaded"`
}

// CascadeReport is RunCascade's result.
type CascadeReport struct {
	Small          string  `json:"small_model"`
	Big            string  `json:"big_model"`
	Inputs         int     `json:"inputs"`
	SmallAccuracy  float64 `json:"small_accuracy"`
	BigAccuracy    float64 `json:"big_accuracy"`
	Timed          int     `json:"timed_inputs"`
	Mbps           float64 `json:"uplink_mbps"`
	RTTMs          float64 `json:"rtt_ms"`
	DeviceSlowdown float64 `json:"device_slowdown"`
	EdgeSlowdown   float64 `json:"edge_slowdown"`
	Codec          string  `json:"codec"`
	// SmallMs is the mean device latency of the small model; OffloadMs
	// and OffloadBytesUp the mean latency and uplink bytes of one request
	// to the big model on the edge (over the timed inputs).
	SmallMs        float64 `json:"small_ms"`
	OffloadMs      float64 `json:"offload_ms"`
	OffloadBytesUp float64 `json:"offload_bytes_up"`
	// Mismatches counts timed inputs whose answer from the edge differed
	// from the big model run here (0 with a lossless codec).
	Mismatches int          `json:"remote_mismatches"`
	Rows       []CascadeRow `json:"rows"`
}

// RunCascade measures a two-model cascade (DDNN-style early exit, Sedna's
// joint inference): the small model runs on the device and inputs it is
// not confident about go to the big model on an edge node.
//
// Accuracy and the offloaded fraction come from running both models on
// every input here (images [N,...], labels its N classes). Latency and
// bytes are measured over real gRPC with an emulated uplink: each of the
// first Timed inputs runs once on the device (small model, Device with
// the device slowdown) and once as an offload (the big model, all on the
// edge node). A threshold's mean latency per input is the mean small-model
// time plus the offloaded fraction (of all inputs) times the mean offload
// time; its percentiles replay the timed inputs, each costing its own
// small-model request plus, if offloaded, its own offload request.
func RunCascade(ctx context.Context, small, big *graph.Model, images *tensor.Tensor, labels []uint8, opts CascadeOptions) (*CascadeReport, error) {
	opts.defaults()
	n := len(labels)
	if images == nil || len(images.Shape) == 0 || images.Shape[0] != n || n == 0 {
		return nil, fmt.Errorf("bench: cascade: need N > 0 images and N labels")
	}
	if images.DType != tensor.Float32 {
		return nil, fmt.Errorf("bench: cascade: images are %v, want float32", images.DType)
	}
	for _, th := range opts.Thresholds {
		if math.IsNaN(th) {
			return nil, fmt.Errorf("bench: cascade: threshold is NaN")
		}
	}
	smallOut, err := classify(small, images, opts.Threads)
	if err != nil {
		return nil, fmt.Errorf("bench: cascade: small model: %w", err)
	}
	bigOut, err := classify(big, images, opts.Threads)
	if err != nil {
		return nil, fmt.Errorf("bench: cascade: big model: %w", err)
	}
	samples := make([]partition.CascadeSample, n)
	rep := &CascadeReport{Inputs: n, Mbps: opts.Mbps, RTTMs: ms(opts.RTT), DeviceSlowdown: opts.DeviceSlowdown,
		EdgeSlowdown: opts.EdgeSlowdown, Codec: opts.Codec}
	for i := range samples {
		if int(labels[i]) >= smallOut.classes || int(labels[i]) >= bigOut.classes {
			return nil, fmt.Errorf("bench: cascade: label %d of input %d is not a class of the models", labels[i], i)
		}
		samples[i] = partition.CascadeSample{Confidence: smallOut.conf[i],
			SmallCorrect: smallOut.pred[i] == int(labels[i]), BigCorrect: bigOut.pred[i] == int(labels[i])}
		if samples[i].SmallCorrect {
			rep.SmallAccuracy++
		}
		if samples[i].BigCorrect {
			rep.BigAccuracy++
		}
	}
	rep.SmallAccuracy /= float64(n)
	rep.BigAccuracy /= float64(n)
	points := partition.Cascade(samples, opts.Thresholds)

	timed := opts.Timed
	if timed < 0 || timed > n {
		timed = n
	}
	rep.Timed = timed
	smallMs, offMs, offBytes, mism, err := timeCascade(ctx, small, big, images, bigOut.pred, timed, opts)
	if err != nil {
		return nil, err
	}
	rep.Mismatches = mism
	rep.SmallMs, rep.OffloadMs, rep.OffloadBytesUp = mean(smallMs), mean(offMs), mean(offBytes)
	for _, p := range points {
		row := CascadeRow{Threshold: p.Threshold, Offloaded: p.Offloaded, Fraction: p.Fraction, Accuracy: p.Accuracy}
		if !math.IsNaN(p.LocalAccuracy) {
			la := p.LocalAccuracy
			row.LocalAccuracy = &la
		}
		row.MeanMs = rep.SmallMs + p.Fraction*rep.OffloadMs
		row.MeanBytesUp = p.Fraction * rep.OffloadBytesUp
		lat := make([]float64, timed)
		for i := 0; i < timed; i++ {
			lat[i] = smallMs[i]
			if smallOut.conf[i] < p.Threshold {
				lat[i] += offMs[i]
				row.TimedOffloaded++
			}
		}
		if timed > 0 {
			row.TimedMeanMs = mean(lat)
			row.P50Ms, row.P99Ms = quantile(lat, 0.5), quantile(lat, 0.99)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// timeCascade measures, for each of the first timed inputs, the small
// model on the device and the big model on the edge (latency in ms, bytes
// up), and counts edge answers that differ from want.
func timeCascade(ctx context.Context, small, big *graph.Model, images *tensor.Tensor, want []int, timed int, opts CascadeOptions) (smallMs, offMs, offBytes []float64, mismatches int, err error) {
	token := randomToken()
	edge, addr, err := startNode(node.ServerConfig{Tier: "edge", Token: token, Threads: opts.Threads,
		Slowdown: opts.EdgeSlowdown, CacheBytes: 1 << 30, Logger: opts.Logger})
	if err != nil {
		return nil, nil, nil, 0, err
	}
	defer edge.Close()
	uplink := link.New(link.Profile{RTT: opts.RTT})
	dev, err := node.NewDevice(node.DeviceConfig{Model: small, Split: "device", Slowdown: opts.DeviceSlowdown,
		Threads: opts.Threads, Token: token, Logger: opts.Logger})
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("bench: cascade: small model: %w", err)
	}
	defer dev.Close()
	off, err := node.NewDevice(node.DeviceConfig{Model: big, Split: "edge", Edge: addr, EdgeDialer: uplink.Dial,
		Token: token, Codec: opts.Codec, Threads: opts.Threads, NoFallback: true, Retries: -1,
		Timeout: time.Minute, Logger: opts.Logger})
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("bench: cascade: big model: %w", err)
	}
	defer off.Close()
	// Upload and warm up at full link speed, then time at the set rate.
	if err := off.Prepare(ctx); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("bench: cascade: upload: %w", err)
	}
	first := images.Shape[1:]
	sample := func(i int) *tensor.Tensor {
		per := images.Len() / images.Shape[0]
		data := images.F32()[i*per : (i+1)*per]
		return tensor.Float32s(append([]int{1}, first...), append([]float32(nil), data...))
	}
	if _, err := off.Infer(ctx, []*tensor.Tensor{sample(0)}); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("bench: cascade: warm up: %w", err)
	}
	if _, err := dev.Infer(ctx, []*tensor.Tensor{sample(0)}); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("bench: cascade: warm up: %w", err)
	}
	uplink.Set(link.Symmetric(link.Bitrate(opts.Mbps)*link.Mbps, opts.RTT))
	for i := 0; i < timed; i++ {
		x := []*tensor.Tensor{sample(i)}
		r, err := dev.Infer(ctx, x)
		if err != nil {
			return nil, nil, nil, 0, fmt.Errorf("bench: cascade: input %d on the device: %w", i, err)
		}
		smallMs = append(smallMs, ms(r.Total))
		r, err = off.Infer(ctx, x)
		if err != nil {
			return nil, nil, nil, 0, fmt.Errorf("bench: cascade: input %d on the edge: %w", i, err)
		}
		offMs = append(offMs, ms(r.Total))
		offBytes = append(offBytes, float64(r.BytesUp))
		if len(r.Outputs) == 0 || r.Outputs[0].Tensor == nil {
			return nil, nil, nil, 0, fmt.Errorf("bench: cascade: input %d: the edge returned no output", i)
		}
		if p, _, _ := top1(r.Outputs[0].Tensor.F32()); p != want[i] {
			mismatches++
		}
	}
	return smallMs, offMs, offBytes, mismatches, nil
}

// classified is a model's answer on every input.
type classified struct {
	pred    []int
	conf    []float64 // top softmax probability
	classes int
}

// classify runs m on images in batches and returns its top-1 class and
// confidence per input. Outputs that are already probabilities (rows of
// non-negative numbers summing to 1) are not passed through softmax again.
func classify(m *graph.Model, images *tensor.Tensor, threads int) (*classified, error) {
	s, err := runtime.Compile(m, runtime.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if len(s.Inputs()) != 1 {
		return nil, fmt.Errorf("model takes %d inputs, want 1 (an image batch)", len(s.Inputs()))
	}
	n := images.Shape[0]
	per := images.Len() / n
	out := &classified{}
	const batch = 250
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		shape := append([]int{hi - lo}, images.Shape[1:]...)
		x := tensor.Float32s(shape, images.F32()[lo*per:hi*per])
		res, err := s.RunOrdered([]*tensor.Tensor{x}, nil)
		if err != nil {
			return nil, err
		}
		y := res[0]
		if y.DType != tensor.Float32 || len(y.Shape) != 2 || y.Shape[0] != hi-lo || y.Shape[1] < 2 {
			return nil, fmt.Errorf("output is %v%v, want float32 [batch, classes]", y.DType, y.Shape)
		}
		k := y.Shape[1]
		out.classes = k
		v := y.F32()
		for i := 0; i < hi-lo; i++ {
			p, c, ok := top1(v[i*k : (i+1)*k])
			if !ok {
				return nil, fmt.Errorf("input %d: output is not finite", lo+i)
			}
			out.pred = append(out.pred, p)
			out.conf = append(out.conf, c)
		}
	}
	return out, nil
}

// top1 returns the index and probability of the largest entry of a row of
// logits (or of probabilities, which it recognises and keeps); ok is false
// if the row has a non-finite value.
func top1(row []float32) (arg int, prob float64, ok bool) {
	sum, lo := 0.0, math.Inf(1)
	for i, v := range row {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, 0, false
		}
		if v > row[arg] {
			arg = i
		}
		sum += f
		lo = min(lo, f)
	}
	if lo >= 0 && math.Abs(sum-1) < 1e-3 {
		return arg, float64(row[arg]), true
	}
	var z float64
	for _, v := range row {
		z += math.Exp(float64(v - row[arg]))
	}
	return arg, 1 / z, true
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// quantile returns the q-quantile (nearest rank) of v (not modified).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(len(s)-1, i))]
}

// WriteCascadeTable prints the report as a table.
func WriteCascadeTable(w io.Writer, rep *CascadeReport) {
	small, big := rep.Small, rep.Big
	if small == "" {
		small = "model"
	}
	if big == "" {
		big = "model"
	}
	fmt.Fprintf(w, "small %s on the device (%gx): %.2f%% on %d inputs; big %s on the edge (%gx): %.2f%%\n",
		small, rep.DeviceSlowdown, 100*rep.SmallAccuracy, rep.Inputs, big, rep.EdgeSlowdown, 100*rep.BigAccuracy)
	fmt.Fprintf(w, "uplink %g Mbit/s, RTT %g ms, codec %s; latency and bytes measured over gRPC on the first %d inputs:\n",
		rep.Mbps, rep.RTTMs, rep.Codec, rep.Timed)
	fmt.Fprintf(w, "small model %.2f ms per input; an offload %.2f ms and %.0f bytes up", rep.SmallMs, rep.OffloadMs, rep.OffloadBytesUp)
	if rep.Mismatches > 0 {
		fmt.Fprintf(w, "; %d offloaded answers differ from the big model run here", rep.Mismatches)
	}
	fmt.Fprintf(w, "\nmean ms and bytes up: expected per input over all inputs; p50/p99: over the timed inputs\n\n")
	fmt.Fprintf(w, "%9s %10s %10s %9s %9s %9s %9s %11s\n", "threshold", "offloaded", "accuracy", "local acc",
		"mean ms", "p50 ms", "p99 ms", "bytes up")
	for _, r := range rep.Rows {
		local := "-"
		if r.LocalAccuracy != nil {
			local = fmt.Sprintf("%.2f%%", 100**r.LocalAccuracy)
		}
		fmt.Fprintf(w, "%9.4g %9.2f%% %9.2f%% %9s %9.2f %9.2f %9.2f %11.1f\n", r.Threshold, 100*r.Fraction,
			100*r.Accuracy, local, r.MeanMs, r.P50Ms, r.P99Ms, r.MeanBytesUp)
	}
}
