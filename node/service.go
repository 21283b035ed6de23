package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgedl/edgedl/node/repositorypb"
	"github.com/edgedl/edgedl/transport"
	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// service is the node's GRPCInferenceService: the transport server's, with
// ModelInfer and ModelMetadata going through the cache.
type service struct {
	pb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

var _ transport.Service = (*service)(nil)

func (v *service) ServerLive(ctx context.Context, r *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return v.s.ts.ServerLive(ctx, r)
}

func (v *service) ServerReady(ctx context.Context, r *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return v.s.ts.ServerReady(ctx, r)
}

func (v *service) ModelReady(ctx context.Context, r *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	return v.s.ts.ModelReady(ctx, r)
}

func (v *service) ServerMetadata(ctx context.Context, r *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	resp, err := v.s.ts.ServerMetadata(ctx, r)
	if err == nil {
		resp.Extensions = append(resp.Extensions, "model_repository", "edgedl_forwarding")
	}
	return resp, err
}

func (v *service) ModelMetadata(ctx context.Context, r *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	if !v.s.cache.has(r.GetName()) {
		return nil, v.s.notFound(r.GetName())
	}
	return v.s.ts.ModelMetadata(ctx, r)
}

func (v *service) ModelInfer(ctx context.Context, r *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	return v.s.modelInfer(ctx, r)
}

// notFound is the status for a piece the node does not hold: the client
// uploads it and retries.
func (s *Server) notFound(hash string) error {
	if !validHash(hash) {
		return status.Errorf(codes.NotFound, "node %s: no model %q: models are named by the hex SHA-256 of their ONNX bytes", s.cfg.Name, hash)
	}
	return status.Errorf(codes.NotFound, "node %s: no model %s (never uploaded, or evicted): upload it (RepositoryModelLoad, or PUT /v2/repository/models/%s) and retry",
		s.cfg.Name, hash, hash)
}

// callState carries one ModelInfer's forwarding request into the piece's
// run and its measurements back out.
type callState struct {
	p           *piece
	plan        string
	next        string
	nextCodec   codec.Codec
	nextTimeout time.Duration

	compute, emulated time.Duration
	forwarded         bool
	fwdErr            error
	nextCompute       time.Duration
	nextEmulated      time.Duration
	nextRPC           time.Duration
	nextOut, nextIn   int
}

type stateKey struct{}

// modelInfer runs a cached piece through the transport server (which
// validates and decodes the inputs and encodes the outputs), handing it
// the request's forwarding parameters in the context.
func (s *Server) modelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	start := time.Now()
	hash := req.GetModelName()
	p := s.cache.acquire(hash)
	if p == nil {
		return nil, s.notFound(hash)
	}
	defer s.cache.release(p)
	st := &callState{p: p}
	ps := req.GetParameters()
	st.plan = paramString(ps, ParamPlan)
	s.met.plan(st.plan)
	if st.next = paramString(ps, ParamNextModel); st.next != "" {
		if !validHash(st.next) {
			return nil, status.Errorf(codes.InvalidArgument, "node: %s must name a model by its hex SHA-256, got %q", ParamNextModel, st.next)
		}
		name := paramString(ps, ParamNextCodec)
		if name == "" {
			name = "fp32"
		}
		c, err := codec.Get(name)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "node: %s: %v", ParamNextCodec, err)
		}
		st.nextCodec = c
		if st.nextTimeout = paramDur(ps, ParamNextTimeout); st.nextTimeout < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "node: %s is negative", ParamNextTimeout)
		}
	}
	resp, err := s.ts.ModelInfer(context.WithValue(ctx, stateKey{}, st), req)
	s.met.latency.WithLabelValues(shortHash(hash), "request").Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	if resp.Parameters == nil {
		resp.Parameters = map[string]*pb.InferParameter{}
	}
	resp.Parameters[ParamComputeTime] = durParam(st.compute)
	resp.Parameters[ParamEmulatedTime] = durParam(st.emulated)
	if st.next != "" {
		resp.Parameters[ParamForwarded] = boolParam(st.forwarded)
		if st.forwarded {
			resp.Parameters[ParamNextComputeTime] = durParam(st.nextCompute)
			resp.Parameters[ParamNextEmulatedTime] = durParam(st.nextEmulated)
		}
		if st.nextOut > 0 {
			resp.Parameters[ParamNextRPCTime] = durParam(st.nextRPC)
			resp.Parameters[ParamNextBytesOut] = codec.Int64Param(int64(st.nextOut))
			resp.Parameters[ParamNextBytesIn] = codec.Int64Param(int64(st.nextIn))
		}
		if st.fwdErr != nil {
			resp.Parameters[ParamForwardError] = codec.StringParam(st.fwdErr.Error())
			resp.Parameters[ParamForwardCode] = codec.Int64Param(int64(status.Code(st.fwdErr)))
		}
	}
	return resp, nil
}

