package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgedl/edgedl/node/bench"
	"github.com/edgedl/edgedl/onnx"
)

// setupBenchPartition is `edgedl bench partition MODEL.onnx`: the planner's
// choice against the best measured placement, per uplink bandwidth, over
// real gRPC on loopback with emulated links.
func setupBenchPartition(e *env, fs *flag.FlagSet) func([]string) error {
	var o bench.Options
	bws := fs.String("bandwidths", "1,5,10,50,100,1000", "device uplink `Mbit/s` values, comma-separated")
	fs.DurationVar(&o.RTT, "rtt", 20*time.Millisecond, "device uplink round-trip time")
	fs.Float64Var(&o.EdgeCloudMbps, "edge-cloud-bandwidth", 1000, "edge to cloud `Mbit/s`")
	fs.DurationVar(&o.EdgeCloudRTT, "edge-cloud-rtt", 10*time.Millisecond, "edge to cloud round-trip time")
	fs.Float64Var(&o.DeviceSlowdown, "device-slowdown", 8, "device compute = this `factor` x this machine's")
	fs.Float64Var(&o.EdgeSlowdown, "edge-slowdown", 2, "edge compute = this `factor` x this machine's (the cloud runs at 1x)")
	fs.StringVar(&o.Codec, "codec", "fp32", "activation `codec` on the wire: fp32, fp16 or int8")
	fs.IntVar(&o.Requests, "requests", 5, "timed requests per placement and bandwidth")
	fs.StringVar(&o.ComputeClock, "clock", "wall", "`clock` the slowdowns multiply: wall, or cpu (the thread's CPU time: other load on the machine is not multiplied; needs --threads 1)")
	fs.StringVar(&o.Statistic, "stat", "median", "`statistic` of each placement's requests: median, or min (robust to other load on the machine)")
	fs.IntVar(&o.Candidates, "candidates", 6, "best-predicted device|edge cuts measured per bandwidth for the oracle (-1: all)")
	fs.Float64Var(&o.Prune, "prune", 3, "skip cuts predicted more than this `factor` slower than the plan (-1: none)")
	fs.IntVar(&o.Threads, "threads", 1, "intra-op `threads` per session")
	asJSON := fs.Bool("json", false, "print JSON")
	plotPath := fs.String("plot", "", "write a latency-vs-bandwidth plot to `FILE` (.png, .svg, .pdf)")
	verbose := fs.Bool("v", false, "print every measured placement as it is measured (stderr)")
	return func(args []string) error {
		for _, f := range strings.Split(*bws, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || v <= 0 {
				return usagef("--bandwidths: %q is not a positive number", f)
			}
			o.Bandwidths = append(o.Bandwidths, v)
		}
		if o.ComputeClock != "wall" && o.ComputeClock != "cpu" {
			return usagef("--clock %q: want wall or cpu", o.ComputeClock)
		}
		if o.Statistic != "median" && o.Statistic != "min" {
			return usagef("--stat %q: want median or min", o.Statistic)
		}
		if o.Requests <= 0 {
			return usagef("--requests must be positive")
		}
		path := args[0]
		m, err := onnx.Load(path)
		if err != nil {
			return err
		}
		o.Logger = e.log
		if *verbose {
			o.Progress = e.stderr
		}
		rep, err := bench.Run(context.Background(), path, m, o)
		if err != nil {
			return err
		}
		if *plotPath != "" {
			if err := bench.PlotFile(*plotPath, rep); err != nil {
				return fmt.Errorf("--plot: %w", err)
			}
		}
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		bench.WriteTable(e.stdout, rep)
		if *plotPath != "" {
			fmt.Fprintf(e.stdout, "plot: %s\n", *plotPath)
		}
		return nil
	}
}
