package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/node/repositorypb"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport"
	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// Defaults of DeviceConfig.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultCooldown = time.Second
)

// DeviceConfig configures a Device (`edgedl infer`).
type DeviceConfig struct {
	// Model is the whole model; Split says where to cut it (see
	// SplitModel: "device", "edge", "cloud", "K", "K1,K2", tensor names).
	Model *graph.Model
	Split string
	// Pieces, when set, are used instead of cutting Model by Split (a
	// planner's output, e.g. from partition.SplitN). Pieces.Spec is
	// reported to the nodes.
	Pieces *Pieces

	// Edge and Cloud are the tiers' gRPC addresses. A split with an edge
	// piece needs Edge; one with a cloud piece needs Edge (the edge
	// forwards to its --next) or Cloud. With both, the device also tries
	// the cloud itself when the edge cannot forward.
	Edge, Cloud string
	// Token is the bearer token sent to the nodes.
	Token string
	// TLS configures TLS to the nodes (none when empty).
	TLS TLSFiles
	// EdgeDialer and CloudDialer, when set, open the connections (e.g. an
	// emulated link's Dial).
	EdgeDialer, CloudDialer Dialer
	// MaxMessageBytes bounds gRPC messages (default 64 MiB).
	MaxMessageBytes int

	// Codec encodes the activation the device sends ("fp32" default;
	// "fp16", "int8", "int8c", each optionally "+zstd" or "+lz4").
	// NextCodec is the one the edge uses towards the cloud (default Codec).
	Codec, NextCodec string

	// Timeout bounds the time one request spends on remote tiers (default
	// 5 s); past it the device finishes locally. ForwardTimeout, when set,
	// bounds the edge's wait for the cloud (the edge's own default
	// otherwise).
	Timeout, ForwardTimeout time.Duration
	// Retries is how many times a call that failed with Unavailable is
	// repeated before falling back (0: 1; negative: none). A NotFound
	// answer is followed by an upload and one more try, always.
	Retries int
	// Cooldown is how long a tier that was unreachable or too slow is
	// skipped (requests go straight to the local fallback) before it is
	// tried again (default 1 s; negative: always try).
	Cooldown time.Duration
	// NoFallback makes remote failures errors instead of finishing
	// locally (the device then compiles only its own piece).
	NoFallback bool

	// Slowdown emulates a slower device, as ServerConfig.Slowdown, on the
	// ComputeClock (ClockWall by default, or ClockCPU).
	Slowdown     float64
	ComputeClock string
	// Threads is the local sessions' intra-op thread count (default 1).
	Threads int

	// Observer receives one transport.Sample per RPC (inferences and
	// uploads): the bytes and time of each transfer, for a bandwidth
	// estimator.
	Observer transport.Observer
	// CloudObserver, when set, receives the samples of the direct
	// connection to the cloud instead of Observer (to tell the hops apart).
	CloudObserver transport.Observer
	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
}

// Device runs split inference from the device's side: its own piece
// locally, the rest on the edge (and through it the cloud), with uploads,
// retries and local failover. It is safe for concurrent use.
type Device struct {
	cfg        DeviceConfig
	log        *slog.Logger
	pieces     [3]*devPiece // device, edge, cloud; nil when empty
	codec      codec.Codec
	nextCodec  string
	edge       *tierConn
	cloud      *tierConn
	plan       string
	inputs     []graph.ValueInfo
	outputs    []string
	retries    int
	sessions   []*runtime.Session
	closeOnce  sync.Once
	closeError error
}

// devPiece is one piece as the device holds it.
type devPiece struct {
	tier    string
	enc     *encodedPiece    // remote pieces: bytes and hash
	sess    *runtime.Session // nil for remote pieces under NoFallback
	inputs  []string
	outputs []string
}

// tierConn is the device's connection to one tier, with its circuit
// breaker.
type tierConn struct {
	name     string
	cc       *grpc.ClientConn
	infer    pb.GRPCInferenceServiceClient
	repo     repositorypb.ModelRepositoryServiceClient
	uploadMu sync.Mutex

	mu        sync.Mutex
	downUntil time.Time
}

func (t *tierConn) available() bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return !time.Now().Before(t.downUntil)
}

