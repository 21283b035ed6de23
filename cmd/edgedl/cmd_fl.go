package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/edgedl/edgedl/federated/flnet"
	"github.com/edgedl/edgedl/federated/flnet/flpb"
	"github.com/edgedl/edgedl/federated/simulate"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

// flOwners says which fl subcommands take each fl flag (the flag set is
// shared; a flag given to the wrong subcommand is a usage error).
var flOwners = map[string]string{
	"model": "server simulate", "dataset": "server client simulate", "limit": "client simulate",
	"test-limit": "server simulate", "seed": "server client simulate", "json": "server client simulate",
	"threads":   "server client simulate",
	"algorithm": "server simulate", "rounds": "server simulate", "fraction": "server simulate",
	"min-clients": "server simulate", "local-epochs": "server simulate", "batch": "server simulate",
	"lr": "server simulate", "lr-decay": "server simulate", "optimizer": "server simulate", "momentum": "server simulate",
	"compress": "server simulate", "dp-noise": "server simulate", "dp-clip": "server simulate",
	"dp-delta": "server simulate", "max-norm": "server simulate", "norm-factor": "server simulate",
	"deadline": "server simulate", "eval-every": "server simulate",
	"listen": "server", "checkpoint": "server simulate", "resume": "server simulate", "min-updates": "server",
	"wait-clients": "server", "heartbeat-timeout": "server", "concurrency": "server", "out": "server",
	"linger": "server", "max-clients": "server",
	"tls-cert": "server client", "tls-key": "server client", "tls-ca": "server client",
	"token": "server client", "token-file": "server client", "insecure": "server client",
	"server": "client", "name": "client", "shard": "client", "tls-server-name": "client",
	"partition": "client simulate",
	"clients":   "simulate", "secagg": "simulate", "dropout": "simulate", "speed-spread": "simulate",
	"slow-fraction": "simulate", "slow-factor": "simulate", "stop-at": "simulate", "gossip-steps": "simulate",
	"topology": "simulate", "attackers": "simulate", "attack": "simulate", "workers": "simulate",
	"plot": "simulate plot", "title": "plot",
}

func init() {
	commandHelp["fl"] = `
Subcommands:
  fl server    the coordinator: serves the Federation gRPC service over TLS
               with bearer tokens, selects clients, aggregates, checkpoints
  fl client    a participant: trains on its shard of a data set and sends
               compressed updates to a coordinator
  fl simulate  the same coordinator and client code in one process (no
               sockets), N clients materialised only when selected
  fl plot RUN.jsonl... --plot FILE.png [--title T]
               draw the --json output of runs (one series per file):
               accuracy against rounds and against uplink bytes

Flags by subcommand (a flag given to another subcommand is an error):
  server:   --model --algorithm --rounds --fraction --min-clients
            --min-updates --wait-clients --deadline --heartbeat-timeout
            --local-epochs --batch --lr --lr-decay --optimizer --momentum
            --compress --dp-noise --dp-clip --dp-delta --max-norm
            --norm-factor --secagg --concurrency --listen --tls-cert
            --tls-key --tls-ca --token --token-file --insecure --checkpoint
            --resume --out --dataset --test-limit --eval-every --linger
            --max-clients --seed --json
  client:   --server --name --dataset --shard --partition --limit --tls-ca
            --tls-cert --tls-key --tls-server-name --token --token-file
            --insecure --threads --seed --json
  simulate: --model --dataset --clients --fraction --local-epochs --batch
            --lr --lr-decay --optimizer --rounds --partition --algorithm --compress
            --dp-noise --dp-clip --dp-delta --secagg --deadline --dropout
            --speed-spread --slow-fraction --slow-factor --stop-at --topology
            --gossip-steps --attackers --attack --workers --plot --eval-every
            --limit --test-limit --threads --seed --json --checkpoint --resume

Algorithms: fedavg, fedprox[:MU], fedadam[:LR] (fedyogi, fedadagrad),
median, trimmed-mean[:BETA], krum[:F[:M]] (robust to poisoned updates),
async or fedasync[:ALPHA], fedbuff[:K] (asynchronous), and for simulate
gossip (D-PSGD over a --topology ring or torus, no coordinator;
--gossip-steps K trains then mixes K times a round instead).
Compression (uplink): none, qsgd:BITS, topk:FRACTION, dgc:FRACTION[:MOMENTUM]
(top-k with DGC momentum correction), sign, each +zstd.
Partitions: iid, noniid (2 label shards per client), dirichlet:ALPHA,
unbalanced:SIGMA. A networked client takes shard K of N (--shard K/N);
all clients must agree on --partition and --seed.

--json prints one line per round with round, accuracy, loss, bytes_up,
bytes_down (this round; *_total since the start), wall_s, sim_time and
epsilon (null without DP). --deadline is in seconds (simulated seconds for
simulate, where 0 waits for every client that does not drop out; the
server's default is 60). In simulate, a client's task takes E·n_k/1000
simulated seconds (times its speed factors: --speed-spread, and
--slow-factor for a --slow-fraction of the clients); --stop-at ends the run
at the first evaluation that reaches the accuracy, so the last line's
sim_time is the simulated time to that accuracy.

Example on one machine (three shells):
  edgedl fl server --model mnist-2nn --rounds 20 --fraction 1 --min-clients 2 \
      --tls-cert server.pem --tls-key server-key.pem --token s3cret \
      --dataset mnist --checkpoint coord.ckpt --out global.onnx
  edgedl fl client --server 127.0.0.1:7070 --tls-ca ca.pem --token s3cret \
      --dataset mnist --shard 0/2
  edgedl fl client --server 127.0.0.1:7070 --tls-ca ca.pem --token s3cret \
      --dataset mnist --shard 1/2`
}

