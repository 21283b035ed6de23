package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
)

// planReport is the JSON form of `edgedl plan`.
type planReport struct {
	Model string            `json:"model"`
	Cuts  []partition.Cut   `json:"cuts,omitempty"`
	Plan  *partition.Plan   `json:"plan,omitempty"`
	Links []partition.Link  `json:"links,omitempty"`
	Tiers map[string]string `json:"tier_times,omitempty"`
}

func setupPlan(e *env, fs *flag.FlagSet) func([]string) error {
	listCuts := fs.Bool("cuts", false, "list the model's cuts (index, last head node, crossing tensors and bytes) and stop")
	tiers := fs.String("tiers", "device,edge,cloud", "`tiers` to plan over: device,edge or device,cloud or device,edge,cloud")
	bw := fs.Float64("bandwidth", 10, "device uplink `Mbit/s`")
	rtt := fs.Duration("rtt", 20*time.Millisecond, "device uplink round-trip time")
	bw2 := fs.Float64("edge-cloud-bandwidth", 1000, "edge to cloud `Mbit/s` (three tiers)")
	rtt2 := fs.Duration("edge-cloud-rtt", 20*time.Millisecond, "edge to cloud round-trip time (three tiers)")
	devSlow := fs.Float64("device-slowdown", 8, "device compute time = this `factor` x time measured on this machine")
	edgeSlow := fs.Float64("edge-slowdown", 2, "edge compute time = this `factor` x time measured on this machine")
	codecName := fs.String("codec", "fp32", "activation `codec` on the wire: fp32, fp16 or int8")
	objective := fs.String("objective", "latency", "minimise `latency` or energy (device energy)")
	memCap := fs.Int64("memory-cap", 0, "device memory cap in `bytes` (0: none)")
	minCut := fs.Bool("min-cut", false, "also search non-prefix cuts with the DADS minimum s-t cut (two tiers)")
	runs := fs.Int("runs", 10, "profiling `runs` on this machine")
	threads := fs.Int("threads", 1, "intra-op `threads` for profiling")
	asJSON := fs.Bool("json", false, "print JSON")
	return func(args []string) error {
		path := args[0]
		m, err := onnx.Load(path)
		if err != nil {
			return err
		}
		// Shapes of every value, unfused, for the crossing sizes.
		plain, err := runtime.Compile(m, runtime.Options{Threads: *threads, NoOptimize: true, Logger: e.log})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer plain.Close()
		in, err := plain.SyntheticInputs(runtime.SyntheticOptions{Batch: 1, Rand: rand.New(rand.NewPCG(1, 2))})
		if err != nil {
			return err
		}
		si, err := plain.InferShapes(in)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		d := partition.NewDAG(m.Graph)
		d.SetSizes(partition.SizesFromShapes(si))
		rep := planReport{Model: path}
		if *listCuts {
			if *asJSON {
				rep.Cuts = d.Cuts()
				return writeJSON(e.stdout, rep)
			}
			return partition.WriteCuts(e.stdout, d.Cuts())
		}
		codec, ok := map[string]partition.Codec{"fp32": partition.CodecFP32, "fp16": partition.CodecFP16, "int8": partition.CodecInt8}[*codecName]
		if !ok {
			return usagef("--codec %q: want fp32, fp16 or int8", *codecName)
		}
		obj := partition.MinLatency
		switch *objective {
		case "latency":
		case "energy":
			obj = partition.MinEnergy
		default:
			return usagef("--objective %q: want latency or energy", *objective)
		}
		// Measure per-node times here; other tiers are scaled from them.
		opt, err := runtime.Compile(m, runtime.Options{Threads: *threads, Logger: e.log})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer opt.Close()
		prof, err := runtime.Profile(opt, in, runtime.ProfileOptions{Runs: *runs})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		here, err := partition.TimesFromReport(d, prof)
		if err != nil {
			return err
		}
		speed := map[string]float64{"device": *devSlow, "edge": *edgeSlow, "cloud": 1}
		prob := partition.Problem{DAG: d, Objective: obj, MemoryCap: *memCap, MinCut: *minCut}
		names := strings.Split(*tiers, ",")
		if len(names) < 2 || len(names) > 3 || names[0] != "device" {
			return usagef("--tiers %q: want device,edge or device,cloud or device,edge,cloud", *tiers)
		}
		rep.Tiers = map[string]string{}
		for _, name := range names {
			f, ok := speed[name]
			if !ok {
				return usagef("--tiers: unknown tier %q", name)
			}
			prob.Tiers = append(prob.Tiers, partition.Tier{Name: name, Times: partition.Scale(here, f)})
			rep.Tiers[name] = fmt.Sprintf("%gx this machine", f)
		}
		up := partition.Link{Mbps: *bw, RTT: rtt.Seconds()}
		prob.Hops = append(prob.Hops, partition.Hop{Link: up, Codec: codec})
		rep.Links = append(rep.Links, up)
		if len(names) == 3 {
			l2 := partition.Link{Mbps: *bw2, RTT: rtt2.Seconds()}
			prob.Hops = append(prob.Hops, partition.Hop{Link: l2, Codec: codec})
			rep.Links = append(rep.Links, l2)
		}
		plan, err := prob.Plan()
		if err != nil {
			return err
		}
		rep.Plan = &plan
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		fmt.Fprintf(e.stdout, "%s: %d cuts; tiers %s (compute scaled from this machine: device x%g, edge x%g)\n",
			path, len(d.Cuts()), *tiers, *devSlow, *edgeSlow)
		fmt.Fprintf(e.stdout, "links: device uplink %s", up)
		if len(names) == 3 {
			fmt.Fprintf(e.stdout, ", edge-cloud %s", rep.Links[1])
		}
		fmt.Fprintf(e.stdout, ", codec %s, objective %s\n\nplan: %s\n", codec.Name, obj, plan)
		return nil
	}
}