// runPiece is the transport.Model behind every cached piece.
func (s *Server) runPiece(ctx context.Context, inputs []transport.NamedTensor) ([]transport.NamedTensor, error) {
	st, _ := ctx.Value(stateKey{}).(*callState)
	if st == nil {
		return nil, status.Error(codes.Internal, "node: piece run outside ModelInfer")
	}
	label := shortHash(st.p.hash)
	clock := s.cfg.ComputeClock
	if st.p.batch != nil {
		clock = ClockWall // a batch may run on another request's goroutine
	}
	var outs []transport.NamedTensor
	raw, base, err := timeCompute(clock, func() (err error) {
		outs, err = st.p.run(inputs)
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "node %s: piece %s: %v", s.cfg.Name, label, err)
	}
	st.compute, st.emulated = raw, slowdown(ctx, s.cfg.Slowdown, base, raw)
	s.met.latency.WithLabelValues(label, "compute").Observe(raw.Seconds())
	s.met.latency.WithLabelValues(label, "emulated").Observe(st.emulated.Seconds())
	if st.next == "" {
		return outs, nil
	}
	fwd, err := s.forward(ctx, st, outs)
	s.met.forwards.WithLabelValues(forwardResult(err)).Inc()
	if err != nil {
		st.fwdErr = err
		s.log.Warn("forward failed; returning the intermediate activation", "piece", label,
			"next_piece", shortHash(st.next), "code", status.Code(err).String(), "err", err)
		return outs, nil
	}
	st.forwarded = true
	return fwd, nil
}

func forwardResult(err error) string {
	switch status.Code(err) {
	case codes.OK:
		return "ok"
	case codes.NotFound:
		return "not_found"
	case codes.Unavailable:
		return "unavailable"
	case codes.DeadlineExceeded:
		return "deadline"
	case codes.FailedPrecondition:
		return "no_next"
	}
	return "error"
}

// forward runs st.next on the next tier with acts, within the budget the
// request and the node's configuration allow.
func (s *Server) forward(ctx context.Context, st *callState, acts []transport.NamedTensor) ([]transport.NamedTensor, error) {
	if s.nextInfer == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "node %s: no next tier configured (--next)", s.cfg.Name)
	}
	budget := s.cfg.ForwardTimeout
	if st.nextTimeout > 0 {
		budget = st.nextTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		rem := time.Until(dl)
		reserve := max(rem/10, s.cfg.ForwardReserve)
		budget = min(budget, rem-reserve)
	}
	if budget <= 0 {
		return nil, status.Errorf(codes.DeadlineExceeded, "node %s: no time left in the request's deadline to forward", s.cfg.Name)
	}
	fctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	req, err := transport.NewInferRequest(st.next, acts, st.nextCodec)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "node %s: encode activation for the next tier: %v", s.cfg.Name, err)
	}
	if st.plan != "" {
		req.Parameters = map[string]*pb.InferParameter{ParamPlan: codec.StringParam(st.plan)}
	}
	st.nextOut = proto.Size(req)
	s.met.forwardBytes.WithLabelValues("out").Add(float64(st.nextOut))
	t0 := time.Now()
	resp, err := s.nextInfer.ModelInfer(fctx, req)
	st.nextRPC = time.Since(t0)
	if err != nil {
		if ctx.Err() == nil && errors.Is(fctx.Err(), context.DeadlineExceeded) {
			return nil, status.Errorf(codes.DeadlineExceeded, "node %s: next tier %s did not answer within %v", s.cfg.Name, s.cfg.Next, budget)
		}
		se := status.Convert(err)
		return nil, status.Errorf(se.Code(), "node %s: next tier %s: %s", s.cfg.Name, s.cfg.Next, se.Message())
	}
	st.nextIn = proto.Size(resp)
	s.met.forwardBytes.WithLabelValues("in").Add(float64(st.nextIn))
	outs, err := transport.DecodeOutputs(resp, s.cfg.Limits)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "node %s: next tier's response: %v", s.cfg.Name, err)
	}
	st.nextCompute = paramDur(resp.GetParameters(), ParamComputeTime)
	st.nextEmulated = paramDur(resp.GetParameters(), ParamEmulatedTime)
	return outs, nil
}