// flOptions holds every fl flag.
type flOptions struct {
	model, dataset, algorithm, optimizer, compress, partition, topology, attack string
	listen, checkpoint, out, server, name, shard, plot, title                   string
	tlsCert, tlsKey, tlsCA, tlsServerName, tokenFile                            string
	tokens                                                                      stringList
	limit, testLimit, threads, rounds, minClients, localEpochs, batch           int
	minUpdates, waitClients, concurrency, evalEvery, maxClients, clients        int
	attackers, workers, gossipSteps                                             int
	seed                                                                        uint64
	fraction, lr, momentum, dpNoise, dpClip, dpDelta, maxNorm, normFactor       float64
	deadline, heartbeat, linger, dropout, speedSpread                           float64
	slowFraction, slowFactor, stopAt, lrDecay                                   float64
	asJSON, resume, insecure, secagg                                            bool
}

func setupFL(e *env, fs *flag.FlagSet) func([]string) error {
	o := &flOptions{}
	fs.StringVar(&o.model, "model", "mnist-2nn", "`MODEL`: a built-in architecture or an .onnx file")
	fs.StringVar(&o.dataset, "dataset", "", "`NAME`: mnist, fashion-mnist or a NAME_TRAIN.ts file (server: optional, evaluates the global model)")
	fs.IntVar(&o.limit, "limit", 0, "use a random subset of `N` training samples (0: all)")
	fs.IntVar(&o.testLimit, "test-limit", 0, "evaluate on a random subset of `N` test samples (0: all)")
	fs.Uint64Var(&o.seed, "seed", 1, "random `seed` (selection, partition, local shuffling)")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON line per round (client: per task)")
	fs.IntVar(&o.threads, "threads", 0, "training `threads` (default: one per CPU)")
	fs.StringVar(&o.algorithm, "algorithm", "fedavg", "aggregation `ALGORITHM` (see above)")
	fs.IntVar(&o.rounds, "rounds", 10, "`rounds` to run (async: rounds of ⌈C·N⌉ updates)")
	fs.Float64Var(&o.fraction, "fraction", 0.1, "`C`, the share of clients selected per round")
	fs.IntVar(&o.minClients, "min-clients", 1, "select at least `N` clients per round")
	fs.IntVar(&o.localEpochs, "local-epochs", 1, "local `epochs` E per round")
	fs.IntVar(&o.batch, "batch", 10, "local minibatch `size` B")
	fs.Float64Var(&o.lr, "lr", 0.05, "client learning `rate`")
	fs.Float64Var(&o.lrDecay, "lr-decay", 1, "multiply the client learning rate by `D` each round (async: each model version)")
	fs.StringVar(&o.optimizer, "optimizer", "sgd", "client `optimizer`: sgd or adam")
	fs.Float64Var(&o.momentum, "momentum", 0, "client SGD `momentum`")
	fs.StringVar(&o.compress, "compress", "none", "uplink `codec`: none, qsgd:BITS, topk:FRACTION, dgc:FRACTION[:MOMENTUM] or sign (+zstd)")
	fs.Float64Var(&o.dpNoise, "dp-noise", 0, "client-level DP: noise `multiplier` σ (0: no DP)")
	fs.Float64Var(&o.dpClip, "dp-clip", 0, "client-level DP: clip each update to L2 `norm` C (default 1 with --dp-noise)")
	fs.Float64Var(&o.dpDelta, "dp-delta", 1e-5, "DP: report ε at this `δ`")
	fs.Float64Var(&o.maxNorm, "max-norm", 0, "refuse updates whose L2 norm exceeds `N` (0: no bound)")
	fs.Float64Var(&o.normFactor, "norm-factor", 0, "refuse updates above `K` times the round's median norm (0: off)")
	fs.Float64Var(&o.deadline, "deadline", 0, "round deadline in `seconds` (server default 60; simulate: simulated, 0 none)")
	fs.IntVar(&o.evalEvery, "eval-every", 1, "evaluate the global model every `N` rounds")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7070", "listen `address`")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "write the coordinator's state (simulate: and the simulation's) to `FILE` after every round")
	fs.BoolVar(&o.resume, "resume", false, "continue from --checkpoint (after a restart; simulate: the same settings, --rounds may grow)")
	fs.IntVar(&o.minUpdates, "min-updates", 1, "a round aggregates only with at least `N` updates")
	fs.IntVar(&o.waitClients, "wait-clients", 0, "start the first round once `N` clients registered (default --min-clients)")
	fs.Float64Var(&o.heartbeat, "heartbeat-timeout", 0, "treat clients silent for `seconds` as gone (0: never)")
	fs.IntVar(&o.concurrency, "concurrency", 0, "async: at most `N` clients training at once (0: no limit)")
	fs.StringVar(&o.out, "out", "", "write the final global model to `FILE.onnx`")
	fs.Float64Var(&o.linger, "linger", 3, "after the last round, keep answering for `seconds` so clients learn it is over")
	fs.IntVar(&o.maxClients, "max-clients", 0, "refuse registrations beyond `N` clients (0: no limit)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "this side's TLS certificate `FILE` (PEM)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "this side's TLS key `FILE` (PEM)")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "CA `FILE` (PEM) that signs the peer: client: the server's; server: clients' (mutual TLS)")
	fs.Var(&o.tokens, "token", "bearer `TOKEN` (server: accepted, repeatable; client: sent)")
	fs.StringVar(&o.tokenFile, "token-file", "", "read bearer tokens from `FILE`, one per line")
	fs.BoolVar(&o.insecure, "insecure", false, "plaintext gRPC without TLS (loopback tests only)")
	fs.StringVar(&o.server, "server", "127.0.0.1:7070", "coordinator `address`")
	fs.StringVar(&o.name, "name", "", "client `name`, stable across restarts (default client-K for --shard K/N, else the host name)")
	fs.StringVar(&o.shard, "shard", "", "train on shard `K/N` of the data set")
	fs.StringVar(&o.tlsServerName, "tls-server-name", "", "`name` to verify in the server's certificate")
	fs.StringVar(&o.partition, "partition", "iid", "`PARTITION`: iid, noniid, dirichlet:ALPHA or unbalanced:SIGMA")
	fs.IntVar(&o.clients, "clients", 10, "simulated `clients` N")
	fs.BoolVar(&o.secagg, "secagg", false, "secure aggregation (Bonawitz et al.): the coordinator sees only the sum")
	fs.Float64Var(&o.dropout, "dropout", 0, "`probability` that a selected client drops out")
	fs.Float64Var(&o.speedSpread, "speed-spread", 0, "log-std `σ` of client speeds (0: equal; 1: p95 ~5x slower)")
	fs.Float64Var(&o.slowFraction, "slow-fraction", 0, "a `share` F of the clients (chosen at random) are --slow-factor times slower")
	fs.Float64Var(&o.slowFactor, "slow-factor", 10, "how many `times` slower the --slow-fraction clients are")
	fs.Float64Var(&o.stopAt, "stop-at", 0, "stop once the global model's test `accuracy` reaches this (e.g. 0.95; 0: run all rounds)")
	fs.IntVar(&o.gossipSteps, "gossip-steps", 0, "gossip: train then mix `K` times a round, x ← W^K(x+Δ) (0: D-PSGD, x ← Wx+Δ)")
	fs.StringVar(&o.topology, "topology", "ring", "gossip peer `graph`: ring or torus")
	fs.IntVar(&o.attackers, "attackers", 0, "`N` clients poison their updates (see --attack)")
	fs.StringVar(&o.attack, "attack", "signflip:4", "poisoning `ATTACK`: signflip:S or scale:S")
	fs.IntVar(&o.workers, "workers", 1, "clients trained at once (each borrows one of `N` programs)")
	fs.StringVar(&o.plot, "plot", "", "write accuracy vs rounds and vs uplink bytes to `FILE.png`")
	fs.StringVar(&o.title, "title", "", "plot `title`")
	return func(args []string) error {
		sub := args[0]
		if !slices.Contains([]string{"server", "client", "simulate", "plot"}, sub) {
			return usagef("unknown subcommand %q: want server, client, simulate or plot", sub)
		}
		if sub == "plot" && len(args) < 2 {
			return usagef("fl plot needs the --json output of at least one run")
		}
		if sub != "plot" && len(args) > 1 {
			return usagef("unexpected argument %q", args[1])
		}
		var wrong []string
		fs.Visit(func(f *flag.Flag) {
			if owners, ok := flOwners[f.Name]; ok && !slices.Contains(strings.Fields(owners), sub) {
				wrong = append(wrong, fmt.Sprintf("--%s (fl %s)", f.Name, strings.ReplaceAll(owners, " ", ", fl ")))
			}
		})
		if len(wrong) > 0 {
			return usagef("not flags of 'fl %s': %s", sub, strings.Join(wrong, "; "))
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		switch sub {
		case "server":
			return o.runServer(ctx, e)
		case "client":
			return o.runClient(ctx, e)
		case "plot":
			return o.runPlot(e, args[1:])
		}
		return o.runSimulate(ctx, e)
	}
}

func (o *flOptions) trainConfig() flnet.TrainConfig {
	return flnet.TrainConfig{LocalEpochs: o.localEpochs, Batch: o.batch, LR: o.lr, LRDecay: o.lrDecay, Optimizer: o.optimizer,
		Momentum: o.momentum, Compression: o.compress}
}

func (o *flOptions) checkCommon() error {
	switch {
	case o.rounds <= 0 || o.localEpochs <= 0 || o.batch <= 0 || o.minClients <= 0 || o.evalEvery <= 0:
		return usagef("--rounds, --local-epochs, --batch, --min-clients and --eval-every must be positive")
	case !(o.fraction > 0 && o.fraction <= 1):
		return usagef("--fraction %v: want a share in (0, 1]", o.fraction)
	case !(o.lr > 0) || o.deadline < 0 || o.dpNoise < 0 || o.dpClip < 0 || !(o.dpDelta > 0 && o.dpDelta < 1):
		return usagef("--lr must be positive, --deadline, --dp-noise and --dp-clip not negative, --dp-delta in (0, 1)")
	case o.optimizer != "sgd" && o.optimizer != "adam":
		return usagef("--optimizer %q: want sgd or adam", o.optimizer)
	}
	if _, err := flnet.ParseCompression(o.compress); err != nil {
		return &usageError{err.Error()}
	}
	return nil
}

// allTokens gathers --token and --token-file.
func (o *flOptions) allTokens() ([]string, error) {
	toks := slices.Clone([]string(o.tokens))
	if o.tokenFile != "" {
		f, err := os.Open(o.tokenFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" && !strings.HasPrefix(t, "#") {
				toks = append(toks, t)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return toks, nil
}

// roundPrinter evaluates and prints round records, in order, on its own
// goroutine (so a slow evaluation never holds up the coordinator).
type roundPrinter struct {
	e       *env
	asJSON  bool
	rounds  int
	every   int
	prog    *train.Program // nil: no evaluation
	test    data.Dataset
	start   time.Time
	ch      chan flnet.RoundResult
	done    chan struct{}
	upTot   int64
	downTot int64
	n       int
}

func newRoundPrinter(e *env, asJSON bool, rounds, every int, prog *train.Program, test data.Dataset) *roundPrinter {
	p := &roundPrinter{e: e, asJSON: asJSON, rounds: rounds, every: every, prog: prog, test: test, start: time.Now(),
		ch: make(chan flnet.RoundResult, 1<<16), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *roundPrinter) loop() {
	defer close(p.done)
	for r := range p.ch {
		p.n++
		rec := simulate.Record{Round: int(r.Round) + 1, TrainLoss: r.ClientLoss, BytesUp: r.BytesUp, BytesDown: r.BytesDown,
			WallS: time.Since(p.start).Seconds(), Selected: r.Selected, Arrived: r.Arrived, Late: r.Late, Dropped: r.Missing,
			Refused: r.Refused, Aggregated: r.Aggregated, Staleness: r.Staleness}
		if r.Async {
			rec.Version, rec.Round = r.Round, p.n
		}
		p.upTot += r.BytesUp
		p.downTot += r.BytesDown
		rec.BytesUpTotal, rec.BytesDownTotal = p.upTot, p.downTot
		if !math.IsNaN(r.Epsilon) {
			eps := r.Epsilon
			rec.Epsilon = &eps
		}
		if p.prog != nil && (rec.Round%p.every == 0 || r.Done) {
			if err := p.prog.SetParams(r.Global); err == nil {
				if loss, acc, err := p.prog.Evaluate(p.test, 256, nil); err == nil {
					rec.Loss, rec.Accuracy = &loss, &acc
				}
			}
		}
		if !r.Aggregated {
			rec.Note = r.Note
		}
		printRecord(p.e.stdout, rec, p.rounds, p.asJSON, r.Note)
	}
}

// close waits for the queued rounds to be printed.
func (p *roundPrinter) close() {
	close(p.ch)
	<-p.done
}

func printRecord(w io.Writer, r simulate.Record, rounds int, asJSON bool, note string) {
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "round %d/%d", r.Round, rounds)
	if r.Version > 0 {
		fmt.Fprintf(&b, " (v%d)", r.Version)
	}
	if r.Accuracy != nil {
		fmt.Fprintf(&b, "  accuracy %.2f%%  loss %.4f", 100**r.Accuracy, *r.Loss)
	}
	fmt.Fprintf(&b, "  up %s  down %s", humanBytes(r.BytesUp), humanBytes(r.BytesDown))
	if r.Version > 0 {
		fmt.Fprintf(&b, "  updates %d", r.Arrived)
	} else {
		fmt.Fprintf(&b, "  clients %d/%d", r.Arrived, r.Selected)
	}
	if r.Late+r.Dropped+r.Refused > 0 {
		fmt.Fprintf(&b, " (%d late, %d dropped, %d refused)", r.Late, r.Dropped, r.Refused)
	}
	if r.Epsilon != nil {
		fmt.Fprintf(&b, "  ε %.3g", *r.Epsilon)
	}
	if r.Consensus > 0 {
		fmt.Fprintf(&b, "  consensus %.3g", r.Consensus)
	}
	fmt.Fprintf(&b, "  %.1fs", r.WallS)
	if !r.Aggregated && note != "" {
		fmt.Fprintf(&b, "  not aggregated: %s", note)
	}
	fmt.Fprintln(w, b.String())
}

func (o *flOptions) runServer(ctx context.Context, e *env) error {
	if err := o.checkCommon(); err != nil {
		return err
	}
	strategy, err := flnet.ParseStrategy(o.algorithm)
	if err != nil {
		return &usageError{err.Error()}
	}
	if o.resume && o.checkpoint == "" {
		return usagef("--resume needs --checkpoint FILE")
	}
	tokens, err := o.allTokens()
	if err != nil {
		return err
	}
	var creds credentials.TransportCredentials
	switch {
	case o.insecure && (o.tlsCert != "" || o.tlsKey != ""):
		return usagef("--insecure and --tls-cert/--tls-key exclude each other")
	case o.insecure:
		e.log.Warn("serving plaintext gRPC (--insecure): tokens and models travel in the clear")
	case o.tlsCert == "" || o.tlsKey == "":
		return usagef("the coordinator needs --tls-cert and --tls-key (or --insecure for a loopback test)")
	default:
		conf, err := flnet.ServerTLS(o.tlsCert, o.tlsKey, o.tlsCA)
		if err != nil {
			return err
		}
		creds = credentials.NewTLS(conf)
	}
	if len(tokens) == 0 && !o.insecure {
		return usagef("the coordinator needs --token or --token-file (clients authenticate with a bearer token)")
	}
	var ds *dataSets
	if o.dataset != "" {
		if ds, err = loadData(o.dataset, 0, o.testLimit, o.seed); err != nil {
			return err
		}
	}
	m, err := buildModel(o.model, ds, o.seed)
	if err != nil {
		return err
	}
	deadline := time.Duration(o.deadline * float64(time.Second))
	if deadline == 0 {
		deadline = time.Minute
	}
	cfg := flnet.Config{
		Model: m, Strategy: strategy, Rounds: o.rounds, Fraction: o.fraction, MinClients: o.minClients,
		MinUpdates: o.minUpdates, WaitClients: o.waitClients, RoundTimeout: deadline,
		HeartbeatTimeout: time.Duration(o.heartbeat * float64(time.Second)), Train: o.trainConfig(),
		MaxNorm: o.maxNorm, NormFactor: o.normFactor, Concurrency: o.concurrency, MaxClients: o.maxClients,
		DP: flnet.DPConfig{NoiseMultiplier: o.dpNoise, Clip: o.dpClip, Delta: o.dpDelta}, SecAgg: o.secagg, Seed: o.seed,
	}
	if o.heartbeat > 0 {
		cfg.Train.Heartbeat = time.Duration(o.heartbeat * float64(time.Second) / 3)
	}
	coord, err := flnet.NewCoordinator(cfg)
	if err != nil {
		return &usageError{err.Error()}
	}
	if o.checkpoint != "" {
		_, statErr := os.Stat(o.checkpoint)
		switch {
		case statErr == nil && o.resume:
			if err := coord.LoadCheckpointFile(o.checkpoint); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "resumed from %s at round %d\n", o.checkpoint, coord.Round())
		case statErr == nil:
			return fmt.Errorf("checkpoint %s exists: pass --resume to continue from it, or remove it", o.checkpoint)
		case o.resume:
			fmt.Fprintf(e.stderr, "no checkpoint at %s yet: starting at round 0\n", o.checkpoint)
		}
	}
	var evalProg *train.Program
	if ds != nil {
		if evalProg, err = train.Compile(m, train.Options{Threads: o.threads}); err != nil {
			return err
		}
		defer evalProg.Close()
	}
	var test data.Dataset
	if ds != nil {
		test = ds.test
	}
	printer := newRoundPrinter(e, o.asJSON, o.rounds, o.evalEvery, evalProg, test)
	meter := &flnet.Meter{}
	svc := flnet.NewService(coord, flnet.ServiceConfig{
		Tokens: tokens, Checkpoint: o.checkpoint, Meter: meter, Log: e.log,
		OnRound: func(r flnet.RoundResult) { printer.ch <- r },
	})
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		printer.close()
		return err
	}
	gs := grpc.NewServer(svc.ServerOptions(creds)...)
	flpb.RegisterFederationServer(gs, svc)
	serveErr := make(chan error, 1)
	go func() { serveErr <- gs.Serve(lis) }()
	if !o.asJSON {
		mode := "sync"
		if strategy.Async() {
			mode = "async"
		}
		fmt.Fprintf(e.stderr, "coordinator listening on %s (%s, %s, %s parameters, %d rounds)\n", lis.Addr(), strategy, mode,
			commas(int64(coord.Dim())), o.rounds)
	}
	runErr := svc.Run(ctx, 50*time.Millisecond)
	if runErr == nil && o.linger > 0 {
		// Let polling clients hear that training is over.
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(o.linger * float64(time.Second))):
		}
	}
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		gs.Stop()
	}
	printer.close()
	if err := <-serveErr; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	if err := svc.CheckpointError(); err != nil {
		return err
	}
	if errors.Is(runErr, context.Canceled) {
		msg := "interrupted"
		if o.checkpoint != "" {
			msg += fmt.Sprintf("; completed rounds are in %s (restart with --resume)", o.checkpoint)
		}
		return errors.New(msg)
	}
	if runErr != nil {
		return runErr
	}
	var global []float32
	var refusals map[string]int
	svc.Do(func(c *flnet.Coordinator) { global, refusals = c.Global(), c.Refusals() })
	if o.out != "" {
		p, err := train.Compile(m, train.Options{Threads: 1})
		if err != nil {
			return err
		}
		defer p.Close()
		if err := p.SetParams(global); err != nil {
			return err
		}
		if err := onnx.Save(o.out, p.Export()); err != nil {
			return err
		}
	}
	if !o.asJSON {
		var parts []string
		keys := make([]string, 0, len(refusals))
		for k := range refusals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, refusals[k]))
		}
		msg := "training done"
		if len(parts) > 0 {
			msg += "; refused: " + strings.Join(parts, ", ")
		}
		if o.out != "" {
			msg += "; wrote " + o.out
		}
		fmt.Fprintln(e.stderr, msg)
	}
	return nil
}

