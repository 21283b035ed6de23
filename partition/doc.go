// Package partition plans split inference: which part of a model runs on
// the device, which on an edge server and which in the cloud, and when to
// change that plan as the network changes. Like etcd's raft core it does no
// I/O, reads no clock and opens no connection: profiles, tensor sizes and
// link estimates go in; plans, split models and decisions come out. The
// drivers (package node, the CLI) measure, send and deploy.
//
// # Pieces
//
// NewDAG views a graph as the DAG of its runtime nodes (constant
// subgraphs such as the ConstantOfShape weights of the ONNX zoo models are
// set aside: every piece that reads a constant gets its own copy).
// DAG.Cuts enumerates the topological-prefix cuts with a canonical
// numbering (cut k: the first k runtime nodes form the head) and the
// tensors crossing each, skip connections and parallel branches included;
// WriteCuts prints them. Split and SplitN cut a graph.Model into
// standalone models (two pieces, or three for device -> edge -> cloud) whose
// chained outputs equal the whole model's.
//
// The cost model: per-node times per Tier, from a runtime.ProfileReport
// measured on that tier (TimesFromReport), or scaled from another tier
// (Scale: a device 8x slower than the edge), or predicted from FLOPs and
// bytes by a Predictor fitted on other profiles (FitPredictor,
// Neurosurgeon-style); Codec sizes per tensor (raw, fp32, fp16, int8 with
// a scale and zero point, an optional lossless ratio, codec time per
// byte); a Link per Hop (Mbit/s, RTT); the device's Energy (compute, idle,
// and radio power after Huang et al.'s uplink model).
//
// Problem.Plan minimises latency, or device energy, optionally under a
// device memory cap (peak activations plus weights of the device piece),
// for two tiers or three (any tier may run nothing). It searches all prefix
// cuts exactly (all pairs of them for three tiers), and with
// Problem.MinCut also every closed head set through the DADS minimum s-t
// cut. Problem.Evaluate prices any placement.
//
// Adapter turns observed transfers and probes into bandwidth and RTT
// estimates (EWMA) and decides, with hysteresis, when a new plan is worth
// switching to. Cascade tabulates accuracy against offloaded fraction for
// an early-exit or small/big model cascade.
//
// Units throughout: seconds, bytes, Mbit/s, watts, joules.
//
// # Usage
//
// Prepare once per model (CLI: edgedl plan MODEL):
//
//	m, _ := onnx.Load("model.onnx")
//	s, _ := runtime.Compile(m, runtime.Options{NoOptimize: true})
//	in, _ := s.SyntheticInputs(runtime.SyntheticOptions{})
//	si, _ := s.InferShapes(in) // every value's shape, unfused
//	d := partition.NewDAG(m.Graph)
//	d.SetSizes(partition.SizesFromShapes(si))
//	partition.WriteCuts(os.Stdout, d.Cuts()) // edgedl plan MODEL --cuts
//
//	rep, _ := partition.ParseReport(edgeProfileJSON) // runtime.Profile on the edge
//	edge, _ := partition.TimesFromReport(d, rep)
//	prob := partition.Problem{
//		DAG: d,
//		Tiers: []partition.Tier{
//			{Name: "device", Times: partition.Scale(edge, 8)},
//			{Name: "edge", Times: edge},
//		},
//		Hops: []partition.Hop{{Link: partition.Link{Mbps: 20, RTT: 0.01}, Codec: partition.CodecFP16}},
//	}
//	plan, _ := prob.Plan()
//	cuts, _ := plan.CutsOf(d)
//	pieces, _ := partition.SplitN(m, cuts, partition.TypesFromShapes(si))
//	// deploy pieces[0] on the device, pieces[1] on the edge
//
// Then the driver loop, with its own clock:
//
//	a, _ := partition.NewAdapter(prob, partition.AdaptConfig{}, now())
//	for ev := range events { // transfers made, probes, ticks
//		dec, _ := a.Step(partition.Observation{At: ev.At, Kind: partition.Transfer, Bytes: ev.Bytes, Duration: ev.Seconds})
//		if dec.Switch {
//			cuts, _ := dec.Plan.CutsOf(d)
//			pieces, _ := partition.SplitN(m, cuts, types)
//			redeploy(pieces)
//		}
//		for _, hop := range dec.Probe {
//			probe(hop) // report the result as a Probe observation
//		}
//	}
//
// # Memory and sharing
//
// A DAG keeps a pointer to its graph and must not outlive changes to it.
// The models from Split share node structs and initializer tensors with
// the original: treat all of them as read-only. Planning allocates a few
// slices per call (tens of microseconds for a 100-node model) and keeps
// nothing; an Adapter holds a copy of its Problem's hops and its current
// plan.
package partition