// fail marks the tier down for cooldown after a network-like failure.
func (t *tierConn) fail(err error, cooldown time.Duration) {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
	default:
		return
	}
	if cooldown <= 0 {
		return
	}
	t.mu.Lock()
	t.downUntil = time.Now().Add(cooldown)
	t.mu.Unlock()
}

func (t *tierConn) ok() {
	t.mu.Lock()
	t.downUntil = time.Time{}
	t.mu.Unlock()
}

// NewDevice cuts the model, compiles the local pieces (all of them unless
// NoFallback: any may have to run locally) and opens lazy connections to
// the tiers. Call Prepare to upload the remote pieces ahead of the first
// request, and Close when done.
func NewDevice(cfg DeviceConfig) (*Device, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.Codec == "" {
		cfg.Codec = "fp32"
	}
	if cfg.NextCodec == "" {
		cfg.NextCodec = cfg.Codec
	}
	if err := checkClock(cfg.ComputeClock); err != nil {
		return nil, err
	}
	if cfg.Slowdown < 0 {
		return nil, fmt.Errorf("node: slowdown %v is negative", cfg.Slowdown)
	}
	c, err := codec.Get(cfg.Codec)
	if err != nil {
		return nil, fmt.Errorf("node: codec: %w", err)
	}
	if _, err := codec.Get(cfg.NextCodec); err != nil {
		return nil, fmt.Errorf("node: next codec: %w", err)
	}
	ps := cfg.Pieces
	if ps == nil {
		if ps, err = SplitModel(cfg.Model, cfg.Split, cfg.Threads); err != nil {
			return nil, err
		}
	}
	d := &Device{cfg: cfg, log: cfg.Logger.With("role", "device"), codec: c, nextCodec: cfg.NextCodec, plan: ps.Spec,
		retries: cfg.Retries}
	switch {
	case d.retries == 0:
		d.retries = 1
	case d.retries < 0:
		d.retries = 0
	}
	for i, m := range []*graph.Model{ps.Device, ps.Edge, ps.Cloud} {
		if m == nil {
			continue
		}
		p := &devPiece{tier: [...]string{"device", "edge", "cloud"}[i]}
		for _, v := range m.Graph.Inputs {
			p.inputs = append(p.inputs, v.Name)
		}
		for _, v := range m.Graph.Outputs {
			p.outputs = append(p.outputs, v.Name)
		}
		if i > 0 {
			if p.enc, err = encodePiece(m); err != nil {
				d.Close()
				return nil, err
			}
		}
		if i == 0 || !cfg.NoFallback {
			if p.sess, err = runtime.Compile(m, runtime.Options{Threads: cfg.Threads, Logger: cfg.Logger}); err != nil {
				d.Close()
				return nil, fmt.Errorf("node: compile %s piece: %w", p.tier, err)
			}
			d.sessions = append(d.sessions, p.sess)
		}
		d.pieces[i] = p
	}
	var first, last *devPiece
	for _, p := range d.pieces {
		if p != nil {
			if first == nil {
				first = p
			}
			last = p
		}
	}
	if first == nil {
		return nil, errors.New("node: the split has no pieces")
	}
	if cfg.Model != nil {
		d.inputs = cfg.Model.Graph.Inputs
		for _, v := range cfg.Model.Graph.Outputs {
			d.outputs = append(d.outputs, v.Name)
		}
	} else {
		d.inputs = firstModel(ps).Graph.Inputs
		d.outputs = last.outputs
	}
	if d.pieces[1] != nil && cfg.Edge == "" {
		d.Close()
		return nil, fmt.Errorf("node: split %q puts a piece on the edge: an edge address is needed", ps.Spec)
	}
	if d.pieces[2] != nil && cfg.Edge == "" && cfg.Cloud == "" {
		d.Close()
		return nil, fmt.Errorf("node: split %q puts a piece in the cloud: an edge (that forwards) or a cloud address is needed", ps.Spec)
	}
	if d.pieces[2] != nil && d.pieces[1] == nil && cfg.Cloud == "" {
		d.Close()
		return nil, fmt.Errorf("node: split %q leaves the edge empty: the device sends to the cloud directly and needs its address", ps.Spec)
	}
	open := func(name, addr string, dialer Dialer, obs transport.Observer) (*tierConn, error) {
		if addr == "" {
			return nil, nil
		}
		cc, err := dial(dialConfig{addr: addr, token: cfg.Token, tls: cfg.TLS, dialer: dialer,
			observer: obs, maxMsg: cfg.MaxMessageBytes})
		if err != nil {
			return nil, err
		}
		return &tierConn{name: name, cc: cc, infer: pb.NewGRPCInferenceServiceClient(cc),
			repo: repositorypb.NewModelRepositoryServiceClient(cc)}, nil
	}
	if d.edge, err = open("edge", cfg.Edge, cfg.EdgeDialer, cfg.Observer); err != nil {
		d.Close()
		return nil, err
	}
	cloudObs := cfg.Observer
	if cfg.CloudObserver != nil {
		cloudObs = cfg.CloudObserver
	}
	if d.cloud, err = open("cloud", cfg.Cloud, cfg.CloudDialer, cloudObs); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func firstModel(ps *Pieces) *graph.Model {
	for _, m := range []*graph.Model{ps.Device, ps.Edge, ps.Cloud} {
		if m != nil {
			return m
		}
	}
	return nil
}

// Close closes the connections and the local sessions.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		for _, t := range []*tierConn{d.edge, d.cloud} {
			if t != nil {
				if err := t.cc.Close(); err != nil && d.closeError == nil {
					d.closeError = err
				}
			}
		}
		for _, s := range d.sessions {
			s.Close()
		}
	})
	return d.closeError
}

