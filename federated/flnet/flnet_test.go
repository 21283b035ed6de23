package flnet_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/codec"
	"github.com/edgedl/edgedl/federated/flnet"
	"github.com/edgedl/edgedl/federated/flnet/flpb"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

var (
	mnistOnce          sync.Once
	mnistTrain, mnistT data.Dataset
	mnistErr           error
)

// mnistSubset returns the first n training images (shuffled once) and
// 1,000 test images; tests skip when MNIST is not available.
func mnistSubset(t *testing.T, n int) (tr, te data.Dataset) {
	t.Helper()
	mnistOnce.Do(func() {
		dir, err := data.MNISTDir()
		if err != nil {
			mnistErr = err
			return
		}
		full, err := data.MNIST(dir, "train")
		if err != nil {
			mnistErr = err
			return
		}
		test, err := data.MNIST(dir, "test")
		if err != nil {
			mnistErr = err
			return
		}
		mnistTrain = &data.Subset{Data: full, Indices: data.Permutation(full.Len(), 7, 0)[:4000]}
		mnistT = &data.Subset{Data: test, Indices: data.Permutation(test.Len(), 7, 1)[:1000]}
	})
	if mnistErr != nil {
		t.Skipf("MNIST not available: %v", mnistErr)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return &data.Subset{Data: mnistTrain, Indices: idx}, mnistT
}

func evalAcc(t *testing.T, params []float32, te data.Dataset) float64 {
	t.Helper()
	p, err := train.Compile(arch.MNIST2NN(1), train.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetParams(params); err != nil {
		t.Fatal(err)
	}
	_, acc, err := p.Evaluate(te, 500, nil)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// server is a coordinator on a loopback gRPC listener.
type server struct {
	svc  *flnet.Service
	gs   *grpc.Server
	addr string
	run  chan error
	stop context.CancelFunc

	mu     sync.Mutex
	rounds []flnet.RoundResult
}

func (s *server) results() []flnet.RoundResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]flnet.RoundResult(nil), s.rounds...)
}

// waitResults waits (up to 10s) until n rounds were reported: OnRound runs
// after the coordinator's lock is released, so a client may hear DONE
// before the last report is in.
func (s *server) waitResults(n int) []flnet.RoundResult {
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(5 * time.Millisecond) {
		if rs := s.results(); len(rs) >= n {
			return rs
		}
	}
	return s.results()
}

