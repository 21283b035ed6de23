package flnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/codec"
	"github.com/edgedl/edgedl/federated/flnet/flpb"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

// Client is a federated-learning participant: it registers with a
// coordinator, then repeatedly fetches a task, trains on its local data and
// submits the compressed update. Conn is any flpb.FederationClient: a gRPC
// stub (flpb.NewFederationClient) or a LocalConn.
//
// Run is the whole loop for a device. Simulations call its steps
// (Register, Next, Train, Submit) themselves, in simulated time.
type Client struct {
	Conn flpb.FederationClient
	// Name identifies the client to the coordinator across reconnections.
	Name string
	// Data is the local data set.
	Data data.Dataset
	// Program trains; if nil, Register asks the coordinator for the model
	// and compiles it with Threads.
	Program *train.Program
	Threads int
	// Poison, if set, rewrites the delta before it is encoded: a test hook
	// for Byzantine clients (scaled or sign-flipped updates).
	Poison func(delta []float32)
	// Residual is the error-feedback state of a stateful codec (top-k,
	// sign, DGC: Compression.StateLen), carried from task to task;
	// simulations save and restore it per client.
	Residual []float32
	Log      *slog.Logger
	// Report, if set, is called by Run after each task.
	Report func(TaskReport)

	ID         federated.ClientID
	Session    string
	Mode       string
	dim        int
	registered bool
	owned      bool // Program was compiled here
}

