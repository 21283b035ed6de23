package partition_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/tensor"
)

// randomCase is a random DAG with random sizes and per-tier times.
type randomCase struct {
	g     *graph.Graph
	d     *partition.DAG
	sizes partition.Sizes
	times [3][]float64
	// consts are the constant values, known by construction.
	consts map[string]bool
}

// randomGraph builds a random valid graph of n runtime nodes: one or two
// inputs, nodes reading one to three earlier values (long skips
// included), a few with two outputs, constant nodes and initializers read
// by some nodes, and random graph outputs (sometimes an intermediate
// value or a graph input).
func randomGraph(r *rand.Rand, n int) *randomCase {
	rc := &randomCase{consts: map[string]bool{}, sizes: partition.Sizes{}}
	g := &graph.Graph{Name: "random", ValueInfo: map[string]graph.ValueInfo{}}
	size := func(name string) {
		if r.IntN(5) == 0 {
			e := int64(1 + r.IntN(8))
			rc.sizes[name] = partition.TensorSize{DType: tensor.Int64, Elems: e, Bytes: 8 * e}
			return
		}
		e := int64(1 + r.IntN(20000))
		rc.sizes[name] = partition.TensorSize{DType: tensor.Float32, Elems: e, Bytes: 4 * e}
	}
	var avail []string
	for i := 0; i < 1+r.IntN(2); i++ {
		name := fmt.Sprintf("x%d", i)
		g.Inputs = append(g.Inputs, graph.ValueInfo{Name: name, Kind: graph.KindTensor})
		avail = append(avail, name)
		size(name)
	}
	g.AddInitializer("w0", tensor.Float32s([]int{100}, make([]float32, 100)))
	rc.consts["w0"] = true
	constNames := []string{"w0"}
	for i := 0; i < n; i++ {
		if r.IntN(4) == 0 { // a constant node, excluded from the DAG
			name := fmt.Sprintf("c%d", i)
			cn := &graph.Node{Name: "C" + name, OpType: "Const", Outputs: []string{name}}
			if r.IntN(2) == 0 {
				cn.Inputs = []string{constNames[r.IntN(len(constNames))]}
			}
			g.Nodes = append(g.Nodes, cn)
			rc.consts[name] = true
			constNames = append(constNames, name)
			e := int64(1 + r.IntN(1000))
			rc.sizes[name] = partition.TensorSize{DType: tensor.Float32, Elems: e, Bytes: 4 * e}
		}
		nd := &graph.Node{Name: fmt.Sprintf("N%d", i), OpType: "Op"}
		k := 1 + r.IntN(3)
		seen := map[string]bool{}
		for j := 0; j < k; j++ {
			var v string
			if r.IntN(2) == 0 { // recent values are likelier: chains with skips
				v = avail[max(0, len(avail)-1-r.IntN(3))]
			} else {
				v = avail[r.IntN(len(avail))]
			}
			if !seen[v] {
				seen[v] = true
				nd.Inputs = append(nd.Inputs, v)
			}
		}
		if r.IntN(3) == 0 {
			nd.Inputs = append(nd.Inputs, constNames[r.IntN(len(constNames))])
		}
		outs := 1
		if r.IntN(6) == 0 {
			outs = 2
		}
		for j := 0; j < outs; j++ {
			name := fmt.Sprintf("v%d_%d", i, j)
			nd.Outputs = append(nd.Outputs, name)
			avail = append(avail, name)
			size(name)
		}
		g.Nodes = append(g.Nodes, nd)
	}
	last := g.Nodes[len(g.Nodes)-1].Outputs[0]
	g.Outputs = append(g.Outputs, graph.ValueInfo{Name: last, Kind: graph.KindTensor})
	if r.IntN(3) == 0 {
		if v := avail[r.IntN(len(avail))]; v != last {
			g.Outputs = append(g.Outputs, graph.ValueInfo{Name: v, Kind: graph.KindTensor})
		}
	}
	rc.g = g
	rc.d = partition.NewDAG(g)
	if err := rc.d.SetSizes(rc.sizes); err != nil {
		panic(err)
	}
	for t := range rc.times {
		rc.times[t] = make([]float64, len(rc.d.Nodes))
		for i := range rc.times[t] {
			switch r.IntN(6) {
			case 0:
				rc.times[t][i] = 0 // free nodes (Flatten, Reshape) make ties
			default:
				rc.times[t][i] = r.ExpFloat64() * 1e-3 * []float64{20, 3, 1}[t]
			}
		}
	}
	return rc
}

