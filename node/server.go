package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/edgedl/edgedl/node/repositorypb"
	"github.com/edgedl/edgedl/transport"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// Defaults of ServerConfig and DeviceConfig.
const (
	DefaultCacheBytes      = 256 << 20
	DefaultMaxMessageBytes = 64 << 20
	DefaultForwardTimeout  = 2 * time.Second
	DefaultForwardReserve  = 5 * time.Millisecond
)

// ServerConfig configures a tier node (`edgedl serve`).
type ServerConfig struct {
	// Name identifies the node in logs, metrics and ServerMetadata
	// (default: the tier).
	Name string
	// Tier is "edge" or "cloud" (a label: any node can run any piece and
	// forward to a Next).
	Tier string
	// Listen is the gRPC address for Start (default "127.0.0.1:0").
	Listen string
	// HTTPListen, when set, is the address of the HTTP port: the REST form
	// of the protocol and of the repository, /metrics, /healthz, /readyz.
	HTTPListen string

	// Token is the bearer token every RPC and REST call must carry
	// ("authorization: Bearer <token>"); the gRPC health service,
	// /healthz, /readyz and /metrics are open. NewServer refuses an empty
	// token unless NoAuth is set.
	Token  string
	NoAuth bool
	// TLS serves TLS from these files, mutual TLS when TLS.CAFile is set.
	TLS TLSFiles

	// Next is the next tier's gRPC address (the cloud, for an edge). With
	// it, a request may ask the node to forward (ParamNextModel).
	Next string
	// NextToken is the bearer token for Next (default: Token).
	NextToken string
	// NextTLS configures TLS to Next (none when empty).
	NextTLS TLSFiles
	// NextDialer, when set, opens the connections to Next (e.g. an
	// emulated link's Dial).
	NextDialer Dialer
	// NextObserver, when set, receives a transport.Sample per RPC to Next
	// (the edge-cloud link's transfers, for a bandwidth estimator).
	NextObserver transport.Observer
	// ForwardTimeout bounds the wait for Next when the request does not
	// say (ParamNextTimeout); default 2 s. ForwardReserve is the least time
	// kept back from a request's deadline to answer without the next tier
	// (default 5 ms; a tenth of the remaining time when that is more).
	ForwardTimeout, ForwardReserve time.Duration

	// CacheBytes limits the estimated memory of cached pieces (default
	// 256 MiB): twice the ONNX size (decoded and packed weights) plus the
	// activations of one run. The least recently used pieces are evicted.
	CacheBytes int64
	// MaxMessageBytes bounds a gRPC message or REST body, uploads included
	// (default 64 MiB).
	MaxMessageBytes int
	// Limits bound each decoded tensor (transport defaults when zero).
	Limits transport.Limits

	// Slowdown emulates a slower machine: after running a piece the node
	// waits until Slowdown times its compute time has passed, and reports
	// both times (ParamComputeTime, ParamEmulatedTime). 0 or 1: no
	// slowdown. ComputeClock says which compute time: ClockWall (default)
	// or ClockCPU (the thread's CPU time, robust to other load).
	Slowdown     float64
	ComputeClock string
	// Threads is each session's intra-op thread count (0: one per CPU).
	Threads int

	// MaxBatch turns on dynamic batching when at least 2: concurrent
	// requests for the same piece whose inputs differ only in the first
	// dimension are concatenated along it (up to MaxBatch rows), run once
	// and split again. Only pieces whose inputs and outputs all have a
	// symbolic first dimension batch. Batches form from the requests that
	// queue while the node's runners are busy (CPUs / Threads of them,
	// one when Threads is 0), so an idle node adds no delay; BatchWait,
	// when set, also holds the first request of a burst that long for
	// others to join.
	MaxBatch  int
	BatchWait time.Duration

	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
}

// Server is a tier node: it stores pieces of models by content hash, runs
// them over the Open Inference Protocol (gRPC, and REST on the HTTP port),
// and forwards activations to the next tier when asked. Create it with
// NewServer, run it with Start (or Serve and ServeREST), stop it with
// Shutdown or Close. It is safe for concurrent use.
type Server struct {
	cfg   ServerConfig
	log   *slog.Logger
	ts    *transport.Server
	svc   *service
	repo  *repoService
	cache *cache
	met   *metrics
	auth  tokenChecker
	hs    *health.Server
	gs    *grpc.Server
	tlsc  *tls.Config
	web   http.Handler

	nextCC    *grpc.ClientConn
	nextInfer pb.GRPCInferenceServiceClient
	nextRepo  repositorypb.ModelRepositoryServiceClient

	mu      sync.Mutex
	lis     net.Listener
	hlis    net.Listener
	httpSrv *http.Server
	closed  bool
}