// Load stores an ONNX model (validated, compiled and test-run first) and
// returns its name, the hex SHA-256 of b: what an upload does.
func (s *Server) Load(b []byte) (string, error) {
	h := HashBytes(b)
	_, err := s.load(h, b)
	return h, err
}

// load validates, compiles and caches b under hash. Nothing is cached
// unless every check passes. added is false when hash was already held.
func (s *Server) load(hash string, b []byte) (added bool, err error) {
	if !validHash(hash) {
		s.met.uploads.WithLabelValues("rejected").Inc()
		return false, status.Errorf(codes.InvalidArgument, "node: model name %q is not a hex SHA-256 (64 lowercase hex digits of the ONNX bytes' digest)", hash)
	}
	if got := HashBytes(b); got != hash {
		s.met.uploads.WithLabelValues("rejected").Inc()
		return false, status.Errorf(codes.InvalidArgument, "node: the %d uploaded bytes hash to %s, not %s (truncated or corrupted upload?)", len(b), got, hash)
	}
	if s.cache.has(hash) {
		s.met.uploads.WithLabelValues("present").Inc()
		return false, nil
	}
	if 2*int64(len(b)) > s.cfg.CacheBytes {
		s.met.uploads.WithLabelValues("rejected").Inc()
		return false, status.Errorf(codes.ResourceExhausted, "node %s: a model of %d bytes cannot fit the %d-byte cache", s.cfg.Name, len(b), s.cfg.CacheBytes)
	}
	t0 := time.Now()
	p, err := compilePiece(hash, b, s.cfg.Threads)
	if err != nil {
		s.met.uploads.WithLabelValues("rejected").Inc()
		s.log.Warn("upload rejected", "piece", shortHash(hash), "bytes", len(b), "err", err)
		return false, status.Errorf(codes.InvalidArgument, "node %s: model %s rejected: %v", s.cfg.Name, shortHash(hash), err)
	}
	p.batch = newBatcher(p.sess, s.cfg.MaxBatch, s.cfg.BatchWait, s.cfg.Threads)
	if p.size > s.cfg.CacheBytes {
		p.sess.Close()
		s.met.uploads.WithLabelValues("rejected").Inc()
		return false, status.Errorf(codes.ResourceExhausted, "node %s: model %s needs about %d bytes, more than the %d-byte cache", s.cfg.Name, shortHash(hash), p.size, s.cfg.CacheBytes)
	}
	added, evicted := s.cache.insert(p)
	s.met.evictions.Add(float64(evicted))
	s.updateCacheGauges()
	if added {
		s.met.uploads.WithLabelValues("stored").Inc()
		s.log.Info("piece stored", "piece", shortHash(hash), "onnx_bytes", len(b), "footprint", p.size,
			"evicted", evicted, "compile", time.Since(t0))
	} else {
		s.met.uploads.WithLabelValues("present").Inc()
	}
	return added, nil
}