func randomLink(r *rand.Rand) partition.Link {
	return partition.Link{Mbps: math.Exp(r.Float64()*8 - 2), RTT: r.Float64() * 0.05}
}

func randomCodec(r *rand.Rand) partition.Codec {
	c := []partition.Codec{partition.CodecRaw, partition.CodecFP16, partition.CodecInt8}[r.IntN(3)]
	if r.IntN(2) == 0 {
		c.EncodeSecPerByte, c.DecodeSecPerByte = r.Float64()*1e-9, r.Float64()*1e-9
		c.Ratio = 1 + r.Float64()
	}
	return c
}

// naive is an independent statement of the two-tier cost model, written
// from the graph's names: the head runs on tier A, the rest on tier B,
// and the crossing tensors (runtime values made in the head or graph
// inputs, read by the rest or graph outputs) cross the hop.
func naive(rc *randomCase, head map[string]bool, hop partition.Hop, objective partition.Objective, en partition.Energy) float64 {
	var tA, tB float64
	runtimeNodes := 0
	producer := map[string]string{}
	for _, n := range rc.g.Nodes {
		if n.OpType == "Const" {
			continue
		}
		for _, o := range n.Outputs {
			producer[o] = n.Name
		}
		id, _ := rc.d.NodeByName(n.Name)
		if head[n.Name] {
			tA += rc.times[0][id]
		} else {
			tB += rc.times[1][id]
		}
		runtimeNodes++
	}
	if len(head) == runtimeNodes {
		if objective == partition.MinEnergy {
			return en.ComputeW * tA
		}
		return tA
	}
	readByTail := map[string]bool{}
	for _, n := range rc.g.Nodes {
		if n.OpType != "Const" && !head[n.Name] {
			for _, in := range n.Inputs {
				readByTail[in] = true
			}
		}
	}
	for _, o := range rc.g.Outputs {
		readByTail[o.Name] = true
	}
	var enc, raw float64
	for v := range readByTail {
		if rc.consts[v] {
			continue
		}
		p, made := producer[v]
		if made && !head[p] {
			continue
		}
		enc += hop.Codec.Encoded(rc.sizes[v])
		raw += float64(rc.sizes[v].Bytes)
	}
	tx := enc * 8 / (hop.Link.Mbps * 1e6)
	encT, decT := raw*hop.Codec.EncodeSecPerByte, raw*hop.Codec.DecodeSecPerByte
	if objective == partition.MinEnergy {
		return en.ComputeW*(tA+encT) + en.Radio.Power(hop.Link.Mbps)*tx + en.IdleW*(tB+decT+hop.Link.RTT)
	}
	return tA + tB + tx + hop.Link.RTT + encT + decT
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(math.Abs(a), math.Abs(b), 1e-12)
}