// Plan is the split the device runs ("3,8", "edge", ...).
func (d *Device) Plan() string { return d.plan }

// PieceHashes returns the hashes of the edge and cloud pieces ("" when
// empty): the model names the nodes serve them under.
func (d *Device) PieceHashes() (edge, cloud string) {
	if p := d.pieces[1]; p != nil {
		edge = p.enc.hash
	}
	if p := d.pieces[2]; p != nil {
		cloud = p.enc.hash
	}
	return edge, cloud
}

// Prepare uploads the remote pieces the tiers lack: the edge piece to the
// edge, the cloud piece to the cloud (directly when Cloud is set, else
// relayed by the edge to its next tier). Requests upload on demand anyway;
// Prepare takes that cost (and its risk of a timeout) out of the first
// request.
func (d *Device) Prepare(ctx context.Context) error {
	if p := d.pieces[1]; p != nil {
		if _, err := d.ensure(ctx, d.edge, p.enc, false); err != nil {
			return err
		}
	}
	if p := d.pieces[2]; p != nil {
		if d.cloud != nil {
			_, err := d.ensure(ctx, d.cloud, p.enc, false)
			return err
		}
		_, err := d.ensure(ctx, d.edge, p.enc, true)
		return err
	}
	return nil
}

// ensure loads enc on t (relayed to t's next tier when relay is set),
// sending the bytes only when t does not hold it. It returns the bytes
// sent.
func (d *Device) ensure(ctx context.Context, t *tierConn, enc *encodedPiece, relay bool) (int, error) {
	req := &repositorypb.RepositoryModelLoadRequest{ModelName: enc.hash, Parameters: map[string]*repositorypb.ModelRepositoryParameter{}}
	if relay {
		req.Parameters[ParamTarget] = &repositorypb.ModelRepositoryParameter{
			ParameterChoice: &repositorypb.ModelRepositoryParameter_StringParam{StringParam: "next"}}
	}
	if _, err := t.repo.RepositoryModelLoad(ctx, req); err == nil {
		return 0, nil
	} else if status.Code(err) != codes.NotFound {
		return 0, fmt.Errorf("node: check piece %s on %s: %w", shortHash(enc.hash), t.name, err)
	}
	return d.upload(ctx, t, enc, relay)
}

// upload sends enc to t.
func (d *Device) upload(ctx context.Context, t *tierConn, enc *encodedPiece, relay bool) (int, error) {
	t.uploadMu.Lock()
	defer t.uploadMu.Unlock()
	req := &repositorypb.RepositoryModelLoadRequest{ModelName: enc.hash, Parameters: map[string]*repositorypb.ModelRepositoryParameter{
		FileParam: {ParameterChoice: &repositorypb.ModelRepositoryParameter_BytesParam{BytesParam: enc.bytes}}}}
	where := t.name
	if relay {
		req.Parameters[ParamTarget] = &repositorypb.ModelRepositoryParameter{
			ParameterChoice: &repositorypb.ModelRepositoryParameter_StringParam{StringParam: "next"}}
		where += " (relayed to its next tier)"
	}
	t0 := time.Now()
	if _, err := t.repo.RepositoryModelLoad(ctx, req); err != nil {
		return 0, fmt.Errorf("node: upload piece %s to %s: %w", shortHash(enc.hash), where, err)
	}
	d.log.Info("piece uploaded", "piece", shortHash(enc.hash), "to", where, "bytes", len(enc.bytes), "took", time.Since(t0))
	return proto.Size(req), nil
}

