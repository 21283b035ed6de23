package main

import (
	"flag"
	"strconv"
	"strings"

	"github.com/edgedl/edgedl/demo"
)

// setupDemo is the default main job: device, edge and cloud nodes in one
// process on loopback with emulated links, splitting the embedded model
// and adapting as the bandwidth changes (--local: the engine alone).
func setupDemo(e *env, fs *flag.FlagSet) func([]string) error {
	var o demo.Options
	local := fs.Bool("local", false, "engine-only report: the embedded model on this machine, no tiers")
	fs.IntVar(&o.Threads, "threads", 0, "intra-op `threads` (0: one per CPU)")
	fs.IntVar(&o.Samples, "samples", 200, "with --local: how many embedded digits to classify one by one (1-200)")
	fs.DurationVar(&o.Duration, "duration", demo.DefaultDuration, "how long the split demo runs")
	fs.StringVar(&o.Model, "model", "", "run the split demo on this ONNX `file` instead of the embedded model")
	bws := fs.String("bandwidths", "", "device uplink schedule in Mbit/s, e.g. 100,2,50 (equal thirds of the run)")
	return func([]string) error {
		if *bws != "" {
			for _, f := range strings.Split(*bws, ",") {
				v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil || v <= 0 {
					return usagef("--bandwidths: %q is not a positive number", f)
				}
				o.Bandwidths = append(o.Bandwidths, v)
			}
		}
		var err error
		if *local {
			_, err = demo.RunEngine(e.stdout, o)
		} else {
			o.Logger = e.log
			_, err = demo.Run(e.stdout, o)
		}
		return err
	}
}