// Register admits the client (retrying while the coordinator is
// unreachable, until ctx ends) and compiles the model if Program is nil.
func (c *Client) Register(ctx context.Context) error {
	req := &flpb.RegisterRequest{Name: c.Name, WantModel: c.Program == nil}
	if c.Data != nil {
		req.NumSamples = int64(c.Data.Len())
	}
	var resp *flpb.RegisterResponse
	err := retry(ctx, c.log(), "register", func() (err error) {
		resp, err = c.Conn.Register(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	c.ID, c.Session, c.Mode, c.dim = federated.ClientID(resp.GetClientId()), resp.GetSession(), resp.GetMode(), int(resp.GetNumParams())
	if c.Program == nil {
		m, err := onnx.Decode(resp.GetModel(), "")
		if err != nil {
			return fmt.Errorf("flnet: the coordinator's model: %w", err)
		}
		p, err := train.Compile(m, train.Options{Threads: c.Threads})
		if err != nil {
			return fmt.Errorf("flnet: the coordinator's model: %w", err)
		}
		c.Program, c.owned = p, true
	}
	if n := c.Program.NumParams(); n != c.dim {
		return fmt.Errorf("flnet: the local model has %d parameters, the coordinator's %d", n, c.dim)
	}
	c.registered = true
	return nil
}

// Close releases a Program that Register compiled.
func (c *Client) Close() {
	if c.owned && c.Program != nil {
		c.Program.Close()
		c.Program = nil
	}
}

func (c *Client) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Next fetches the next task (retrying while the coordinator is
// unreachable).
func (c *Client) Next(ctx context.Context) (*flpb.Task, error) {
	var t *flpb.Task
	err := retry(ctx, c.log(), "get task", func() (err error) {
		t, err = c.Conn.GetTask(ctx, &flpb.TaskRequest{ClientId: uint32(c.ID)})
		return err
	})
	return t, err
}

// TaskConfig converts a task's training configuration.
func TaskConfig(t *flpb.TrainConfig) TrainConfig {
	return TrainConfig{
		LocalEpochs: int(t.GetLocalEpochs()), Batch: int(t.GetBatch()), LR: t.GetLr(), Optimizer: t.GetOptimizer(),
		Momentum: t.GetMomentum(), ProxMu: t.GetProxMu(), MaxSteps: t.GetMaxSteps(), Compression: t.GetCompression(),
		Seed: t.GetSeed(), Clip: t.GetClip(), Heartbeat: time.Duration(t.GetHeartbeatMs()) * time.Millisecond,
	}
}

// ClientSeed mixes a task's seed, round and client into the seed of the
// client's local training (shuffling) and stochastic rounding.
func ClientSeed(seed, round uint64, id federated.ClientID) uint64 {
	x := seed ^ 0x9e3779b97f4a7c15*(round+1) ^ 0xbf58476d1ce4e5b9*(uint64(id)+1)
	x ^= x >> 31
	x *= 0x94d049bb133111eb
	return x ^ x>>29
}

// Train runs a TRAIN task and returns the update to submit. Heartbeats go
// out while it trains if the task asks for them; if the coordinator answers
// that the task is no longer wanted, training stops with ErrAborted.
func (c *Client) Train(ctx context.Context, t *flpb.Task) (*flpb.UpdateRequest, LocalResult, error) {
	cfg := TaskConfig(t.GetConfig())
	comp, err := ParseCompression(cfg.Compression)
	if err != nil {
		return nil, LocalResult{}, err
	}
	global, err := codec.Decode(t.GetGlobal(), c.dim)
	if err != nil {
		return nil, LocalResult{}, fmt.Errorf("flnet: the global model of round %d: %w", t.GetRound(), err)
	}
	seed := ClientSeed(cfg.Seed, t.GetRound(), c.ID)
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var aborted bool
	var progress func(float64)
	var wg sync.WaitGroup
	if cfg.Heartbeat > 0 {
		var mu sync.Mutex
		done := 0.0
		progress = func(f float64) { mu.Lock(); done = f; mu.Unlock() }
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(cfg.Heartbeat)
			defer tick.Stop()
			for {
				select {
				case <-tctx.Done():
					return
				case <-tick.C:
				}
				mu.Lock()
				f := done
				mu.Unlock()
				r, err := c.Conn.Heartbeat(tctx, &flpb.HeartbeatRequest{ClientId: uint32(c.ID), Round: t.GetRound(), Progress: f})
				if err == nil && r.GetAbort() {
					mu.Lock()
					aborted = true
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	res, err := TrainLocal(tctx, c.Program, c.Data, global, cfg, seed, progress)
	cancel()
	wg.Wait()
	if aborted {
		return nil, res, fmt.Errorf("%w (round %d)", ErrAborted, t.GetRound())
	}
	if err != nil {
		return nil, res, err
	}
	if c.Poison != nil {
		c.Poison(res.Delta)
	}
	if comp.Stateful() && c.Residual != nil && len(c.Residual) != comp.StateLen(len(res.Delta)) {
		c.Residual = nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x51c0))
	msg, resid, err := comp.Encode(res.Delta, rng, c.Residual)
	if err != nil {
		return nil, res, fmt.Errorf("flnet: encoding the update: %w", err)
	}
	c.Residual = resid
	req := &flpb.UpdateRequest{ClientId: uint32(c.ID), Round: t.GetRound(), Samples: int64(res.Samples), Delta: msg,
		Metrics: map[string]float64{"loss": res.Loss, "accuracy": res.Accuracy}}
	return req, res, nil
}

// TaskReport describes one task a Client ran.
type TaskReport struct {
	Round    uint64
	Accepted bool
	Refusal  string // the coordinator's reason when it refused the update
	Aborted  bool   // the coordinator stopped wanting the task (its round closed)
	Samples  int
	Loss     float64 // local training loss and accuracy
	Accuracy float64
	BytesUp  int // the encoded update
	Seconds  float64
}

// ErrAborted reports a task the coordinator no longer wanted.
var ErrAborted = errors.New("flnet: task aborted by the coordinator")

// Submit sends an update (retrying while the coordinator is unreachable).
// A refusal comes back as a gRPC status error whose message gives the
// reason.
func (c *Client) Submit(ctx context.Context, req *flpb.UpdateRequest) (*flpb.UpdateResponse, error) {
	var resp *flpb.UpdateResponse
	err := retry(ctx, c.log(), "submit", func() (err error) {
		resp, err = c.Conn.SubmitUpdate(ctx, req)
		return err
	})
	return resp, err
}

// Run registers, then trains and submits until the coordinator says DONE
// (it returns nil) or ctx ends. Refused updates are logged and the loop
// goes on; a client that fails to train returns the error.
func (c *Client) Run(ctx context.Context) error {
	if !c.registered {
		if err := c.Register(ctx); err != nil {
			return err
		}
	}
	log := c.log().With("client", c.ID)
	for {
		t, err := c.Next(ctx)
		if status.Code(err) == codes.PermissionDenied {
			// The coordinator lost our registration (restarted without its
			// checkpoint): register again, once.
			log.Warn("registering again", "err", status.Convert(err).Message())
			if err = c.Register(ctx); err == nil {
				log = c.log().With("client", c.ID)
				t, err = c.Next(ctx)
			}
		}
		if err != nil {
			return err
		}
		switch t.GetAction() {
		case flpb.Task_DONE:
			log.Info("training is over", "round", t.GetRound())
			return nil
		case flpb.Task_WAIT:
			d := time.Duration(max(t.GetRetryAfterMs(), 1)) * time.Millisecond
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
			continue
		}
		start := time.Now()
		var secure *SecureTask
		if t.GetSecagg() != nil {
			if secure, err = c.startSecure(ctx, t); err != nil {
				return err
			}
			if secure == nil {
				continue // the round moved on
			}
		}
		req, res, err := c.Train(ctx, t)
		rep := TaskReport{Round: t.GetRound(), Samples: res.Samples, Loss: res.Loss, Accuracy: res.Accuracy}
		report := func() {
			rep.Seconds = time.Since(start).Seconds()
			if c.Report != nil {
				c.Report(rep)
			}
		}
		if errors.Is(err, ErrAborted) {
			log.Info("task aborted", "round", t.GetRound())
			rep.Aborted = true
			report()
			continue
		}
		if errors.Is(err, ErrDiverged) {
			// This global model does not train here; the next one may.
			log.Warn("local training diverged; skipping the task", "round", t.GetRound(), "err", err)
			rep.Refusal = err.Error()
			report()
			continue
		}
		if err != nil {
			return err
		}
		if secure != nil {
			secure.Delta, secure.Samples = res.Delta, res.Samples
			if err := secure.run(ctx, nil); err != nil {
				return err
			}
			rep.Accepted, rep.Refusal, rep.BytesUp = secure.Aborted == "", secure.Aborted, 4*(len(res.Delta)+1)
			report()
			log.Info("secure aggregation done", "round", t.GetRound(), "aborted", secure.Aborted)
			continue
		}
		rep.BytesUp = len(req.GetDelta())
		if _, err := c.Submit(ctx, req); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("update refused", "round", t.GetRound(), "err", status.Convert(err).Message())
			rep.Refusal = status.Convert(err).Message()
			report()
			continue
		}
		rep.Accepted = true
		report()
		log.Info("update accepted", "round", t.GetRound(), "loss", res.Loss, "accuracy", res.Accuracy,
			"bytes", len(req.GetDelta()), "seconds", rep.Seconds)
	}
}

// retry calls f until it succeeds, fails with an error other than
// Unavailable (coordinator down or restarting), or ctx ends; waits grow
// from 50ms to 2s.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := f()
		if err == nil || status.Code(err) != codes.Unavailable {
			return err
		}
		log.Debug("coordinator unreachable; retrying", "call", what, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("flnet: %s: %w (last error: %v)", what, ctx.Err(), status.Convert(err).Message())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// startSecure advertises keys and waits until they are shared (training
// may then start). It returns nil if the coordinator abandoned the round
// or refused the client (its round is gone: ask for the next task).
func (c *Client) startSecure(ctx context.Context, t *flpb.Task) (*SecureTask, error) {
	st, err := c.StartSecure(ctx, t, nil)
	if err != nil {
		if _, ok := status.FromError(err); ok && ctx.Err() == nil {
			c.log().Warn("secure aggregation refused", "round", t.GetRound(), "err", status.Convert(err).Message())
			return nil, nil
		}
		return nil, err
	}
	if err := st.run(ctx, st.Shared); err != nil {
		return nil, err
	}
	if st.done {
		c.log().Warn("secure aggregation abandoned", "round", t.GetRound(), "reason", st.Aborted)
		return nil, nil
	}
	return st, nil
}

// run steps the protocol until it is done, or until stop (if not nil)
// reports true, polling every 50ms.
func (s *SecureTask) run(ctx context.Context, stop func() bool) error {
	for {
		done, err := s.Step(ctx)
		if err != nil {
			if _, ok := status.FromError(err); ok && ctx.Err() == nil {
				// Refused (e.g. too late for a step): the round goes on without us.
				s.done, s.Aborted = true, status.Convert(err).Message()
				return nil
			}
			return err
		}
		if done || (stop != nil && stop()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