// Result is one inference's outputs and measurements.
type Result struct {
	// Outputs are the model's outputs, in the model's order.
	Outputs []transport.NamedTensor
	Timings
}

// Timings says where one request ran and what it cost. Durations marked
// "emulated" include the tiers' slowdown factors; the Raw ones are
// measured compute times.
type Timings struct {
	// Path lists the tiers that ran pieces, in order ("device>edge>cloud";
	// local fallback runs count as "device").
	Path string `json:"path"`
	// Fallback is set when a remote tier failed or was skipped and the
	// device finished locally; FallbackReason says why.
	Fallback       bool   `json:"fallback"`
	FallbackReason string `json:"fallback_reason,omitempty"`
	// ForwardError is the edge's reason for not forwarding, when it did
	// not.
	ForwardError string `json:"forward_error,omitempty"`

	Total     time.Duration `json:"total_ns"`
	Device    time.Duration `json:"device_ns"` // emulated
	DeviceRaw time.Duration `json:"device_raw_ns"`
	Edge      time.Duration `json:"edge_ns"` // emulated
	EdgeRaw   time.Duration `json:"edge_raw_ns"`
	Cloud     time.Duration `json:"cloud_ns"` // emulated
	CloudRaw  time.Duration `json:"cloud_raw_ns"`
	// RPC is the device's time in inference calls; Network is RPC less the
	// time the first server reported spending (transfer and queueing);
	// EdgeCloud is the edge's round trip to the cloud, EdgeCloudBytes the
	// size of the request it forwarded.
	RPC            time.Duration `json:"rpc_ns"`
	Network        time.Duration `json:"network_ns"`
	EdgeCloud      time.Duration `json:"edge_cloud_ns"`
	EdgeCloudBytes int64         `json:"edge_cloud_bytes"`

	// BytesUp and BytesDown are the inference messages the device sent and
	// received (every attempt; gRPC frames, headers excluded);
	// UploadBytes the model uploads.
	BytesUp     int64 `json:"bytes_up"`
	BytesDown   int64 `json:"bytes_down"`
	UploadBytes int64 `json:"upload_bytes"`
	// Attempts counts inference RPCs, Uploads model uploads.
	Attempts int `json:"attempts"`
	Uploads  int `json:"uploads"`
}

func (t *Timings) ran(tier string) {
	if t.Path == "" {
		t.Path = tier
	} else if !strings.HasSuffix(t.Path, tier) {
		t.Path += ">" + tier
	}
}

// Infer runs one request: the device's piece, then the remote pieces, and
// whatever the remote tiers could not do, locally. inputs follow the
// model's input order. It fails only if ctx ends, a local piece fails, or
// NoFallback is set and a remote tier fails.
func (d *Device) Infer(ctx context.Context, inputs []*tensor.Tensor) (*Result, error) {
	start := time.Now()
	if len(inputs) != len(d.inputs) {
		return nil, fmt.Errorf("node: %d inputs, the model takes %d", len(inputs), len(d.inputs))
	}
	r := &Result{}
	acts := make([]transport.NamedTensor, len(inputs))
	for i, t := range inputs {
		acts[i] = transport.NamedTensor{Name: d.inputs[i].Name, Tensor: t}
	}
	var err error
	if p := d.pieces[0]; p != nil {
		if acts, err = d.local(ctx, p, acts, &r.Timings); err != nil {
			return nil, err
		}
	}
	stage := 1
	if d.pieces[1] != nil || d.pieces[2] != nil {
		acts, stage, err = d.remote(ctx, acts, &r.Timings)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("node: request abandoned: %w", ctx.Err())
			}
			if d.cfg.NoFallback {
				return nil, err
			}
			r.Fallback, r.FallbackReason = true, err.Error()
		}
	}
	for i := stage; i < 3; i++ {
		if p := d.pieces[i]; p != nil {
			if acts, err = d.local(ctx, p, acts, &r.Timings); err != nil {
				return nil, err
			}
		}
	}
	if r.Outputs, err = d.order(acts); err != nil {
		return nil, err
	}
	r.Total = time.Since(start)
	return r, nil
}

