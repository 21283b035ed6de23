package partition_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/tensor"
)

// chain builds a chain model x -> L0 -> L1 -> ... whose values have the
// given float32 element counts (sizes[0] is the input), with per-layer
// device and server times.
func chain(sizes []int64, dev, srv []float64) partition.Problem {
	g := &graph.Graph{Name: "chain"}
	g.Inputs = []graph.ValueInfo{{Name: "v0", Kind: graph.KindTensor}}
	s := partition.Sizes{}
	for i, e := range sizes {
		s[fmt.Sprintf("v%d", i)] = partition.TensorSize{DType: tensor.Float32, Elems: e, Bytes: 4 * e}
		if i > 0 {
			g.Nodes = append(g.Nodes, &graph.Node{Name: fmt.Sprintf("L%d", i-1), OpType: "Op",
				Inputs: []string{fmt.Sprintf("v%d", i-1)}, Outputs: []string{fmt.Sprintf("v%d", i)}})
		}
	}
	g.Outputs = []graph.ValueInfo{{Name: fmt.Sprintf("v%d", len(sizes)-1), Kind: graph.KindTensor}}
	d := partition.NewDAG(g)
	if err := d.SetSizes(s); err != nil {
		panic(err)
	}
	return partition.Problem{DAG: d,
		Tiers: []partition.Tier{{Name: "device", Times: dev}, {Name: "edge", Times: srv}},
		Hops:  []partition.Hop{{Link: partition.Link{Mbps: 100, RTT: 0.01}, Codec: partition.CodecRaw}}}
}

// adaptProblem: a 100 KB input that grows to 400 KB and then shrinks;
// the device takes 10 ms per layer, the edge 1 ms, the RTT is 10 ms.
// Uploading the input costs 14 ms plus 800 kbit over the bandwidth; all on
// the device costs 40 ms; no middle cut is ever best. The two meet at
// 30.8 Mbit/s.
func adaptProblem() partition.Problem {
	return chain([]int64{25000, 100000, 20000, 5000, 1000},
		[]float64{0.01, 0.01, 0.01, 0.01}, []float64{0.001, 0.001, 0.001, 0.001})
}

func TestEstimator(t *testing.T) {
	e := partition.NewEstimator(partition.EstimatorConfig{}, partition.Link{Mbps: 50, RTT: 0.02}, 0)
	// 1 MB taking 0.02 s RTT + 0.8 s payload = 10 Mbit/s.
	for i := 1; i <= 40; i++ {
		e.Transfer(float64(i), 1e6, 0.82)
	}
	if l := e.Link(); math.Abs(l.Mbps-10) > 0.01 {
		t.Errorf("bandwidth %v after 40 samples of 10 Mbit/s", l.Mbps)
	}
	// Small transfers feed the RTT: 1 KB at 10 Mbit/s is 0.8 ms of payload.
	for i := 0; i < 60; i++ {
		e.Transfer(50+float64(i), 1000, 0.0508)
	}
	if l := e.Link(); math.Abs(l.RTT-0.05) > 1e-3 || math.Abs(l.Mbps-10) > 0.01 {
		t.Errorf("after small transfers: %v", l)
	}
	// RTT-dominated large transfers are ignored.
	e.Transfer(200, 20000, 0.051)
	if l := e.Link(); math.Abs(l.Mbps-10) > 0.01 {
		t.Errorf("an RTT-dominated transfer moved the bandwidth to %v", l.Mbps)
	}
	e.Probe(201, 0, 0.05)
	e.Probe(202, 1e6, 0.4) // 20 Mbit/s
	if l := e.Link(); math.Abs(l.Mbps-12.5) > 1e-3 || e.LastSample() != 202 {
		t.Errorf("after a 20 Mbit/s probe: %v", l)
	}
	e.Down(203)
	if e.Link().Up() {
		t.Error("link still up after Down")
	}
	e.Probe(204, 1e6, 0.8) // comes back at 10 Mbit/s: taken as is
	if l := e.Link(); l.Mbps != 10 {
		t.Errorf("after coming back: %v", l)
	}
}