func startServer(t *testing.T, coord *flnet.Coordinator, addr string, tlsFiles *flnet.CertFiles, ckpt string, tokens ...string) *server {
	t.Helper()
	s := &server{run: make(chan error, 1)}
	meter := &flnet.Meter{}
	s.svc = flnet.NewService(coord, flnet.ServiceConfig{
		Tokens: tokens, Checkpoint: ckpt, Meter: meter,
		OnRound: func(r flnet.RoundResult) {
			s.mu.Lock()
			s.rounds = append(s.rounds, r)
			s.mu.Unlock()
		},
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	var creds credentials.TransportCredentials
	if tlsFiles != nil {
		conf, err := flnet.ServerTLS(tlsFiles.ServerCert, tlsFiles.ServerKey, "")
		if err != nil {
			t.Fatal(err)
		}
		creds = credentials.NewTLS(conf)
	}
	var lis net.Listener
	var err error
	for range 50 { // the port of a stopped server may take a moment to free
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	s.gs = grpc.NewServer(s.svc.ServerOptions(creds)...)
	flpb.RegisterFederationServer(s.gs, s.svc)
	go s.gs.Serve(lis)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.run <- s.svc.Run(ctx, 20*time.Millisecond) }()
	return s
}

func (s *server) close() {
	s.stop()
	<-s.run
	s.gs.Stop()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func dial(t *testing.T, addr string, files *flnet.CertFiles, token string) flpb.FederationClient {
	t.Helper()
	var conf *tls.Config
	if files != nil {
		var err error
		if conf, err = flnet.ClientTLS(files.CA, "", "", ""); err != nil {
			t.Fatal(err)
		}
	}
	cc, err := flnet.Dial(addr, conf, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return flpb.NewFederationClient(cc)
}

func baseConfig(rounds int) flnet.Config {
	return flnet.Config{
		Model: arch.MNIST2NN(1), Rounds: rounds, Fraction: 1, MinClients: 3, WaitClients: 3,
		RoundTimeout: 20 * time.Second, Seed: 1,
		Train: flnet.TrainConfig{LocalEpochs: 2, Batch: 10, LR: 0.05, Heartbeat: 50 * time.Millisecond},
	}
}

func runClients(t *testing.T, ctx context.Context, conns []flpb.FederationClient, shards []data.Dataset) (wait func() []error) {
	t.Helper()
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &flnet.Client{Conn: conns[i], Name: "device-" + string(rune('a'+i)), Data: shards[i], Threads: 1}
			defer c.Close()
			errs[i] = c.Run(ctx)
		}()
	}
	return func() []error { wg.Wait(); return errs }
}

func shards(t *testing.T, n, k int) ([]data.Dataset, data.Dataset) {
	tr, te := mnistSubset(t, n)
	parts, err := data.IID(tr.Len(), k, 1)
	if err != nil {
		t.Fatal(err)
	}
	var out []data.Dataset
	for _, s := range data.Partition(tr, parts) {
		out = append(out, s)
	}
	return out, te
}

// Three clients train mnist-2nn over TLS with bearer tokens for three
// rounds of FedAvg; the model learns and the bytes on the wire add up.
func TestNetworkFedAvgTLS(t *testing.T) {
	parts, te := shards(t, 1500, 3)
	files, err := flnet.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	coord, err := flnet.NewCoordinator(baseConfig(3))
	if err != nil {
		t.Fatal(err)
	}
	init := coord.Global()
	srv := startServer(t, coord, "127.0.0.1:0", &files, "", "secret-1", "secret-2")
	defer srv.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var conns []flpb.FederationClient
	for i := range 3 {
		conns = append(conns, dial(t, srv.addr, &files, []string{"secret-1", "secret-2", "secret-1"}[i]))
	}
	for i, err := range runClients(t, ctx, conns, parts)() {
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	rounds := srv.waitResults(3)
	if len(rounds) != 3 {
		t.Fatalf("%d rounds reported, want 3", len(rounds))
	}
	for i, r := range rounds {
		if r.Round != uint64(i) || r.Arrived != 3 || !r.Aggregated || r.BytesUp <= 0 || r.BytesDown <= 0 {
			t.Errorf("round %d: %+v", i, r)
		}
		// Each client downloads the dense model and uploads a dense delta.
		dense := int64(4 * coord.Dim())
		if r.BytesUp < 3*dense || r.BytesDown < 3*dense {
			t.Errorf("round %d: %d bytes up, %d down; want at least 3 x %d each", i, r.BytesUp, r.BytesDown, dense)
		}
	}
	before, after := evalAcc(t, init, te), evalAcc(t, rounds[2].Global, te)
	t.Logf("accuracy %.3f -> %.3f; round 0: %d bytes up, %d down", before, after, rounds[0].BytesUp, rounds[0].BytesDown)
	if after < 0.75 || after < before+0.3 {
		t.Errorf("accuracy %.3f after 3 rounds (%.3f before)", after, before)
	}
}

// killAfter cancels a client's context after it has read limit samples:
// the client dies in the middle of local training.
type killAfter struct {
	data.Dataset
	n     atomic.Int64
	limit int64
	kill  func()
}

func (k *killAfter) Sample(i int, x []float32) int {
	if k.n.Add(1) == k.limit {
		k.kill()
	}
	return k.Dataset.Sample(i, x)
}

// A client killed mid-round never reports; the round closes at its deadline
// with the two updates that arrived. With heartbeats, the coordinator
// notices the silence and closes the round early.
func TestKilledClientMidRound(t *testing.T) {
	for _, hb := range []bool{false, true} {
		name := "deadline"
		if hb {
			name = "heartbeat"
		}
		t.Run(name, func(t *testing.T) {
			parts, _ := shards(t, 1500, 3)
			cfg := baseConfig(1)
			cfg.MinUpdates = 2
			cfg.RoundTimeout = 4 * time.Second
			if hb {
				cfg.RoundTimeout = time.Minute
				cfg.HeartbeatTimeout = 600 * time.Millisecond
			}
			coord, err := flnet.NewCoordinator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			srv := startServer(t, coord, "127.0.0.1:0", nil, "", "tok")
			defer srv.close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			victimCtx, kill := context.WithCancel(ctx)
			defer kill()
			errs := make([]error, 3)
			var wg sync.WaitGroup
			for i := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ds, cctx := parts[i], ctx
					if i == 1 {
						ds, cctx = &killAfter{Dataset: parts[i], limit: 200, kill: kill}, victimCtx
					}
					c := &flnet.Client{Conn: dial(t, srv.addr, nil, "tok"), Name: name + string(rune('a'+i)), Data: ds, Threads: 1}
					defer c.Close()
					errs[i] = c.Run(cctx)
				}()
			}
			wg.Wait()
			if !errors.Is(errs[1], context.Canceled) || errs[0] != nil || errs[2] != nil {
				t.Fatalf("client errors %v", errs)
			}
			rs := srv.waitResults(1)
			if len(rs) != 1 {
				t.Fatalf("%d rounds", len(rs))
			}
			r := rs[0]
			took := r.End.Sub(r.Start)
			t.Logf("round closed after %v: %d selected, %d arrived, %d missing", took.Round(time.Millisecond), r.Selected, r.Arrived, r.Missing)
			if r.Selected != 3 || r.Arrived != 2 || r.Missing != 1 || !r.Aggregated || len(r.Contributors) != 2 {
				t.Errorf("round %+v", r)
			}
			if !hb && took < cfg.RoundTimeout {
				t.Errorf("closed after %v, before the %v deadline", took, cfg.RoundTimeout)
			}
			if hb && took > 20*time.Second {
				t.Errorf("closed after %v; the heartbeat timeout is %v", took, cfg.HeartbeatTimeout)
			}
		})
	}
}

// The coordinator is stopped after two of four rounds and started again
// from its checkpoint on the same address; the clients reconnect by
// themselves and training finishes without repeating a completed round.
func TestCoordinatorRestart(t *testing.T) {
	parts, te := shards(t, 1500, 3)
	ckpt := filepath.Join(t.TempDir(), "coord.ckpt")
	cfg := baseConfig(4)
	coord, err := flnet.NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, coord, "127.0.0.1:0", nil, ckpt, "tok")
	addr := srv.addr
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var conns []flpb.FederationClient
	for range 3 {
		conns = append(conns, dial(t, addr, nil, "tok"))
	}
	wait := runClients(t, ctx, conns, parts)
	for len(srv.results()) < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	srv.close()
	time.Sleep(300 * time.Millisecond) // a handler that closed a round may still be reporting it
	first := srv.results()
	last := first[len(first)-1]
	t.Logf("stopped after %d rounds", len(first))

	coord2, err := flnet.NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := coord2.LoadCheckpointFile(ckpt); err != nil {
		t.Fatal(err)
	}
	if coord2.Round() != last.Round+1 {
		t.Fatalf("resumed at round %d, want %d", coord2.Round(), last.Round+1)
	}
	g := coord2.Global()
	for i := range g {
		if g[i] != last.Global[i] {
			t.Fatalf("resumed model differs from round %d's at parameter %d", last.Round, i)
		}
	}
	srv2 := startServer(t, coord2, addr, nil, ckpt, "tok")
	defer srv2.close()
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	second := srv2.waitResults(4 - len(first))
	var got []uint64
	for _, r := range append(first, second...) {
		got = append(got, r.Round)
	}
	if len(got) != 4 || got[0] != 0 || got[1] != 1 || got[2] != 2 || got[3] != 3 {
		t.Errorf("rounds reported %v, want [0 1 2 3]", got)
	}
	if acc := evalAcc(t, second[len(second)-1].Global, te); acc < 0.8 {
		t.Errorf("accuracy %.3f after 4 rounds", acc)
	}
}

