package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgedl/edgedl/node"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// setupInfer is the device client: it runs its piece of the model locally
// and the rest on the edge (and cloud).
func setupInfer(e *env, fs *flag.FlagSet) func([]string) error {
	var in inputFlags
	in.register(fs)
	var cfg node.DeviceConfig
	fs.StringVar(&cfg.Edge, "edge", "", "edge node `address`")
	fs.StringVar(&cfg.Cloud, "cloud", "", "cloud node `address` (reached through the edge, or directly if the edge fails)")
	fs.StringVar(&cfg.Split, "split", "edge", "where to split: device, edge, cloud, a cut index `K` or K1,K2 from 'edgedl plan --cuts', or tensor names")
	fs.StringVar(&cfg.Codec, "codec", "fp32", "uplink activation `codec`: fp32, fp16, int8, int8c, each optionally +zstd or +lz4")
	token := fs.String("token", "", "bearer `token` (default $EDGEDL_TOKEN)")
	fs.StringVar(&cfg.TLS.CAFile, "tls-ca", "", "CA `file` to verify the nodes (enables TLS)")
	fs.StringVar(&cfg.TLS.CertFile, "tls-cert", "", "client certificate `file` (mutual TLS)")
	fs.StringVar(&cfg.TLS.KeyFile, "tls-key", "", "client key `file` (mutual TLS)")
	fs.DurationVar(&cfg.Timeout, "deadline", 2*time.Second, "per-request deadline; past it the device finishes locally")
	fs.Float64Var(&cfg.Slowdown, "device-slowdown", 1, "emulate a slower device: compute time x `factor`")
	fs.IntVar(&cfg.Threads, "threads", 0, "intra-op `threads` on the device")
	count := fs.Int("count", 1, "repeat the request `K` times")
	concurrency := fs.Int("concurrency", 1, "requests in flight at once")
	outDir := fs.String("output-dir", "", "write the (first request's) outputs to `DIR`/output_0.pb ...")
	asJSON := fs.Bool("json", false, "print the statistics as JSON")
	return func(args []string) error {
		if cfg.Edge == "" && cfg.Cloud == "" && cfg.Split != "device" {
			return usagef("--edge (or --cloud) is required unless --split device")
		}
		if *count <= 0 || *concurrency <= 0 {
			return usagef("--count and --concurrency must be positive")
		}
		cfg.Token = *token
		if cfg.Token == "" {
			cfg.Token = os.Getenv("EDGEDL_TOKEN")
		}
		path := args[0]
		m, err := onnx.Load(path)
		if err != nil {
			return err
		}
		cfg.Model = m
		cfg.Logger = e.log
		var inputs []*tensor.Tensor
		if len(in.files) > 0 {
			inputs, err = in.load(e, m.Graph.Inputs)
		} else {
			inputs, err = runtime.SyntheticInputs(m.Graph.Inputs, runtime.SyntheticOptions{Batch: 1})
		}
		if err != nil {
			return err
		}
		d, err := node.NewDevice(cfg)
		if err != nil {
			return err
		}
		defer d.Close()
		ctx := context.Background()
		var once sync.Once
		var writeErr error
		stats, err := d.RunMany(ctx, node.RunOptions{
			Count: *count, Concurrency: *concurrency,
			Inputs: func(int) []*tensor.Tensor { return inputs },
			Each: func(i int, r *node.Result, err error) {
				if err != nil || r == nil || *outDir == "" {
					return
				}
				once.Do(func() { writeErr = writeOutputs(*outDir, r) })
			},
		})
		if err != nil {
			return err
		}
		if writeErr != nil {
			return writeErr
		}
		if *asJSON {
			return writeJSON(e.stdout, stats)
		}
		fmt.Fprintf(e.stdout, "%s: split %s (%s), codec %s\n", path, cfg.Split, d.Plan(), cfg.Codec)
		fmt.Fprintf(e.stdout, "completed %d, failed %d, fell back %d; latency p50 %.2f ms, p99 %.2f ms; %.1f req/s\n",
			stats.Completed, stats.Failed, stats.Fallbacks, stats.P50Ms, stats.P99Ms, stats.Throughput)
		fmt.Fprintf(e.stdout, "bytes up %d, down %d; mean time device %.2f ms, edge %.2f ms, cloud %.2f ms, network %.2f ms\n",
			stats.BytesUp, stats.BytesDown, stats.DeviceMs, stats.EdgeMs, stats.CloudMs, stats.NetworkMs)
		for p, n := range stats.Paths {
			fmt.Fprintf(e.stdout, "  path %-20s %d\n", p, n)
		}
		for _, msg := range stats.Errors {
			fmt.Fprintf(e.stdout, "  error: %s\n", msg)
		}
		if stats.Failed > 0 {
			return fmt.Errorf("%d of %d requests failed", stats.Failed, *count)
		}
		return nil
	}
}

func writeOutputs(dir string, r *node.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, o := range r.Outputs {
		if err := onnx.WriteTensor(filepath.Join(dir, fmt.Sprintf("output_%d.pb", i)), o.Name, o.Tensor); err != nil {
			return err
		}
	}
	return nil
}
