package transport

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/stats"

	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// Sample is one real transfer: an RPC's bytes and how long it took. A
// bandwidth estimator (written elsewhere) turns samples into a link
// estimate; Throughput is the naive one.
type Sample struct {
	Method string    // full gRPC method, e.g. "/inference.GRPCInferenceService/ModelInfer"
	At     time.Time // when the RPC began
	// Sent and Received are the bytes on the wire (gRPC message frames,
	// after any gRPC compression); headers and trailers are not counted.
	Sent, Received int64
	// Duration runs from the RPC's start to its end.
	Duration time.Duration
	// ServerTime is the time the server reported spending on the request
	// (ParamServerTime), 0 when it did not report one.
	ServerTime time.Duration
	// Err reports a failed RPC; its bytes still crossed the link.
	Err error
}

// Throughput is (Sent + Received) per second of Duration minus ServerTime,
// in bytes per second; 0 when that time is not positive.
func (s Sample) Throughput() float64 {
	d := s.Duration - s.ServerTime
	if d <= 0 {
		return 0
	}
	return float64(s.Sent+s.Received) / d.Seconds()
}

// Observer receives samples. Observe is called on the RPC's goroutine
// after the RPC ends; it must be quick and safe for concurrent use.
type Observer interface {
	Observe(Sample)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Sample)

// Observe calls f(s).
func (f ObserverFunc) Observe(s Sample) { f(s) }

// Recorder is an Observer that keeps every sample (for tests and tools).
type Recorder struct {
	mu      sync.Mutex
	samples []Sample
}

// Observe appends s.
func (r *Recorder) Observe(s Sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

// Samples returns a copy of the samples so far.
func (r *Recorder) Samples() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Sample(nil), r.samples...)
}

// StatsHandler returns a gRPC stats handler that reports one Sample per RPC
// to obs. Install it on a client with grpc.WithStatsHandler (the usual
// place: the side that wants to know its uplink) or on a server with
// grpc.StatsHandler.
func StatsHandler(obs Observer) stats.Handler { return &statsHandler{obs: obs} }

type statsHandler struct{ obs Observer }

type rpcKey struct{}

type rpcState struct {
	mu     sync.Mutex
	sample Sample
}

func (h *statsHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, rpcKey{}, &rpcState{sample: Sample{Method: info.FullMethodName}})
}

func (h *statsHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	st, ok := ctx.Value(rpcKey{}).(*rpcState)
	if !ok {
		return
	}
	st.mu.Lock()
	switch e := s.(type) {
	case *stats.Begin:
		st.sample.At = e.BeginTime
	case *stats.OutPayload:
		st.sample.Sent += int64(e.WireLength)
	case *stats.InPayload:
		st.sample.Received += int64(e.WireLength)
		if resp, ok := e.Payload.(*pb.ModelInferResponse); ok {
			st.sample.ServerTime = time.Duration(resp.GetParameters()[ParamServerTime].GetInt64Param())
		}
	case *stats.End:
		st.sample.Duration = e.EndTime.Sub(e.BeginTime)
		st.sample.Err = e.Error
		sample := st.sample
		st.mu.Unlock()
		h.obs.Observe(sample)
		return
	}
	st.mu.Unlock()
}

func (h *statsHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (h *statsHandler) HandleConn(context.Context, stats.ConnStats) {}