// clientJSON is one line of `edgedl fl client --json`.
type clientJSON struct {
	Round    uint64  `json:"round"`
	Accepted bool    `json:"accepted"`
	Refusal  string  `json:"refusal,omitempty"`
	Aborted  bool    `json:"aborted,omitempty"`
	Samples  int     `json:"samples"`
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
	BytesUp  int     `json:"bytes_up"`
	Seconds  float64 `json:"seconds"`
}

func (o *flOptions) runClient(ctx context.Context, e *env) error {
	tokens, err := o.allTokens()
	if err != nil {
		return err
	}
	if len(tokens) != 1 {
		return usagef("a client sends one bearer token: give --token or --token-file (got %d)", len(tokens))
	}
	var conf *tls.Config
	switch {
	case o.insecure && (o.tlsCA != "" || o.tlsCert != ""):
		return usagef("--insecure and --tls-* exclude each other")
	case !o.insecure:
		if conf, err = flnet.ClientTLS(o.tlsCA, o.tlsCert, o.tlsKey, o.tlsServerName); err != nil {
			return err
		}
	}
	ds, err := loadData(o.dataset, o.limit, 1, o.seed)
	if err != nil {
		return err
	}
	local := ds.train
	name := o.name
	if o.shard != "" {
		ks, ns, ok := strings.Cut(o.shard, "/")
		k, err1 := strconv.Atoi(ks)
		n, err2 := strconv.Atoi(ns)
		if !ok || err1 != nil || err2 != nil || n < 1 || k < 0 || k >= n {
			return usagef("--shard %q: want K/N with 0 <= K < N", o.shard)
		}
		parts, err := simulate.Partition(ds.train, o.partition, n, o.seed)
		if err != nil {
			return &usageError{err.Error()}
		}
		local = &data.Subset{Data: ds.train, Indices: parts[k]}
		if name == "" {
			name = fmt.Sprintf("client-%d", k)
		}
	}
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", cmpOr(host, "client"), os.Getpid())
	}
	cc, err := flnet.Dial(o.server, conf, tokens[0], nil)
	if err != nil {
		return err
	}
	defer cc.Close()
	c := &flnet.Client{Conn: flpb.NewFederationClient(cc), Name: name, Data: local, Threads: o.threads, Log: e.log}
	defer c.Close()
	var mu sync.Mutex
	c.Report = func(r flnet.TaskReport) {
		mu.Lock()
		defer mu.Unlock()
		if o.asJSON {
			b, _ := json.Marshal(clientJSON{Round: r.Round, Accepted: r.Accepted, Refusal: r.Refusal, Aborted: r.Aborted,
				Samples: r.Samples, Loss: r.Loss, Accuracy: r.Accuracy, BytesUp: r.BytesUp, Seconds: r.Seconds})
			fmt.Fprintf(e.stdout, "%s\n", b)
			return
		}
		switch {
		case r.Aborted:
			fmt.Fprintf(e.stdout, "round %d: aborted (the round closed)\n", r.Round+1)
		case !r.Accepted:
			fmt.Fprintf(e.stdout, "round %d: update refused: %s\n", r.Round+1, r.Refusal)
		default:
			fmt.Fprintf(e.stdout, "round %d: %s samples, loss %.4f, accuracy %.2f%%, sent %s in %.1fs\n", r.Round+1,
				commas(int64(r.Samples)), r.Loss, 100*r.Accuracy, humanBytes(int64(r.BytesUp)), r.Seconds)
		}
	}
	if !o.asJSON {
		fmt.Fprintf(e.stderr, "client %s: %s local samples, coordinator %s\n", name, commas(int64(local.Len())), o.server)
	}
	if err := c.Run(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("interrupted")
		}
		return err
	}
	if !o.asJSON {
		fmt.Fprintln(e.stderr, "training is over")
	}
	return nil
}

