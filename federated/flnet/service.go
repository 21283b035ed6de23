package flnet

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgedl/edgedl/federated/flnet/flpb"
)

// MaxMessageBytes bounds a gRPC message either way (a model of up to about
// 64M float32 parameters).
const MaxMessageBytes = 256 << 20

// Meter counts the bytes a transport carried: Up from clients to the
// coordinator, Down the other way. Safe for concurrent use.
type Meter struct {
	up, down atomic.Int64
}

// Add counts a transfer.
func (m *Meter) Add(up, down int64) {
	m.up.Add(up)
	m.down.Add(down)
}

// Bytes returns the totals so far.
func (m *Meter) Bytes() (up, down int64) { return m.up.Load(), m.down.Load() }

// StatsHandler returns a gRPC stats handler that counts every message's
// bytes on the wire (after gRPC framing and compression) into m. Install it
// on the server (grpc.StatsHandler) or on a client (grpc.WithStatsHandler).
func (m *Meter) StatsHandler(server bool) stats.Handler { return &meterHandler{m: m, server: server} }

type meterHandler struct {
	m      *Meter
	server bool
}

func (h *meterHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h *meterHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (h *meterHandler) HandleConn(context.Context, stats.ConnStats) {}
func (h *meterHandler) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.InPayload:
		if h.server {
			h.m.Add(int64(p.WireLength), 0)
		} else {
			h.m.Add(0, int64(p.WireLength))
		}
	case *stats.OutPayload:
		if h.server {
			h.m.Add(0, int64(p.WireLength))
		} else {
			h.m.Add(int64(p.WireLength), 0)
		}
	}
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Tokens are the bearer tokens accepted; empty accepts any request
	// (only for in-process simulations and tests).
	Tokens []string
	// Checkpoint, if set, is written atomically after every closed round
	// (async: every model version), before any later request is served.
	Checkpoint string
	// Now is the clock (default time.Now); simulations pass a simulated one.
	Now func() time.Time
	// OnRound is called for each RoundResult, outside the service's lock,
	// on the goroutine of the request (or Tick) that closed the round, in
	// round order. It may be slow only if requests may wait for it, and it
	// must not call the Service.
	OnRound func(RoundResult)
	// Log receives refusals, joins and rounds (default: discard).
	Log *slog.Logger
	// Meter, if set, is read to fill in RoundResult.BytesUp/BytesDown.
	Meter *Meter
}

// Service serves a Coordinator: it implements the Federation gRPC service
// (and, through LocalConn, the same calls in process), authenticates bearer
// tokens, serialises access to the coordinator, checkpoints closed rounds
// and reports them.
type Service struct {
	flpb.UnimplementedFederationServer

	mu     sync.Mutex
	coord  *Coordinator
	cfg    ServiceConfig
	tokens [][]byte
	// bytes at the last round report
	lastUp, lastDown int64
	// OnRound calls are serialised in order.
	reportMu sync.Mutex
	ckptErr  error
}

var _ flpb.FederationServer = (*Service)(nil)

// NewService wraps coord.
func NewService(coord *Coordinator, cfg ServiceConfig) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{coord: coord, cfg: cfg}
	for _, t := range cfg.Tokens {
		s.tokens = append(s.tokens, []byte(t))
	}
	if cfg.Meter != nil {
		s.lastUp, s.lastDown = cfg.Meter.Bytes()
	}
	return s
}

// Coordinator returns the served coordinator; lock with Do to use it while
// the service runs.
func (s *Service) Coordinator() *Coordinator { return s.coord }

// Do runs f with the coordinator under the service's lock (then handles
// what f caused, like a request).
func (s *Service) Do(f func(c *Coordinator)) error {
	s.mu.Lock()
	f(s.coord)
	return s.after()
}

// Tick advances the coordinator's clock (start and close rounds); a server
// calls it a few times a second, a simulation at each event.
func (s *Service) Tick() error {
	s.mu.Lock()
	s.coord.Tick(s.cfg.Now())
	return s.after()
}

