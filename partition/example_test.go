package partition_test

import (
	"fmt"
	"os"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/tensor"
)

// A small model with a skip connection: x -> conv1 -> conv2 -> add(conv1,
// conv2) -> pool -> fc -> y.
func exampleDAG() *partition.DAG {
	g := &graph.Graph{Name: "example"}
	g.Inputs = []graph.ValueInfo{{Name: "x", Kind: graph.KindTensor}}
	g.Outputs = []graph.ValueInfo{{Name: "y", Kind: graph.KindTensor}}
	g.AddInitializer("w", tensor.Float32s([]int{1}, []float32{1}))
	for _, n := range []struct {
		name string
		in   []string
	}{{"conv1", []string{"x", "w"}}, {"conv2", []string{"conv1", "w"}}, {"add", []string{"conv1", "conv2"}},
		{"pool", []string{"add"}}, {"fc", []string{"pool", "w"}}} {
		out := n.name
		if n.name == "fc" {
			out = "y"
		}
		g.Nodes = append(g.Nodes, &graph.Node{Name: n.name, OpType: "Op", Inputs: n.in, Outputs: []string{out}})
	}
	// Sizes in float32 elements: a 150528-element image, big early
	// activations, a small pooled vector.
	elems := map[string]int64{"x": 150528, "conv1": 802816, "conv2": 802816, "add": 802816, "pool": 2048, "y": 1000}
	sizes := partition.Sizes{}
	for k, e := range elems {
		sizes[k] = partition.TensorSize{DType: tensor.Float32, Elems: e, Bytes: 4 * e}
	}
	d := partition.NewDAG(g)
	d.SetSizes(sizes)
	return d
}

func ExampleDAG_Cuts() {
	d := exampleDAG()
	partition.WriteCuts(os.Stdout, d.Cuts())
	// Output:
	// cut  after    bytes    crossing
	// 0    (input)  602112   x
	// 1    conv1    3211264  conv1
	// 2    conv2    6422528  conv1 conv2
	// 3    add      3211264  add
	// 4    pool     8192     pool
	// 5    fc       4000     y
}

func ExampleProblem_Plan() {
	d := exampleDAG()
	edge := []float64{0.004, 0.004, 0.001, 0.001, 0.006} // seconds per node on the edge
	prob := partition.Problem{
		DAG: d,
		Tiers: []partition.Tier{
			{Name: "device", Times: partition.Scale(edge, 8)},
			{Name: "edge", Times: edge},
		},
		Hops: []partition.Hop{{Link: partition.Link{Mbps: 20, RTT: 0.01}, Codec: partition.CodecFP16}},
	}
	for _, mbps := range []float64{0.5, 20, 100} {
		prob.Hops[0].Link.Mbps = mbps
		plan, err := prob.Plan()
		if err != nil {
			panic(err)
		}
		fmt.Printf("%g Mbit/s: cut %d, %s\n", mbps, plan.Cuts[0], plan)
	}
	prob.Objective = partition.MinEnergy
	prob.Hops[0].Link.Mbps = 20
	plan, _ := prob.Plan()
	fmt.Printf("energy at 20 Mbit/s: cut %d, %.3f J\n", plan.Cuts[0], plan.Energy)
	// Output:
	// 0.5 Mbit/s: cut 5, device[0:5] 128ms -> idle -> edge[-] 0us: latency 128ms, energy 0.32J, device memory 9.19MB
	// 20 Mbit/s: cut 4, device[0:4] 80ms -> 4KB fp16 11.6ms -> edge[4:5] 6ms: latency 97.6ms, energy 0.214J, device memory 9.19MB
	// 100 Mbit/s: cut 0, device[-] 0us -> 294KB fp16 34.1ms -> edge[0:5] 16ms: latency 50.1ms, energy 0.693J, device memory 588KB
	// energy at 20 Mbit/s: cut 4, 0.214 J
}

func ExampleAdapter() {
	d := exampleDAG()
	edge := []float64{0.004, 0.004, 0.001, 0.001, 0.006}
	prob := partition.Problem{
		DAG:   d,
		Tiers: []partition.Tier{{Name: "device", Times: partition.Scale(edge, 8)}, {Name: "edge", Times: edge}},
		Hops:  []partition.Hop{{Link: partition.Link{Mbps: 100, RTT: 0.01}, Codec: partition.CodecFP16}},
	}
	a, _ := partition.NewAdapter(prob, partition.AdaptConfig{}, 0)
	fmt.Println("start:", a.Plan().Cuts[0])
	// The transport reports 300 KB transfers that take longer and longer:
	// the estimate follows (EWMA); a drift first only moves the reference,
	// then the predicted gain of moving the cut passes 10%.
	for i, secs := range []float64{0.035, 0.035, 0.5, 0.5, 0.5, 0.5, 0.5} {
		dec, _ := a.Step(partition.Observation{At: float64(i + 1), Kind: partition.Transfer, Bytes: 301056, Duration: secs})
		fmt.Printf("t=%d %.3g Mbit/s switch=%v cut %d (%s)\n", i+1, dec.Links[0].Mbps, dec.Switch, dec.Plan.Cuts[0], dec.Reason)
	}
	// Output:
	// start: 0
	// t=1 99.1 Mbit/s switch=false cut 0 (keep)
	// t=2 98.4 Mbit/s switch=false cut 0 (keep)
	// t=3 75 Mbit/s switch=false cut 0 (keep)
	// t=4 57.5 Mbit/s switch=false cut 0 (link estimate drifted 43%; plan unchanged)
	// t=5 44.4 Mbit/s switch=false cut 0 (keep)
	// t=6 34.5 Mbit/s switch=false cut 0 (link estimate drifted 40%; plan unchanged)
	// t=7 27.1 Mbit/s switch=true cut 4 (predicted gain 15%)
}

func ExampleCascade() {
	samples := []partition.CascadeSample{
		{Confidence: 0.95, SmallCorrect: true, BigCorrect: true},
		{Confidence: 0.9, SmallCorrect: true, BigCorrect: false},
		{Confidence: 0.7, SmallCorrect: true, BigCorrect: true},
		{Confidence: 0.5, SmallCorrect: false, BigCorrect: true},
		{Confidence: 0.3, SmallCorrect: false, BigCorrect: true},
	}
	points := partition.Cascade(samples, []float64{0, 0.6, 0.8, 1})
	partition.WriteCascade(os.Stdout, points)
	// Output:
	// threshold  offloaded   accuracy  local accuracy
	// 0          0 (0.0%)    60.00%    60.00%
	// 0.6        2 (40.0%)   100.00%   100.00%
	// 0.8        3 (60.0%)   100.00%   100.00%
	// 1          5 (100.0%)  80.00%    -
}