func denseWith(dim int, f func(i int) float32) []byte {
	msg := []byte{0xED, 1}
	msg = binary.AppendUvarint(msg, uint64(dim))
	for i := range dim {
		msg = binary.LittleEndian.AppendUint32(msg, math.Float32bits(f(i)))
	}
	return msg
}

// Malformed, suspicious and unauthorised requests are refused with a
// status code and a message giving the reason, and counted.
func TestBadUpdatesRefused(t *testing.T) {
	files, err := flnet.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(1)
	cfg.MinClients, cfg.WaitClients, cfg.MaxNorm = 2, 2, 10
	coord, err := flnet.NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dim := coord.Dim()
	srv := startServer(t, coord, "127.0.0.1:0", &files, "", "secret-a", "secret-b")
	defer srv.close()
	ctx := context.Background()

	_, err = dial(t, srv.addr, &files, "wrong").Register(ctx, &flpb.RegisterRequest{Name: "mallory"})
	wantStatus(t, "bad token", err, codes.Unauthenticated, "bearer token")

	a, b := dial(t, srv.addr, &files, "secret-a"), dial(t, srv.addr, &files, "secret-b")
	ra, err := a.Register(ctx, &flpb.RegisterRequest{Name: "a", NumSamples: 100})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Register(ctx, &flpb.RegisterRequest{Name: "b", NumSamples: 100})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Register(ctx, &flpb.RegisterRequest{Name: "a"})
	wantStatus(t, "stolen name", err, codes.PermissionDenied, "another token")
	var task *flpb.Task
	for task.GetAction() != flpb.Task_TRAIN {
		if task, err = a.GetTask(ctx, &flpb.TaskRequest{ClientId: ra.ClientId}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	small := denseWith(dim, func(int) float32 { return 1e-4 })
	upd := func(c flpb.FederationClient, id uint32, round uint64, samples int64, msg []byte) error {
		_, err := c.SubmitUpdate(ctx, &flpb.UpdateRequest{ClientId: id, Round: round, Samples: samples, Delta: msg})
		return err
	}
	short, _ := codec.Dense{}.Encode(make([]float32, 10))
	wantStatus(t, "wrong shape", upd(a, ra.ClientId, 0, 100, short), codes.InvalidArgument, "wrong length: update has 10 parameters")
	nan := denseWith(dim, func(i int) float32 {
		if i == 7 {
			return float32(math.NaN())
		}
		return 0
	})
	wantStatus(t, "NaN", upd(a, ra.ClientId, 0, 100, nan), codes.InvalidArgument, "non-finite value")
	huge := denseWith(dim, func(int) float32 { return 1 })
	wantStatus(t, "norm", upd(a, ra.ClientId, 0, 100, huge), codes.InvalidArgument, "norm out of bounds")
	wantStatus(t, "garbage", upd(a, ra.ClientId, 0, 100, []byte("not an update")), codes.InvalidArgument, "corrupt message")
	wantStatus(t, "samples", upd(a, ra.ClientId, 0, 1e9, small), codes.InvalidArgument, "bad sample count")
	wantStatus(t, "unknown id", upd(a, 99, 0, 100, small), codes.PermissionDenied, "unknown client")
	wantStatus(t, "impersonation", upd(a, rb.ClientId, 0, 100, small), codes.PermissionDenied, "unknown client")
	wantStatus(t, "future", upd(a, ra.ClientId, 5, 100, small), codes.FailedPrecondition, "future round")
	if err := upd(a, ra.ClientId, 0, 100, small); err != nil {
		t.Fatalf("a valid update was refused: %v", err)
	}
	wantStatus(t, "twice", upd(a, ra.ClientId, 0, 100, small), codes.FailedPrecondition, "replayed round")
	if err := upd(b, rb.ClientId, 0, 100, small); err != nil {
		t.Fatalf("a valid update was refused: %v", err)
	}
	srv.waitResults(1)
	wantStatus(t, "replay", upd(a, ra.ClientId, 0, 100, small), codes.FailedPrecondition, "replayed round")

	var refusals map[string]int
	srv.svc.Do(func(c *flnet.Coordinator) { refusals = c.Refusals() })
	want := map[string]int{"bad token": 1, "name taken": 1, "wrong length": 1, "non-finite value": 1, "norm out of bounds": 1,
		"corrupt message": 1, "bad sample count": 1, "unknown client": 2, "future round": 1, "replayed round": 2}
	for k, v := range want {
		if refusals[k] != v {
			t.Errorf("%d refusals for %q, want %d (all: %v)", refusals[k], k, v, refusals)
		}
	}
	if r := srv.results()[0]; r.Arrived != 2 || !r.Aggregated {
		t.Errorf("round %+v", r)
	}
}

func wantStatus(t *testing.T, what string, err error, code codes.Code, fragment string) {
	t.Helper()
	st := status.Convert(err)
	if err == nil || st.Code() != code || !strings.Contains(st.Message(), fragment) {
		t.Errorf("%s: got %v, want %v containing %q", what, err, code, fragment)
		return
	}
	t.Logf("%s: %s: %s", what, st.Code(), st.Message())
}

// Asynchronous FL over the network: clients pull the current model and
// push updates whenever they are ready; the coordinator mixes each one in
// (FedAsync) with at most two tasks out at once.
func TestNetworkAsync(t *testing.T) {
	parts, te := shards(t, 1500, 3)
	st, err := flnet.ParseStrategy("fedasync:0.6")
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(6)
	cfg.Strategy, cfg.Concurrency = st, 2
	coord, err := flnet.NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(t.TempDir(), "async.ckpt")
	srv := startServer(t, coord, "127.0.0.1:0", nil, ckpt, "tok")
	defer srv.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var conns []flpb.FederationClient
	for range 3 {
		conns = append(conns, dial(t, srv.addr, nil, "tok"))
	}
	for i, err := range runClients(t, ctx, conns, parts)() {
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	rs := srv.waitResults(6)
	if len(rs) != 6 {
		t.Fatalf("%d versions reported, want 6", len(rs))
	}
	var stale float64
	for i, r := range rs {
		if !r.Async || r.Round != uint64(i+1) || r.Arrived != 1 {
			t.Errorf("report %d: %+v", i, r)
		}
		stale += r.Staleness
	}
	acc := evalAcc(t, rs[5].Global, te)
	t.Logf("6 versions, mean staleness %.2f, accuracy %.3f", stale/6, acc)
	if acc < 0.75 {
		t.Errorf("accuracy %.3f", acc)
	}
	// The checkpoint holds the last version.
	c2, _ := flnet.NewCoordinator(cfg)
	if err := c2.LoadCheckpointFile(ckpt); err != nil || c2.Round() != 6 || !c2.Done() {
		t.Errorf("checkpoint: version %d, done %v, %v", c2.Round(), c2.Done(), err)
	}
}

// Secure aggregation over gRPC: four clients, one of which dies while
// training; the other three mask their updates, reveal the dead one's
// masks, and the coordinator gets their sum only — the same model FedAvg
// over the three would give, to fixed-point rounding.
func TestNetworkSecAgg(t *testing.T) {
	parts, te := shards(t, 2000, 4)
	cfg := baseConfig(1)
	cfg.MinClients, cfg.WaitClients, cfg.SecAgg = 4, 4, true
	cfg.RoundTimeout, cfg.SecAggKeyTimeout = 5*time.Second, 3*time.Second
	coord, err := flnet.NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	init := coord.Global()
	files, err := flnet.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, coord, "127.0.0.1:0", &files, "", "tok")
	defer srv.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	victimCtx, kill := context.WithCancel(ctx)
	defer kill()
	errs := make([]error, 4)
	ids := make([]federated.ClientID, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds, cctx := parts[i], ctx
			if i == 2 {
				ds, cctx = &killAfter{Dataset: parts[i], limit: 300, kill: kill}, victimCtx
			}
			c := &flnet.Client{Conn: dial(t, srv.addr, &files, "tok"), Name: fmt.Sprintf("sa-%d", i), Data: ds, Threads: 1}
			defer c.Close()
			if errs[i] = c.Register(cctx); errs[i] == nil {
				ids[i] = c.ID
				errs[i] = c.Run(cctx)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 2) != errors.Is(err, context.Canceled) || (i != 2 && err != nil) {
			t.Fatalf("client errors %v", errs)
		}
	}
	rs := srv.waitResults(1)
	if len(rs) != 1 {
		t.Fatalf("%d rounds", len(rs))
	}
	r := rs[0]
	t.Logf("round: %d selected, %d contributors %v, %d bytes up; note %q", r.Selected, r.Arrived, r.Contributors, r.BytesUp, r.Note)
	if !r.Aggregated || r.Arrived != 3 || slices.Contains(r.Contributors, ids[2]) || r.Samples != 1500 {
		r.Global = nil
		t.Fatalf("round %+v (the killed client is %d)", r, ids[2])
	}
	shard := map[federated.ClientID]data.Dataset{}
	for i, id := range ids {
		shard[id] = parts[i]
	}
	// What plain FedAvg of the three survivors gives.
	var want []float32
	{
		p, err := train.Compile(arch.MNIST2NN(1), train.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var updates []federated.Update
		for _, id := range r.Contributors {
			tc := cfg.Train
			res, err := flnet.TrainLocal(ctx, p, shard[id], init, tc, flnet.ClientSeed(cfg.Seed, 0, id), nil)
			if err != nil {
				t.Fatal(err)
			}
			updates = append(updates, federated.Update{Client: id, Samples: res.Samples, Params: res.Delta})
		}
		delta := make([]float32, len(init))
		if err := (federated.FedAvg{}).Aggregate(delta, updates); err != nil {
			t.Fatal(err)
		}
		want = slices.Clone(init)
		for i := range want {
			want[i] += delta[i]
		}
	}
	var maxDiff float64
	for i := range want {
		maxDiff = max(maxDiff, math.Abs(float64(want[i]-r.Global[i])))
	}
	acc := evalAcc(t, r.Global, te)
	t.Logf("largest difference from plain FedAvg: %.2g; accuracy %.3f", maxDiff, acc)
	if maxDiff > 1e-5 || acc < 0.6 {
		t.Errorf("secure aggregate differs from FedAvg by %g; accuracy %.3f", maxDiff, acc)
	}
}