// Done reports whether training is over.
func (s *Service) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.coord.Done()
}

// CheckpointError returns the last checkpoint failure (nil if none).
func (s *Service) CheckpointError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ckptErr
}

// after handles the coordinator's events and unlocks s.mu: checkpoint
// under the lock, then report outside it.
func (s *Service) after() error {
	ev := s.coord.TakeEvents()
	var err error
	if s.cfg.Checkpoint != "" && (len(ev.Rounds) > 0 || ev.Versioned) {
		if err = s.coord.SaveCheckpointFile(s.cfg.Checkpoint); err != nil {
			s.ckptErr = err
			s.cfg.Log.Error("checkpoint failed", "err", err)
		}
	}
	if len(ev.Rounds) > 0 && s.cfg.Meter != nil {
		up, down := s.cfg.Meter.Bytes()
		ev.Rounds[0].BytesUp, ev.Rounds[0].BytesDown = up-s.lastUp, down-s.lastDown
		s.lastUp, s.lastDown = up, down
	}
	if len(ev.Rounds) > 0 {
		s.reportMu.Lock() // taken before unlocking so reports keep round order
	}
	s.mu.Unlock()
	for _, id := range ev.Joined {
		s.cfg.Log.Info("client registered", "client", id)
	}
	for _, r := range ev.Refusals {
		s.cfg.Log.Warn("refused", "client", r.Client, "round", r.Round, "reason", r.Reason, "detail", r.Detail)
	}
	if len(ev.Rounds) > 0 {
		defer s.reportMu.Unlock()
		for _, r := range ev.Rounds {
			s.cfg.Log.Info("round closed", "round", r.Round, "selected", r.Selected, "arrived", r.Arrived,
				"aggregated", r.Aggregated, "note", r.Note)
			if s.cfg.OnRound != nil {
				s.cfg.OnRound(r)
			}
		}
	}
	return err
}

// ErrBadToken is the refusal of a request without an accepted bearer
// token.
var ErrBadToken = errors.New("flnet: missing or unknown bearer token")

// token extracts and checks the bearer token of an incoming request.
func (s *Service) token(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var tok string
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			tok = strings.TrimSpace(t)
		}
	}
	if len(s.tokens) == 0 {
		return tok, nil
	}
	ok := 0
	for _, t := range s.tokens {
		ok |= subtle.ConstantTimeCompare(t, []byte(tok))
	}
	if tok == "" || ok == 0 {
		s.mu.Lock()
		s.coord.refusals["bad token"]++
		s.mu.Unlock()
		s.cfg.Log.Warn("refused", "reason", "bad token")
		return "", status.Error(codes.Unauthenticated, ErrBadToken.Error())
	}
	return tok, nil
}

func grpcError(err error) error {
	var r *Refusal
	if errors.As(err, &r) {
		return status.Error(r.Code, r.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// call runs one request against the coordinator.
func call[Req, Resp any](s *Service, ctx context.Context, req Req,
	f func(c *Coordinator, now time.Time, token string, req Req) (Resp, error)) (Resp, error) {
	var zero Resp
	tok, err := s.token(ctx)
	if err != nil {
		return zero, err
	}
	s.mu.Lock()
	resp, err := f(s.coord, s.cfg.Now(), tok, req)
	s.after()
	if err != nil {
		return zero, grpcError(err)
	}
	return resp, nil
}

// Register implements flpb.FederationServer.
func (s *Service) Register(ctx context.Context, req *flpb.RegisterRequest) (*flpb.RegisterResponse, error) {
	return call(s, ctx, req, (*Coordinator).Register)
}

// GetTask implements flpb.FederationServer.
func (s *Service) GetTask(ctx context.Context, req *flpb.TaskRequest) (*flpb.Task, error) {
	return call(s, ctx, req, (*Coordinator).Task)
}

// SubmitUpdate implements flpb.FederationServer.
func (s *Service) SubmitUpdate(ctx context.Context, req *flpb.UpdateRequest) (*flpb.UpdateResponse, error) {
	return call(s, ctx, req, (*Coordinator).Submit)
}

// Heartbeat implements flpb.FederationServer.
func (s *Service) Heartbeat(ctx context.Context, req *flpb.HeartbeatRequest) (*flpb.HeartbeatResponse, error) {
	return call(s, ctx, req, (*Coordinator).Heartbeat)
}

// ServerOptions returns the gRPC server options a coordinator needs: TLS
// credentials (nil creds: plaintext, for tests on loopback), message size
// limits, byte counting into the service's Meter and panic recovery.
func (s *Service) ServerOptions(creds credentials.TransportCredentials) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
			defer func() {
				if r := recover(); r != nil {
					s.cfg.Log.Error("panic in handler", "method", info.FullMethod, "panic", r)
					err = status.Errorf(codes.Internal, "flnet: internal error in %s", info.FullMethod)
				}
			}()
			return h(ctx, req)
		}),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	if s.cfg.Meter != nil {
		opts = append(opts, grpc.StatsHandler(s.cfg.Meter.StatsHandler(true)))
	}
	return opts
}