// TestAdapter replays a scenario: a steady fast link; a drop to just
// above the break-even bandwidth, then noise across it; an outage and a
// recovery within and after the hold time; a drop to 2 Mbit/s; a stale
// estimate. Times are explicit; nothing reads a clock.
func TestAdapter(t *testing.T) {
	prob := adaptProblem()
	a, err := partition.NewAdapter(prob, partition.AdaptConfig{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	upload := a.Plan()
	if upload.Nodes[1] != 4 {
		t.Fatalf("initial plan at 100 Mbit/s should upload the input: %v", upload)
	}
	mb := func(mbps float64) float64 { return 8 / mbps } // seconds for 1 MB
	now := 0.0
	var switches []string
	step := func(o partition.Observation) partition.Decision {
		t.Helper()
		dec, err := a.Step(o)
		if err != nil {
			t.Fatal(err)
		}
		if dec.Switch {
			switches = append(switches, dec.Reason)
			t.Logf("t=%.0f switch (%s): %v", o.At, dec.Reason, dec.Plan)
		}
		return dec
	}
	transfer := func(mbps float64) partition.Decision {
		now++
		return step(partition.Observation{At: now, Kind: partition.Transfer, Bytes: 1e6, Duration: 0.01 + mb(mbps)})
	}
	for i := 0; i < 10; i++ {
		if dec := transfer(100); dec.Switch || dec.Drift > 0.01 {
			t.Fatalf("steady link: %+v", dec)
		}
	}
	// Down to 32 Mbit/s: a large drift, but uploading is still best.
	for i := 0; i < 30; i++ {
		transfer(32)
	}
	// Noise of +-12% around 31 Mbit/s crosses the break-even point; a
	// memoryless planner would flip, the adapter keeps its plan.
	flips, last := 0, true
	for i := 0; i < 60; i++ {
		dec := transfer(31 * (1 + 0.12*math.Sin(float64(i))))
		p := prob
		p.Hops = []partition.Hop{{Link: dec.Links[0], Codec: partition.CodecRaw}}
		best, _ := p.Plan()
		if up := best.Nodes[0] == 0; up != last {
			flips++
			last = up
		}
	}
	if len(switches) != 0 || !a.Plan().Same(upload) {
		t.Fatalf("noise made the plan flap: %v", switches)
	}
	if flips < 2 {
		t.Errorf("the noise crossed the break-even point %d times; the test wants more", flips)
	}
	t.Logf("the best plan flipped %d times under the noise; the adapter kept its plan", flips)
	// An outage forces everything onto the device at once.
	now++
	dec := step(partition.Observation{At: now, Kind: partition.LinkDown})
	if !dec.Switch || dec.Plan.Nodes[0] != 4 || dec.Plan.Hops[0].Used {
		t.Fatalf("outage: %+v", dec)
	}
	// Recovery at 100 Mbit/s (a probe), but within the hold time: keep.
	now++
	dec = step(partition.Observation{At: now, Kind: partition.Probe, Bytes: 1e6, Duration: mb(100)})
	if dec.Switch || dec.Reason != "hold after the last switch" {
		t.Fatalf("within hold: %+v", dec)
	}
	now += 5
	dec = step(partition.Observation{At: now, Kind: partition.Tick})
	if !dec.Switch || !dec.Plan.Same(upload) {
		t.Fatalf("after the hold: %+v", dec)
	}
	// Down to 2 Mbit/s: back to the device once the estimate has moved.
	for i := 0; i < 10; i++ {
		transfer(2)
	}
	if len(switches) != 3 || a.Plan().Nodes[0] != 4 {
		t.Fatalf("after the drop to 2 Mbit/s: %v, plan %v", switches, a.Plan())
	}
	// With everything on the device nothing is sent: after ProbeAfter
	// seconds the adapter asks for a probe.
	now += 10
	if dec := step(partition.Observation{At: now, Kind: partition.Tick}); len(dec.Probe) != 1 || dec.Probe[0] != 0 {
		t.Errorf("stale estimate: probe %v", dec.Probe)
	}
	if _, err := a.Step(partition.Observation{At: now - 1}); err == nil {
		t.Error("time going backwards was accepted")
	}
	if _, err := a.Step(partition.Observation{At: now, Kind: partition.Transfer, Hop: 3}); err == nil {
		t.Error("an unknown hop was accepted")
	}
}

// TestAdapterGain: a drift under the threshold with a large predicted gain
// still switches.
func TestAdapterGain(t *testing.T) {
	// Upload 500 KB (40 ms at 100 Mbit/s) or compute 45 ms on the device.
	prob := chain([]int64{125000, 10}, []float64{0.045}, []float64{0})
	prob.Hops[0].Link = partition.Link{Mbps: 100, RTT: 0}
	a, err := partition.NewAdapter(prob, partition.AdaptConfig{Drift: 0.5, Gain: 0.05, Hold: -1,
		Estimator: partition.EstimatorConfig{Alpha: 1}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Plan().Nodes[1] != 1 {
		t.Fatalf("initial plan %v", a.Plan())
	}
	// 60 Mbit/s: a 40% drift; uploading now takes 67 ms.
	dec, err := a.Step(partition.Observation{At: 1, Kind: partition.Probe, Bytes: 1e6, Duration: 8.0 / 60})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: drift %.2f gain %.2f: %v", dec.Reason, dec.Drift, dec.Gain, dec.Plan)
	if dec.Drift >= 0.5 || !dec.Switch || dec.Plan.Nodes[0] != 1 || math.Abs(dec.Gain-(1-45/66.67)) > 1e-3 {
		t.Errorf("decision %+v", dec)
	}
}