// TestPlanBruteForceTwoTiers checks, on random DAGs of up to 12 nodes with
// random costs, links, codecs and objectives, that the min-cut planner
// finds the optimum over ALL closed head sets, that the prefix planner
// finds the optimum over the prefix cuts, and that Evaluate agrees with the
// naive statement of the cost model on every closed set.
func TestPlanBruteForceTwoTiers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	trials := 300
	if testing.Short() {
		trials = 60
	}
	nonPrefixWins := 0
	for trial := 0; trial < trials; trial++ {
		n := 2 + r.IntN(11)
		rc := randomGraph(r, n)
		d := rc.d
		hop := partition.Hop{Link: randomLink(r), Codec: randomCodec(r)}
		obj := partition.Objective(r.IntN(2))
		en := partition.DefaultEnergy
		prob := partition.Problem{DAG: d, Objective: obj, Energy: &en,
			Tiers: []partition.Tier{{Name: "device", Times: rc.times[0]}, {Name: "cloud", Times: rc.times[1]}},
			Hops:  []partition.Hop{hop}}
		N := len(d.Nodes)
		bestAll, bestPrefix := math.Inf(1), math.Inf(1)
		for mask := 0; mask < 1<<N; mask++ {
			head := make([]bool, N)
			names := map[string]bool{}
			for i := range head {
				if mask&(1<<i) != 0 {
					head[i] = true
					names[d.Nodes[i].Name] = true
				}
			}
			if !d.Closed(head) {
				continue
			}
			tier := make([]int, N)
			for i := range tier {
				if !head[i] {
					tier[i] = 1
				}
			}
			pl, err := prob.Evaluate(tier)
			if err != nil {
				t.Fatal(err)
			}
			want := naive(rc, names, hop, obj, en)
			if !near(pl.Cost(), want) {
				t.Fatalf("trial %d head %v: Evaluate %v, naive %v", trial, head, pl.Cost(), want)
			}
			bestAll = min(bestAll, want)
			if mask&(mask+1) == 0 { // a prefix: bits 0..k-1 set
				bestPrefix = min(bestPrefix, want)
			}
		}
		pl, err := prob.Plan()
		if err != nil {
			t.Fatal(err)
		}
		if !near(pl.Cost(), bestPrefix) {
			t.Fatalf("trial %d (%v): prefix plan %v, brute force over prefixes %v\n%v", trial, obj, pl.Cost(), bestPrefix, pl)
		}
		prob.MinCut = true
		mc, err := prob.Plan()
		if err != nil {
			t.Fatal(err)
		}
		if !near(mc.Cost(), bestAll) {
			t.Fatalf("trial %d (%v): min-cut plan %v, brute force over all closed sets %v\n%v", trial, obj, mc.Cost(), bestAll, mc)
		}
		if bestAll < bestPrefix*(1-1e-9) {
			nonPrefixWins++
		}
	}
	t.Logf("%d trials; the best closed set beat every prefix cut in %d", trials, nonPrefixWins)
}