// Run ticks the service every interval until ctx ends or training is done
// (then it returns nil). It is the clock of a network coordinator.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Tick(); err != nil {
			return err
		}
		if s.Done() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// LocalConn is an in-process transport: a flpb.FederationClient that calls
// a Service directly (no sockets, no serialisation), with the same
// authentication and refusals as gRPC. It counts the protobuf size of every
// request (up) and response (down) into Meter, which is what the messages
// would weigh on the wire without gRPC's 5-byte frame headers.
type LocalConn struct {
	Service *Service
	Token   string
	Meter   *Meter
}

var _ flpb.FederationClient = (*LocalConn)(nil)

func localCall[Req, Resp proto.Message](l *LocalConn, ctx context.Context, req Req,
	f func(context.Context, Req) (Resp, error)) (Resp, error) {
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+l.Token))
	if l.Meter != nil {
		// Counted before the call, as gRPC counts a request on arrival: an
		// update that closes a round belongs to that round.
		l.Meter.Add(int64(proto.Size(req)), 0)
	}
	resp, err := f(ctx, req)
	if err == nil && l.Meter != nil {
		l.Meter.Add(0, int64(proto.Size(resp)))
	}
	return resp, err
}

// Register implements flpb.FederationClient.
func (l *LocalConn) Register(ctx context.Context, in *flpb.RegisterRequest, _ ...grpc.CallOption) (*flpb.RegisterResponse, error) {
	return localCall(l, ctx, in, l.Service.Register)
}

// GetTask implements flpb.FederationClient.
func (l *LocalConn) GetTask(ctx context.Context, in *flpb.TaskRequest, _ ...grpc.CallOption) (*flpb.Task, error) {
	return localCall(l, ctx, in, l.Service.GetTask)
}

// SubmitUpdate implements flpb.FederationClient.
func (l *LocalConn) SubmitUpdate(ctx context.Context, in *flpb.UpdateRequest, _ ...grpc.CallOption) (*flpb.UpdateResponse, error) {
	return localCall(l, ctx, in, l.Service.SubmitUpdate)
}

// Heartbeat implements flpb.FederationClient.
func (l *LocalConn) Heartbeat(ctx context.Context, in *flpb.HeartbeatRequest, _ ...grpc.CallOption) (*flpb.HeartbeatResponse, error) {
	return localCall(l, ctx, in, l.Service.Heartbeat)
}

// SecAgg implements flpb.FederationServer.
func (s *Service) SecAgg(ctx context.Context, req *flpb.SecAggRequest) (*flpb.SecAggResponse, error) {
	return call(s, ctx, req, (*Coordinator).SecAgg)
}

// SecAgg implements flpb.FederationClient.
func (l *LocalConn) SecAgg(ctx context.Context, in *flpb.SecAggRequest, _ ...grpc.CallOption) (*flpb.SecAggResponse, error) {
	return localCall(l, ctx, in, l.Service.SecAgg)
}