// NewServer checks cfg, loads TLS files and returns a server that holds no
// models yet. It opens no port: see Start.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Tier == "" {
		cfg.Tier = "edge"
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Tier
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Token == "" && !cfg.NoAuth {
		return nil, errors.New("node: a bearer token is required (ServerConfig.Token, --token); set NoAuth to serve without one")
	}
	if cfg.NextToken == "" {
		cfg.NextToken = cfg.Token
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if cfg.ForwardReserve <= 0 {
		cfg.ForwardReserve = DefaultForwardReserve
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxBatch < 0 || cfg.BatchWait < 0 {
		return nil, fmt.Errorf("node: max batch %d and batch wait %v must not be negative", cfg.MaxBatch, cfg.BatchWait)
	}
	if err := checkClock(cfg.ComputeClock); err != nil {
		return nil, err
	}
	if cfg.Slowdown < 0 {
		return nil, fmt.Errorf("node: slowdown %v is negative", cfg.Slowdown)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tlsc, err := cfg.TLS.serverConfig()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger.With("node", cfg.Name, "tier", cfg.Tier),
		ts:    transport.NewServer(transport.ServerConfig{Name: cfg.Name, Version: "edgedl", Limits: cfg.Limits, MaxMessageBytes: cfg.MaxMessageBytes}),
		cache: newCache(cfg.CacheBytes),
		met:   newMetrics(cfg.Name, cfg.Tier, cfg.CacheBytes),
		auth:  newTokenChecker(cfg.Token, cfg.NoAuth),
		hs:    health.NewServer(),
		tlsc:  tlsc,
	}
	s.svc = &service{s: s}
	s.repo = &repoService{s: s}
	s.cache.onInsert = func(p *piece) { s.ts.Add(p.hash, transport.ModelFunc(p.info, s.runPiece)) }
	s.cache.onEvict = func(p *piece) {
		s.ts.Remove(p.hash)
		s.met.latency.DeletePartialMatch(map[string]string{"piece": shortHash(p.hash)})
	}
	if cfg.Next != "" {
		cc, err := dial(dialConfig{addr: cfg.Next, token: cfg.NextToken, tls: cfg.NextTLS, dialer: cfg.NextDialer,
			observer: cfg.NextObserver, maxMsg: cfg.MaxMessageBytes})
		if err != nil {
			return nil, err
		}
		s.nextCC = cc
		s.nextInfer = pb.NewGRPCInferenceServiceClient(cc)
		s.nextRepo = repositorypb.NewModelRepositoryServiceClient(cc)
	}
	opts := append(s.ts.ServerOptions(),
		grpc.InTapHandle(s.tap),
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
		grpc.StatsHandler(wireStats{s.met}))
	if tlsc != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsc)))
	}
	s.gs = grpc.NewServer(opts...)
	pb.RegisterGRPCInferenceServiceServer(s.gs, s.svc)
	repositorypb.RegisterModelRepositoryServiceServer(s.gs, s.repo)
	healthpb.RegisterHealthServer(s.gs, s.hs)
	s.hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.hs.SetServingStatus("inference.GRPCInferenceService", healthpb.HealthCheckResponse_SERVING)
	s.web = s.httpHandler()
	return s, nil
}

// Config returns the configuration with defaults filled in.
func (s *Server) Config() ServerConfig { return s.cfg }

// Start listens on cfg.Listen (and cfg.HTTPListen when set) and serves in
// the background until Shutdown or Close.
func (s *Server) Start() error {
	lis, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("node: listen %s: %w", s.cfg.Listen, err)
	}
	var hlis net.Listener
	if s.cfg.HTTPListen != "" {
		if hlis, err = net.Listen("tcp", s.cfg.HTTPListen); err != nil {
			lis.Close()
			return fmt.Errorf("node: listen %s: %w", s.cfg.HTTPListen, err)
		}
	}
	s.mu.Lock()
	s.lis, s.hlis = lis, hlis // visible to Addr and HTTPAddr at once
	s.mu.Unlock()
	go s.Serve(lis)
	if hlis != nil {
		go s.ServeREST(hlis)
	}
	s.log.Info("node serving", "grpc", lis.Addr().String(), "http", addrString(hlis), "tls", s.tlsc != nil,
		"mtls", s.cfg.TLS.CAFile != "", "next", s.cfg.Next, "cache_bytes", s.cfg.CacheBytes, "slowdown", s.cfg.Slowdown)
	return nil
}

func addrString(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Serve serves gRPC on lis until Shutdown or Close (it returns nil then).
// Wrap lis (e.g. link.Link.Listener) to emulate the node's network.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		lis.Close()
		return errors.New("node: server closed")
	}
	s.lis = lis
	s.mu.Unlock()
	err := s.gs.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// ServeREST serves the HTTP port (REST protocol, repository, metrics,
