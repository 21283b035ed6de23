package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/models/embedded"
	"github.com/edgedl/edgedl/node/bench"
	"github.com/edgedl/edgedl/onnx"
)

// setupBenchCascade is `edgedl bench cascade`: a small model on the device
// answers the inputs it is confident about and offloads the rest to a big
// model on an edge node; accuracy against the offloaded fraction per
// confidence threshold, with measured latency and uplink bytes.
func setupBenchCascade(e *env, fs *flag.FlagSet) func([]string) error {
	var o bench.CascadeOptions
	small := fs.String("small", "embedded", "the device's small `model`: an .onnx file, or \"embedded\" (the demo's 28k-parameter MNIST CNN)")
	big := fs.String("big", "", "the edge's big `model` (.onnx), e.g. ../shared/models/mnist_cnn/model.onnx")
	ths := fs.String("thresholds", "0.5,0.7,0.9,0.95,0.99", "confidence `thresholds`, comma-separated: inputs whose top softmax probability is below one are offloaded")
	dataset := fs.String("dataset", "mnist", "labelled inputs: `mnist` (the 10,000 test images) or \"embedded\" (the 200 digits in the binary)")
	limit := fs.Int("limit", 0, "use only the first `N` inputs (0: all)")
	fs.IntVar(&o.Timed, "timed", 500, "inputs sent through the cascade over gRPC to measure latency and bytes (-1: all)")
	fs.Float64Var(&o.Mbps, "bandwidth", 10, "device uplink `Mbit/s`")
	fs.DurationVar(&o.RTT, "rtt", 20*time.Millisecond, "device uplink round-trip time")
	fs.Float64Var(&o.DeviceSlowdown, "device-slowdown", 8, "device compute = this `factor` x this machine's")
	fs.Float64Var(&o.EdgeSlowdown, "edge-slowdown", 2, "edge compute = this `factor` x this machine's")
	fs.StringVar(&o.Codec, "codec", "fp32", "`codec` of the offloaded input (fp32, fp16, int8, int8c, +zstd, +lz4)")
	fs.IntVar(&o.Threads, "threads", 1, "intra-op `threads` per session")
	asJSON := fs.Bool("json", false, "print JSON")
	plotPath := fs.String("plot", "", "write an accuracy-vs-offloaded plot to `FILE` (.png, .svg, .pdf)")
	return func([]string) error {
		if *big == "" {
			return usagef("--big MODEL.onnx is required")
		}
		for _, f := range strings.Split(*ths, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || math.IsNaN(v) {
				return usagef("--thresholds: %q is not a number", f)
			}
			o.Thresholds = append(o.Thresholds, v)
		}
		if *limit < 0 {
			return usagef("--limit must not be negative")
		}
		if o.Mbps <= 0 || o.RTT < 0 || o.DeviceSlowdown < 0 || o.EdgeSlowdown < 0 {
			return usagef("--bandwidth must be positive; --rtt and the slowdowns must not be negative")
		}
		if o.Timed == 0 {
			return usagef("--timed must be positive or -1")
		}
		var sm *graph.Model
		var err error
		smallName := *small
		if *small == "embedded" {
			smallName = "embedded mnist_small"
			sm, err = embedded.MNISTModel()
		} else {
			sm, err = onnx.Load(*small)
		}
		if err != nil {
			return fmt.Errorf("--small: %w", err)
		}
		bm, err := onnx.Load(*big)
		if err != nil {
			return fmt.Errorf("--big: %w", err)
		}
		var set *mnist.Set
		switch *dataset {
		case "mnist":
			dir, err := mnist.Dir()
			if err != nil {
				return err
			}
			if set, err = mnist.Load(dir, "test"); err != nil {
				return err
			}
		case "embedded":
			x, y, err := embedded.MNISTSamples()
			if err != nil {
				return err
			}
			set = &mnist.Set{Images: x, Labels: y}
		default:
			return usagef("--dataset: %q is not mnist or embedded", *dataset)
		}
		if *limit > 0 && *limit < set.Len() {
			set = &mnist.Set{Images: set.Batch(0, *limit), Labels: set.Labels[:*limit]}
		}
		o.Logger = e.log
		rep, err := bench.RunCascade(context.Background(), sm, bm, set.Images, set.Labels, o)
		if err != nil {
			return err
		}
		rep.Small, rep.Big = smallName, *big
		if *plotPath != "" {
			if err := bench.PlotCascadeFile(*plotPath, rep); err != nil {
				return fmt.Errorf("--plot: %w", err)
			}
		}
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		bench.WriteCascadeTable(e.stdout, rep)
		if *plotPath != "" {
			fmt.Fprintf(e.stdout, "plot: %s\n", *plotPath)
		}
		return nil
	}
}
