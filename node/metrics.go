package node

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/stats"
)

// metrics are a node's Prometheus series, in a registry of its own (so
// that several nodes can live in one process, as in tests).
type metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec   // method, code
	httpRequests *prometheus.CounterVec   // code
	latency      *prometheus.HistogramVec // piece, kind
	bytesIn      prometheus.Counter
	bytesOut     prometheus.Counter
	forwards     *prometheus.CounterVec // result
	forwardBytes *prometheus.CounterVec // direction
	uploads      *prometheus.CounterVec // result
	evictions    prometheus.Counter
	cacheBytes   prometheus.Gauge
	cacheModels  prometheus.Gauge
	plans        *prometheus.CounterVec // plan

	planMu   sync.Mutex
	planSeen map[string]bool
}

// maxPlanLabels bounds the distinct plan labels a node keeps; others are
// counted as "other", so a client cannot blow up the series count.
const maxPlanLabels = 64

func newMetrics(name, tier string, cacheLimit int64) *metrics {
	reg := prometheus.NewRegistry()
	cl := prometheus.Labels{"node": name, "tier": tier}
	f := func(n, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: "edgedl", Subsystem: "node", Name: n, Help: help, ConstLabels: cl}
	}
	g := func(n, help string) prometheus.GaugeOpts {
		return prometheus.GaugeOpts{Namespace: "edgedl", Subsystem: "node", Name: n, Help: help, ConstLabels: cl}
	}
	m := &metrics{
		reg:          reg,
		requests:     prometheus.NewCounterVec(f("requests_total", "gRPC requests by method and status code."), []string{"method", "code"}),
		httpRequests: prometheus.NewCounterVec(f("http_requests_total", "HTTP requests by status code."), []string{"code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "edgedl", Subsystem: "node",
			Name: "piece_seconds", ConstLabels: cl,
			Help:    "Per-piece time: compute (measured), emulated (with the slowdown factor), request (whole ModelInfer, forwarding included).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18)}, []string{"piece", "kind"}),
		bytesIn:      prometheus.NewCounter(f("received_bytes_total", "gRPC message bytes received on the wire.")),
		bytesOut:     prometheus.NewCounter(f("sent_bytes_total", "gRPC message bytes sent on the wire.")),
		forwards:     prometheus.NewCounterVec(f("forwards_total", "Forwards to the next tier by result."), []string{"result"}),
		forwardBytes: prometheus.NewCounterVec(f("forward_bytes_total", "Message bytes exchanged with the next tier."), []string{"direction"}),
		uploads:      prometheus.NewCounterVec(f("uploads_total", "Model uploads by result (stored, present, rejected)."), []string{"result"}),
		evictions:    prometheus.NewCounter(f("cache_evictions_total", "Pieces evicted from the cache.")),
		cacheBytes:   prometheus.NewGauge(g("cache_bytes", "Estimated memory of the cached pieces.")),
		cacheModels:  prometheus.NewGauge(g("cache_models", "Pieces in the cache.")),
		plans:        prometheus.NewCounterVec(f("plan_choices_total", "Requests by the split plan their client reported (edgedl.plan)."), []string{"plan"}),
		planSeen:     map[string]bool{},
	}
	limit := prometheus.NewGauge(g("cache_limit_bytes", "The cache's memory limit."))
	limit.Set(float64(cacheLimit))
	reg.MustRegister(m.requests, m.httpRequests, m.latency, m.bytesIn, m.bytesOut, m.forwards, m.forwardBytes,
		m.uploads, m.evictions, m.cacheBytes, m.cacheModels, m.plans, limit,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// plan counts a client's reported plan, bounding the label set.
func (m *metrics) plan(p string) {
	if p == "" {
		return
	}
	if len(p) > 64 || !printable(p) {
		p = "other"
	}
	m.planMu.Lock()
	if !m.planSeen[p] {
		if len(m.planSeen) >= maxPlanLabels {
			p = "other"
		} else {
			m.planSeen[p] = true
		}
	}
	m.planMu.Unlock()
	m.plans.WithLabelValues(p).Inc()
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// shortHash labels a piece in metrics and logs.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// wireStats counts message bytes on the wire for every RPC.
type wireStats struct{ m *metrics }

func (w wireStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w wireStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (w wireStats) HandleConn(context.Context, stats.ConnStats) {}
func (w wireStats) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.InPayload:
		w.m.bytesIn.Add(float64(p.WireLength))
	case *stats.OutPayload:
		w.m.bytesOut.Add(float64(p.WireLength))
	}
}
