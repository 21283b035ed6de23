package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgedl/edgedl/node"
)

// setupServe runs a tier node: `edgedl serve --listen ADDR [--tier edge|cloud] [--next ADDR]`.
func setupServe(e *env, fs *flag.FlagSet) func([]string) error {
	var cfg node.ServerConfig
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8001", "gRPC (KServe v2) listen `address`")
	fs.StringVar(&cfg.HTTPListen, "http", "", "REST (KServe v2), /metrics and health listen `address` (empty: none)")
	fs.StringVar(&cfg.Tier, "tier", "edge", "this node's `tier`: edge or cloud")
	fs.StringVar(&cfg.Name, "name", "", "node `name` in logs and metrics (default: the tier)")
	fs.StringVar(&cfg.Next, "next", "", "`address` of the next tier (the cloud, for an edge node)")
	token := fs.String("token", "", "bearer `token` clients must present (default $EDGEDL_TOKEN)")
	fs.BoolVar(&cfg.NoAuth, "no-auth", false, "accept requests without a token (testing only)")
	fs.StringVar(&cfg.NextToken, "next-token", "", "token for the next tier (default: --token)")
	fs.StringVar(&cfg.TLS.CertFile, "tls-cert", "", "server certificate `file` (PEM)")
	fs.StringVar(&cfg.TLS.KeyFile, "tls-key", "", "server key `file` (PEM)")
	fs.StringVar(&cfg.TLS.CAFile, "tls-ca", "", "CA `file` whose client certificates are required (mutual TLS)")
	fs.StringVar(&cfg.NextTLS.CAFile, "next-tls-ca", "", "CA `file` to verify the next tier (enables TLS to it)")
	fs.StringVar(&cfg.NextTLS.CertFile, "next-tls-cert", "", "client certificate `file` for the next tier (mutual TLS)")
	fs.StringVar(&cfg.NextTLS.KeyFile, "next-tls-key", "", "client key `file` for the next tier")
	fs.Int64Var(&cfg.CacheBytes, "cache-bytes", 512<<20, "model cache memory limit in `bytes` (LRU eviction)")
	fs.Float64Var(&cfg.Slowdown, "slowdown", 1, "emulate a slower machine: compute time x `factor` (sleeping the difference)")
	fs.StringVar(&cfg.ComputeClock, "clock", "wall", "`clock` --slowdown multiplies: wall, or cpu (the thread's CPU time, robust to other load; use with --threads 1)")
	fs.IntVar(&cfg.Threads, "threads", 0, "intra-op `threads` per model (0: one per CPU)")
	fs.IntVar(&cfg.MaxBatch, "max-batch", 0, "dynamic batching: run up to `N` rows of concurrent requests together (0 or 1: off)")
	fs.DurationVar(&cfg.BatchWait, "batch-wait", 0, "with --max-batch, hold the first request of a burst this `long` for others to join")
	return func([]string) error {
		cfg.Token = *token
		if cfg.Token == "" {
			cfg.Token = os.Getenv("EDGEDL_TOKEN")
		}
		if cfg.Token == "" && !cfg.NoAuth {
			return usagef("a token is required: --token T or EDGEDL_TOKEN (or --no-auth for tests)")
		}
		if cfg.NextToken == "" {
			cfg.NextToken = cfg.Token
		}
		if cfg.MaxBatch < 0 || cfg.BatchWait < 0 {
			return usagef("--max-batch and --batch-wait must not be negative")
		}
		if cfg.Tier != "edge" && cfg.Tier != "cloud" {
			return usagef("--tier %q: want edge or cloud", cfg.Tier)
		}
		cfg.Logger = e.log
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		e.log.Info("serving", "tier", cfg.Tier, "grpc", cfg.Listen, "http", cfg.HTTPListen, "next", cfg.Next)
		return node.ListenAndServe(ctx, cfg)
	}
}