func (s *Server) updateCacheGauges() {
	ps, used := s.cache.snapshot()
	s.met.cacheBytes.Set(float64(used))
	s.met.cacheModels.Set(float64(len(ps)))
}

// Unload drops a cached piece; it reports whether it was held.
func (s *Server) Unload(hash string) bool {
	ok := s.cache.remove(hash)
	s.updateCacheGauges()
	return ok
}

// Models lists the cached pieces' hashes, most recently used first.
func (s *Server) Models() []string {
	ps, _ := s.cache.snapshot()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.hash
	}
	return out
}

// CacheBytes is the estimated memory of the cached pieces.
func (s *Server) CacheBytes() int64 {
	_, used := s.cache.snapshot()
	return used
}

// repoService is the model repository extension over gRPC.
type repoService struct {
	repositorypb.UnimplementedModelRepositoryServiceServer
	s *Server
}

func repoString(ps map[string]*repositorypb.ModelRepositoryParameter, key string) string {
	if p, ok := ps[key].GetParameterChoice().(*repositorypb.ModelRepositoryParameter_StringParam); ok {
		return p.StringParam
	}
	return ""
}

// RepositoryModelLoad stores the model in the "file:..." parameter under
// model_name (its hash); without a file it succeeds only if the node
// already holds model_name. With ParamTarget "next" it relays the request
// to the next tier.
func (r *repoService) RepositoryModelLoad(ctx context.Context, req *repositorypb.RepositoryModelLoadRequest) (*repositorypb.RepositoryModelLoadResponse, error) {
	s := r.s
	hash := req.GetModelName()
	if target := repoString(req.GetParameters(), ParamTarget); target != "" {
		if target != "next" {
			return nil, status.Errorf(codes.InvalidArgument, "node: %s must be \"next\", got %q", ParamTarget, target)
		}
		if s.nextRepo == nil {
			return nil, status.Errorf(codes.FailedPrecondition, "node %s: no next tier configured (--next)", s.cfg.Name)
		}
		fwd := proto.Clone(req).(*repositorypb.RepositoryModelLoadRequest)
		delete(fwd.Parameters, ParamTarget)
		resp, err := s.nextRepo.RepositoryModelLoad(ctx, fwd)
		if err != nil {
			st := status.Convert(err)
			return nil, status.Errorf(st.Code(), "node %s: relay to next tier %s: %s", s.cfg.Name, s.cfg.Next, st.Message())
		}
		return resp, nil
	}
	var file []byte
	files := 0
	for k, v := range req.GetParameters() {
		if strings.HasPrefix(k, "file:") {
			files++
			file = v.GetBytesParam()
		}
	}
	switch files {
	case 0:
		if s.cache.has(hash) {
			return &repositorypb.RepositoryModelLoadResponse{}, nil
		}
		return nil, s.notFound(hash)
	case 1:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "node: %d file parameters; send one (%q)", files, FileParam)
	}
	if _, err := s.load(hash, file); err != nil {
		return nil, err
	}
	return &repositorypb.RepositoryModelLoadResponse{}, nil
}

// RepositoryModelUnload drops a piece.
func (r *repoService) RepositoryModelUnload(_ context.Context, req *repositorypb.RepositoryModelUnloadRequest) (*repositorypb.RepositoryModelUnloadResponse, error) {
	if !r.s.Unload(req.GetModelName()) {
		return nil, r.s.notFound(req.GetModelName())
	}
	return &repositorypb.RepositoryModelUnloadResponse{}, nil
}

// RepositoryIndex lists the cached pieces, most recently used first.
func (r *repoService) RepositoryIndex(context.Context, *repositorypb.RepositoryIndexRequest) (*repositorypb.RepositoryIndexResponse, error) {
	ps, _ := r.s.cache.snapshot()
	resp := &repositorypb.RepositoryIndexResponse{}
	for _, p := range ps {
		resp.Models = append(resp.Models, &repositorypb.RepositoryIndexResponse_ModelIndex{
			Name: p.hash, Version: "1", State: "READY", Reason: fmt.Sprintf("%d bytes", p.size)})
	}
	return resp, nil
}
