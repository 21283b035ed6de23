package partition_test

import (
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
)

// mobilenetProblem prepares mobilenet_v2 (100 runtime nodes) for planning:
// sizes from a traced run, times predicted from FLOPs (no profile needed
// for a benchmark of the planner itself).
func mobilenetProblem(b testing.TB) partition.Problem {
	path := filepath.Join(testenv.Shared(b), "models", "mobilenet_v2", "model.onnx")
	m, err := onnx.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: 1, NoOptimize: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	in, _ := s.SyntheticInputs(runtime.SyntheticOptions{})
	si, err := s.InferShapes(in)
	if err != nil {
		b.Fatal(err)
	}
	d := partition.NewDAG(m.Graph)
	if err := d.SetSizes(partition.SizesFromShapes(si)); err != nil {
		b.Fatal(err)
	}
	pred := partition.Predictor{All: partition.Coeffs{A: 5e-6, B: 1 / 20e9, C: 1 / 10e9}}
	edge := pred.Times(partition.NodeStats(d, si.Nodes))
	return partition.Problem{DAG: d,
		Tiers: []partition.Tier{
			{Name: "device", Times: partition.Scale(edge, 8)},
			{Name: "edge", Times: edge},
			{Name: "cloud", Times: partition.Scale(edge, 0.25)}},
		Hops: []partition.Hop{
			{Link: partition.Link{Mbps: 20, RTT: 0.005}, Codec: partition.CodecFP16},
			{Link: partition.Link{Mbps: 200, RTT: 0.03}, Codec: partition.CodecFP16}}}
}

func BenchmarkPlanMobileNetV2(b *testing.B) {
	base := mobilenetProblem(b)
	two := base
	two.Tiers, two.Hops = base.Tiers[:2], base.Hops[:1]
	mincut := two
	mincut.MinCut = true
	energy := two
	energy.Objective = partition.MinEnergy
	capped := two
	capped.MemoryCap = 4 << 20
	for _, c := range []struct {
		name string
		p    partition.Problem
	}{{"two-tier", two}, {"two-tier-energy", energy}, {"two-tier-memcap", capped}, {"two-tier+mincut", mincut}, {"three-tier", base}} {
		b.Run(c.name, func(b *testing.B) {
			pl, err := c.p.Plan()
			if err != nil {
				b.Fatal(err)
			}
			b.Log(pl)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.p.Plan(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