func (o *flOptions) runSimulate(ctx context.Context, e *env) error {
	if err := o.checkCommon(); err != nil {
		return err
	}
	if o.clients <= 0 || o.workers <= 0 || o.attackers < 0 || o.dropout < 0 || o.dropout >= 1 || o.speedSpread < 0 {
		return usagef("--clients and --workers must be positive, --attackers and --speed-spread not negative, --dropout in [0, 1)")
	}
	if !(o.slowFraction >= 0 && o.slowFraction <= 1) || !(o.slowFactor >= 1) || !(o.stopAt >= 0 && o.stopAt <= 1) {
		return usagef("--slow-fraction and --stop-at must be in [0, 1], --slow-factor at least 1")
	}
	ds, err := loadData(o.dataset, o.limit, o.testLimit, o.seed)
	if err != nil {
		return err
	}
	m, err := buildModel(o.model, ds, o.seed)
	if err != nil {
		return err
	}
	cfg := simulate.Config{
		Model: m, Train: ds.train, Test: ds.test, Clients: o.clients, Fraction: o.fraction, MinClients: o.minClients,
		Rounds: o.rounds, LocalEpochs: o.localEpochs, Batch: o.batch, LR: o.lr, LRDecay: o.lrDecay, Optimizer: o.optimizer,
		Momentum: o.momentum, Partition: o.partition, Algorithm: o.algorithm, Topology: o.topology, Compress: o.compress,
		DPNoise: o.dpNoise, DPClip: o.dpClip, DPDelta: o.dpDelta, SecAgg: o.secagg, Deadline: o.deadline,
		Dropout: o.dropout, SpeedSpread: o.speedSpread, MaxNorm: o.maxNorm, NormFactor: o.normFactor,
		SlowFraction: o.slowFraction, SlowFactor: o.slowFactor, GossipSteps: o.gossipSteps,
		Attackers: o.attackers, Attack: o.attack, Workers: o.workers, Threads: o.threads, EvalEvery: o.evalEvery,
		Seed: o.seed, Log: e.log, Checkpoint: o.checkpoint, Resume: o.resume,
	}
	if !o.asJSON {
		fmt.Fprintf(e.stderr, "simulating %s on %s: %d clients (%s), C=%g, E=%d, B=%d, lr %g, %s uplink\n", o.algorithm, ds.name,
			o.clients, o.partition, o.fraction, o.localEpochs, o.batch, o.lr, o.compress)
	}
	recs, err := simulate.Run(ctx, cfg, func(r simulate.Record) error {
		printRecord(e.stdout, r, o.rounds, o.asJSON, r.Note)
		if o.stopAt > 0 && r.Accuracy != nil && *r.Accuracy >= o.stopAt {
			return errReached
		}
		return nil
	})
	if errors.Is(err, errReached) {
		err = nil
		if !o.asJSON {
			fmt.Fprintf(e.stderr, "reached accuracy %g after %d rounds (simulated time %.1f s)\n", o.stopAt,
				len(recs), recs[len(recs)-1].SimTime)
		}
	}
	if err != nil && strings.HasPrefix(err.Error(), "simulate: bad configuration") {
		return &usageError{err.Error()}
	}
	if o.plot != "" && len(recs) > 0 && (err == nil || errors.Is(err, context.Canceled)) {
		// An interrupted run still plots the rounds it finished.
		title := cmpOr(o.title, fmt.Sprintf("%s, %s", o.algorithm, o.compress))
		if perr := simulate.PlotFile(o.plot, title, []simulate.Series{{Name: title, Records: recs}}); perr != nil {
			return perr
		}
		if !o.asJSON {
			fmt.Fprintf(e.stderr, "wrote %s\n", o.plot)
		}
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted after %d rounds", len(recs))
	}
	return err
}

// errReached ends a simulation that reached --stop-at.
var errReached = errors.New("reached the target accuracy")

// runPlot draws runs' --json output, one series per file.
func (o *flOptions) runPlot(e *env, files []string) error {
	if o.plot == "" {
		return usagef("fl plot needs --plot FILE.png")
	}
	var series []simulate.Series
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		s := simulate.Series{Name: strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))}
		for i, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line == "" || !strings.HasPrefix(line, "{") {
				continue
			}
			var r simulate.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return fmt.Errorf("%s:%d: %v", f, i+1, err)
			}
			s.Records = append(s.Records, r)
		}
		if len(s.Records) == 0 {
			return fmt.Errorf("%s: no JSON round lines (write them with --json)", f)
		}
		series = append(series, s)
	}
	if err := simulate.PlotFile(o.plot, cmpOr(o.title, "federated learning"), series); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s\n", o.plot)
	return nil
}