// health) on lis, with TLS when configured, until Shutdown or Close.
func (s *Server) ServeREST(lis net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, TLSConfig: s.tlsc,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		lis.Close()
		return errors.New("node: server closed")
	}
	s.hlis, s.httpSrv = lis, srv
	s.mu.Unlock()
	var err error
	if s.tlsc != nil {
		err = srv.ServeTLS(lis, "", "")
	} else {
		err = srv.Serve(lis)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Addr is the gRPC listener's address (nil before Serve or Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return nil
	}
	return s.lis.Addr()
}

// HTTPAddr is the HTTP listener's address (nil when there is none).
func (s *Server) HTTPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hlis == nil {
		return nil
	}
	return s.hlis.Addr()
}

// Shutdown drains the node: it reports not ready and not serving, lets
// running requests finish until ctx ends, then stops.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ts.SetReady(false)
	s.hs.Shutdown()
	done := make(chan struct{})
	go func() { s.gs.GracefulStop(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.gs.Stop()
		err = ctx.Err()
	}
	s.mu.Lock()
	s.closed = true
	hs := s.httpSrv
	s.mu.Unlock()
	if hs != nil {
		if e := hs.Shutdown(ctx); e != nil && err == nil {
			err = e
		}
	}
	s.release()
	return err
}

// Close stops the node at once: open connections are cut and running
// requests fail (as when a machine dies).
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	hs := s.httpSrv
	s.mu.Unlock()
	s.ts.SetReady(false)
	s.hs.Shutdown()
	s.gs.Stop()
	if hs != nil {
		hs.Close()
	}
	s.release()
	return nil
}

func (s *Server) release() {
	if s.nextCC != nil {
		s.nextCC.Close()
	}
	s.cache.closeAll()
	s.met.cacheBytes.Set(0)
	s.met.cacheModels.Set(0)
}

// ListenAndServe runs a node until ctx ends, then drains it for up to 5
// seconds: what `edgedl serve` does.
func ListenAndServe(ctx context.Context, cfg ServerConfig) error {
	s, err := NewServer(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

// exempt reports whether a method needs no token (health probes).
func exempt(method string) bool { return strings.HasPrefix(method, "/grpc.health.v1.Health/") }

func methodLabel(full string) string {
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[i+1:]
	}
	return full
}

// tap rejects requests without a valid token before their messages are
// read, so that an unauthenticated client cannot make the node decode
// large bodies. (The interceptors check again: the tap is a gRPC
// experimental API.)
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if exempt(info.FullMethodName) || s.auth.none {
		return ctx, nil
	}
	h := ""
	if v := info.Header.Get("authorization"); len(v) > 0 {
		h = v[0]
	}
	if err := s.auth.check(h); err != nil {
		code := codes.Unauthenticated
		s.met.requests.WithLabelValues(methodLabel(info.FullMethodName), code.String()).Inc()
		s.logRPC(ctx, info.FullMethodName, code, err, 0)
		return ctx, status.Error(code, err.Error())
	}
	return ctx, nil
}

// unary authenticates, counts and logs every unary RPC.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	if !exempt(info.FullMethod) {
		err = s.auth.checkContext(ctx)
	}
	if err == nil {
		resp, err = h(ctx, req)
	}
	code := status.Code(err)
	s.met.requests.WithLabelValues(methodLabel(info.FullMethod), code.String()).Inc()
	s.logRPC(ctx, info.FullMethod, code, err, time.Since(start))
	return resp, err
}

func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	var err error
	if !exempt(info.FullMethod) {
		err = s.auth.checkContext(ss.Context())
	}
	if err == nil {
		err = h(srv, ss)
	}
	s.met.requests.WithLabelValues(methodLabel(info.FullMethod), status.Code(err).String()).Inc()
	return err
}

func (s *Server) logRPC(ctx context.Context, method string, code codes.Code, err error, d time.Duration) {
	lvl := slog.LevelDebug
	switch code {
	case codes.OK, codes.NotFound: // NotFound is the normal prelude to an upload
	case codes.Internal, codes.Unknown, codes.DataLoss:
		lvl = slog.LevelError
	default:
		lvl = slog.LevelWarn
	}
	if !s.log.Enabled(ctx, lvl) {
		return
	}
	attrs := []slog.Attr{slog.String("method", methodLabel(method)), slog.String("code", code.String()),
		slog.Duration("took", d)}
	if p, ok := peer.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
	}
	s.log.LogAttrs(ctx, lvl, "rpc", attrs...)
}