// TestPlanThreeTiers checks the exhaustive three-tier search against every
// monotone placement whose boundaries are prefix cuts, evaluated one by
// one, with relay and direct routing, and that skipping tiers happens.
func TestPlanThreeTiers(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	skips := map[string]int{}
	for trial := 0; trial < 150; trial++ {
		rc := randomGraph(r, 2+r.IntN(14))
		d := rc.d
		prob := partition.Problem{DAG: d, Objective: partition.Objective(r.IntN(2)),
			Tiers: []partition.Tier{{Name: "device", Times: rc.times[0]}, {Name: "edge", Times: rc.times[1]}, {Name: "cloud", Times: rc.times[2]}},
			Hops:  []partition.Hop{{Link: randomLink(r), Codec: randomCodec(r)}, {Link: randomLink(r), Codec: randomCodec(r)}}}
		if r.IntN(2) == 0 {
			prob.Direct = &partition.Hop{Link: randomLink(r), Codec: randomCodec(r)}
		}
		if r.IntN(4) == 0 {
			prob.MemoryCap = int64(r.IntN(2000000))
		}
		N := len(d.Nodes)
		best := math.Inf(1)
		for k1 := 0; k1 <= N; k1++ {
			for k2 := k1; k2 <= N; k2++ {
				tier := make([]int, N)
				for i := range tier {
					if i >= k1 {
						tier[i]++
					}
					if i >= k2 {
						tier[i]++
					}
				}
				pl, err := prob.Evaluate(tier)
				if err != nil {
					t.Fatal(err)
				}
				if pl.Fits {
					best = min(best, pl.Cost())
				}
			}
		}
		pl, err := prob.Plan()
		if math.IsInf(best, 1) {
			if err == nil {
				t.Fatalf("trial %d: nothing fits, yet Plan returned %v", trial, pl)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !near(pl.Cost(), best) || !pl.Fits {
			t.Fatalf("trial %d: plan %v (fits %v), brute force %v\n%v", trial, pl.Cost(), pl.Fits, best, pl)
		}
		switch {
		case pl.Nodes[0] == N:
			skips["all device"]++
		case pl.Nodes[1] == 0 && pl.Nodes[2] > 0:
			skips["edge skipped"]++
		case pl.Nodes[2] == 0:
			skips["cloud skipped"]++
		case pl.Nodes[0] == 0:
			skips["device skipped"]++
		default:
			skips["three tiers"]++
		}
	}
	t.Logf("chosen placements: %v", skips)
}

// TestMemoryCap checks the prefix planner's device-memory bookkeeping
// against DAG.PeakBytes and DAG.WeightBytes, and that the cap is obeyed.
func TestMemoryCap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for trial := 0; trial < 100; trial++ {
		rc := randomGraph(r, 1+r.IntN(15))
		d := rc.d
		N := len(d.Nodes)
		prob := partition.Problem{DAG: d,
			Tiers: []partition.Tier{{Name: "device", Times: rc.times[0]}, {Name: "edge", Times: rc.times[1]}},
			Hops:  []partition.Hop{{Link: randomLink(r), Codec: partition.CodecRaw}}}
		mems := make([]int64, N+1)
		for k := 0; k <= N; k++ {
			head := make([]bool, N)
			tier := make([]int, N)
			for i := range head {
				head[i] = i < k
				if i >= k {
					tier[i] = 1
				}
			}
			pl, err := prob.Evaluate(tier)
			if err != nil {
				t.Fatal(err)
			}
			mems[k] = pl.DeviceMemory
			if want := d.PeakBytes(head) + d.WeightBytes(head); pl.DeviceMemory != want {
				t.Fatalf("cut %d: memory %d, want %d", k, pl.DeviceMemory, want)
			}
		}
		prob.MemoryCap = mems[r.IntN(N+1)]
		pl, err := prob.Plan()
		if err != nil {
			t.Fatal(err)
		}
		if !pl.Fits || pl.DeviceMemory > prob.MemoryCap {
			t.Fatalf("trial %d: plan uses %d bytes over the cap %d", trial, pl.DeviceMemory, prob.MemoryCap)
		}
		best := math.Inf(1)
		for k := 0; k <= N; k++ {
			if mems[k] <= prob.MemoryCap {
				tier := make([]int, N)
				for i := k; i < N; i++ {
					tier[i] = 1
				}
				e, _ := prob.Evaluate(tier)
				best = min(best, e.Cost())
			}
		}
		if !near(best, pl.Cost()) {
			t.Fatalf("trial %d: capped plan %v, brute force %v", trial, pl.Cost(), best)
		}
	}
}

// TestPeakBytes checks the liveness model on the residual graph.
func TestPeakBytes(t *testing.T) {
	m := residualModel()
	d := partition.NewDAG(m.Graph)
	four := partition.TensorSize{DType: tensor.Float32, Elems: 4, Bytes: 16}
	if err := d.SetSizes(partition.Sizes{"b": four, "c": four}); err != nil {
		t.Fatal(err)
	}
	// A: x,a live (32); B: x freed after A; a,b (32); C: a,b,c (48); D: a,c,d (48) -> 48.
	for k, want := range []int64{16, 32, 32, 48, 48, 48} {
		head := make([]bool, len(d.Nodes))
		for i := 0; i < k; i++ {
			head[i] = true
		}
		if got := d.PeakBytes(head); got != want {
			t.Errorf("prefix %d: peak %d, want %d", k, got, want)
		}
	}
	all := []bool{true, true, true, true, true}
	// w (16 bytes, a Constant node) and k (ConstantOfShape [1,4] float32, 16 bytes).
	if got := d.WeightBytes(all); got != 32 {
		t.Errorf("weights %d, want 32", got)
	}
}

// TestPlanDegenerate covers a link that is down, zero-node tiers and the
// plan's cut conversion.
func TestPlanDegenerate(t *testing.T) {
	m := residualModel()
	d := partition.NewDAG(m.Graph)
	four := partition.TensorSize{DType: tensor.Float32, Elems: 4, Bytes: 16}
	d.SetSizes(partition.Sizes{"b": four, "c": four})
	slow := []float64{1, 1, 1, 1, 1}
	fast := []float64{0.1, 0.1, 0.1, 0.1, 0.1}
	prob := partition.Problem{DAG: d,
		Tiers: []partition.Tier{{Name: "device", Times: slow}, {Name: "cloud", Times: fast}},
		Hops:  []partition.Hop{{Link: partition.Link{Mbps: 0, RTT: 0.01}}}}
	pl, err := prob.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if pl.Nodes[0] != 5 || pl.Latency != 5 || pl.Hops[0].Used {
		t.Errorf("link down: %v", pl)
	}
	prob.Hops[0].Link.Mbps = 100
	pl, _ = prob.Plan()
	if pl.Nodes[1] != 5 || pl.Cuts[0] != 0 || pl.Hops[0].Bytes != 16 {
		t.Errorf("fast link: %v", pl)
	}
	cuts, err := pl.CutsOf(d)
	if err != nil || len(cuts) != 1 || cuts[0].Index != 0 {
		t.Errorf("CutsOf: %v %v", cuts, err)
	}
	if s := pl.String(); s == "" {
		t.Error("empty String")
	}
	t.Log(pl)
}

// TestEvaluateThreeTiersByHand works three placements of the residual
// model out by hand. Each hop moves 1000 bytes/s (Mbps = 0.008) with a 1 s
// RTT; the device takes 1 s per node, the edge 0.1 s, the cloud 0.01 s.
func TestEvaluateThreeTiersByHand(t *testing.T) {
	m := residualModel()
	d := partition.NewDAG(m.Graph)
	four := partition.TensorSize{DType: tensor.Float32, Elems: 4, Bytes: 16}
	d.SetSizes(partition.Sizes{"b": four, "c": four})
	times := func(x float64) []float64 { return []float64{x, x, x, x, x} }
	link := partition.Link{Mbps: 0.008, RTT: 1}
	prob := partition.Problem{DAG: d,
		Tiers: []partition.Tier{{Name: "device", Times: times(1)}, {Name: "edge", Times: times(0.1)}, {Name: "cloud", Times: times(0.01)}},
		Hops:  []partition.Hop{{Link: link}, {Link: link, Codec: partition.CodecFP16}}}
	cases := []struct {
		name    string
		tier    []int
		direct  bool
		latency float64
		bytes   [2]int64
	}{
		// A on the device, B C on the edge, D E in the cloud: hop 0 carries
		// a (16 B), hop 1 carries a and c in fp16 (16 B).
		{"device-edge-cloud", []int{0, 1, 1, 2, 2}, false, 1 + 0.2 + 0.02 + (0.016 + 1) + (0.016 + 1), [2]int64{16, 16}},
		// A B on the device, nothing on the edge: a and b (32 B) are relayed.
		{"relay", []int{0, 0, 2, 2, 2}, false, 2 + 0.03 + (0.032 + 1) + (0.016 + 1), [2]int64{32, 16}},
		// The same over a direct device-cloud hop.
		{"direct", []int{0, 0, 2, 2, 2}, true, 2 + 0.03 + (0.032 + 1), [2]int64{0, 0}},
		// Cloud idle: the edge computes the output; hop 1 is unused.
		{"edge-last", []int{0, 1, 1, 1, 1}, false, 1 + 0.4 + (0.016 + 1), [2]int64{16, 0}},
		// Everything in the cloud, relayed: x crosses both hops.
		{"all-cloud", []int{2, 2, 2, 2, 2}, false, 0.05 + (0.016 + 1) + (0.008 + 1), [2]int64{16, 8}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := prob
			if c.direct {
				p.Direct = &partition.Hop{Link: link}
			}
			pl, err := p.Evaluate(c.tier)
			if err != nil {
				t.Fatal(err)
			}
			if !near(pl.Latency, c.latency) {
				t.Errorf("latency %v, want %v", pl.Latency, c.latency)
			}
			if pl.Hops[0].Bytes != c.bytes[0] || pl.Hops[1].Bytes != c.bytes[1] {
				t.Errorf("hop bytes %d, %d; want %v", pl.Hops[0].Bytes, pl.Hops[1].Bytes, c.bytes)
			}
			if c.direct && (!pl.Direct.Used || pl.Direct.Bytes != 32) {
				t.Errorf("direct hop %+v", pl.Direct)
			}
			t.Log(pl)
		})
	}
	if _, err := prob.Evaluate([]int{1, 0, 0, 0, 0}); err == nil {
		t.Error("a placement sending data backwards was accepted")
	}
}