// order puts outputs in the model's order.
func (d *Device) order(acts []transport.NamedTensor) ([]transport.NamedTensor, error) {
	out := make([]transport.NamedTensor, len(d.outputs))
	for i, name := range d.outputs {
		found := false
		for _, a := range acts {
			if a.Name == name {
				out[i], found = a, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("node: output %q missing from the last piece's results", name)
		}
	}
	return out, nil
}

// local runs p on the device.
func (d *Device) local(ctx context.Context, p *devPiece, acts []transport.NamedTensor, t *Timings) ([]transport.NamedTensor, error) {
	if p.sess == nil {
		return nil, fmt.Errorf("node: the %s piece is not compiled on the device (NoFallback)", p.tier)
	}
	byName := make(map[string]*tensor.Tensor, len(acts))
	for _, a := range acts {
		byName[a.Name] = a.Tensor
	}
	in := make([]*tensor.Tensor, len(p.inputs))
	for i, n := range p.inputs {
		if in[i] = byName[n]; in[i] == nil {
			return nil, fmt.Errorf("node: %s piece: missing input %q", p.tier, n)
		}
	}
	var outs []*tensor.Tensor
	raw, base, err := timeCompute(d.cfg.ComputeClock, func() (err error) {
		outs, err = p.sess.RunOrdered(in, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("node: %s piece on the device: %w", p.tier, err)
	}
	t.DeviceRaw += raw
	t.Device += slowdown(ctx, d.cfg.Slowdown, base, raw)
	t.ran("device")
	named := make([]transport.NamedTensor, len(outs))
	for i, o := range outs {
		named[i] = transport.NamedTensor{Name: p.outputs[i], Tensor: o}
	}
	return named, nil
}

var errCooldown = errors.New("skipped: failed recently (cooling down)")

// remote runs the edge and cloud pieces remotely. It returns the
// activation, the index of the first piece still to run (3: done), and
// why it stopped early. When the edge fails but the cloud is reachable, it
// runs the edge's piece on the device and sends the result to the cloud
// (recording the fallback in t).
func (d *Device) remote(ctx context.Context, acts []transport.NamedTensor, t *Timings) ([]transport.NamedTensor, int, error) {
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var why error // an earlier tier's failure, reported with the cloud's
	if ep := d.pieces[1]; ep != nil {
		out, done, err := d.viaEdge(rctx, ep, acts, t)
		switch {
		case err == nil && done:
			return out, 3, nil
		case err == nil: // the edge ran its piece but did not forward
			acts = out
			why = fmt.Errorf("node: edge could not forward: %s", t.ForwardError)
		default:
			if d.pieces[2] == nil || d.cfg.NoFallback || !d.cloud.available() || ctx.Err() != nil {
				return acts, 1, err
			}
			// Take over the edge's piece, then try the cloud.
			local, lerr := d.local(ctx, ep, acts, t)
			if lerr != nil {
				return acts, 1, lerr
			}
			acts, why = local, err
			t.Fallback, t.FallbackReason = true, err.Error()
		}
		if !d.cloud.available() {
			return acts, 2, why
		}
	} else if !d.cloud.available() {
		return acts, 2, fmt.Errorf("node: cloud %s %w", d.cfg.Cloud, errCooldown)
	}
	out, resp, err := d.call(rctx, d.cloud, d.pieces[2], acts, "", t)
	if err != nil {
		d.cloud.fail(err, d.cfg.Cooldown)
		err = fmt.Errorf("node: cloud %s: %w", d.cfg.Cloud, err)
		if why != nil {
			err = fmt.Errorf("%w; then %w", why, err)
		}
		return acts, 2, err
	}
	d.cloud.ok()
	ps := resp.GetParameters()
	t.Cloud += paramDur(ps, ParamEmulatedTime)
	t.CloudRaw += paramDur(ps, ParamComputeTime)
	t.ran("cloud")
	return out, 3, nil
}

// viaEdge runs the edge piece on the edge, asking it to forward to the
// cloud when there is a cloud piece. done reports that out holds the
// model's outputs; otherwise out is the edge's activation and
// t.ForwardError says why it was not forwarded.
func (d *Device) viaEdge(ctx context.Context, ep *devPiece, acts []transport.NamedTensor, t *Timings) (out []transport.NamedTensor, done bool, err error) {
	if !d.edge.available() {
		return nil, false, fmt.Errorf("node: edge %s %w", d.cfg.Edge, errCooldown)
	}
	next := ""
	if cp := d.pieces[2]; cp != nil {
		next = cp.enc.hash
	}
	out, resp, err := d.call(ctx, d.edge, ep, acts, next, t)
	if err != nil {
		d.edge.fail(err, d.cfg.Cooldown)
		return nil, false, fmt.Errorf("node: edge %s: %w", d.cfg.Edge, err)
	}
	d.edge.ok()
	ps := resp.GetParameters()
	t.Edge += paramDur(ps, ParamEmulatedTime)
	t.EdgeRaw += paramDur(ps, ParamComputeTime)
	t.ran("edge")
	if next == "" {
		return out, true, nil
	}
	t.EdgeCloud += paramDur(ps, ParamNextRPCTime)
	t.EdgeCloudBytes += paramInt(ps, ParamNextBytesOut)
	if fw, _ := paramBool(ps, ParamForwarded); fw {
		t.Cloud += paramDur(ps, ParamNextEmulatedTime)
		t.CloudRaw += paramDur(ps, ParamNextComputeTime)
		t.ran("cloud")
		return out, true, nil
	}
	t.ForwardError = paramString(ps, ParamForwardError)
	if codes.Code(paramInt(ps, ParamForwardCode)) == codes.NotFound && d.cloud == nil {
		// Put the piece on the cloud through the edge for the next
		// requests; this one goes on without it.
		if n, err := d.upload(ctx, d.edge, d.pieces[2].enc, true); err == nil {
			t.Uploads++
			t.UploadBytes += int64(n)
		} else {
			d.log.Warn("relayed upload failed", "err", err)
		}
	}
	return out, false, nil
}

// call runs piece p on tier tc, uploading it on NotFound and retrying on
// Unavailable.
func (d *Device) call(ctx context.Context, tc *tierConn, p *devPiece, acts []transport.NamedTensor, next string, t *Timings) ([]transport.NamedTensor, *pb.ModelInferResponse, error) {
	req, err := transport.NewInferRequest(p.enc.hash, acts, d.codec)
	if err != nil {
		return nil, nil, fmt.Errorf("node: encode activation: %w", err)
	}
	req.Parameters = map[string]*pb.InferParameter{}
	if d.plan != "" {
		req.Parameters[ParamPlan] = codec.StringParam(d.plan)
	}
	if next != "" {
		req.Parameters[ParamNextModel] = codec.StringParam(next)
		req.Parameters[ParamNextCodec] = codec.StringParam(d.nextCodec)
		if d.cfg.ForwardTimeout > 0 {
			req.Parameters[ParamNextTimeout] = durParam(d.cfg.ForwardTimeout)
		}
	}
	size := int64(proto.Size(req)) + 5 // gRPC frame header
	uploaded := false
	for attempt := 0; ; attempt++ {
		t.Attempts++
		t.BytesUp += size
		t0 := time.Now()
		resp, err := tc.infer.ModelInfer(ctx, req)
		rpc := time.Since(t0)
		t.RPC += rpc
		if err == nil {
			t.BytesDown += int64(proto.Size(resp)) + 5
			t.Network += rpc - paramDur(resp.GetParameters(), transport.ParamServerTime)
			outs, err := transport.DecodeOutputs(resp, transport.Limits{})
			if err != nil {
				return nil, nil, fmt.Errorf("node: %s's response: %w", tc.name, err)
			}
			return outs, resp, nil
		}
		code := status.Code(err)
		if code == codes.NotFound && !uploaded && ctx.Err() == nil {
			uploaded = true
			n, uerr := d.upload(ctx, tc, p.enc, false)
			if uerr != nil {
				return nil, nil, uerr
			}
			t.Uploads++
			t.UploadBytes += int64(n)
			continue
		}
		if code == codes.Unavailable && attempt < d.retries && ctx.Err() == nil {
			backoff := time.NewTimer(time.Duration(5<<attempt) * time.Millisecond)
			select {
			case <-backoff.C:
			case <-ctx.Done():
				backoff.Stop()
			}
			continue
		}
		return nil, nil, err
	}
}
