package partition_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func TestCodecEncoded(t *testing.T) {
	f := partition.TensorSize{DType: tensor.Float32, Elems: 1000, Bytes: 4000}
	i := partition.TensorSize{DType: tensor.Int64, Elems: 4, Bytes: 32}
	h := partition.TensorSize{DType: tensor.Float16, Elems: 1000, Bytes: 2000}
	deflate := partition.CodecInt8
	deflate.Ratio = 2
	cases := []struct {
		codec partition.Codec
		size  partition.TensorSize
		want  float64
	}{
		{partition.CodecRaw, f, 4000},
		{partition.CodecRaw, h, 2000},
		{partition.CodecFP32, h, 4000},
		{partition.CodecFP16, f, 2000},
		{partition.CodecInt8, f, 1008},
		{partition.CodecInt8, i, 32}, // integers travel as they are
		{partition.CodecFP16, i, 32},
		{deflate, f, 504},
	}
	for _, c := range cases {
		if got := c.codec.Encoded(c.size); got != c.want {
			t.Errorf("%s of %v: %v bytes, want %v", c.codec, c.size, got, c.want)
		}
	}
}

func TestLink(t *testing.T) {
	l := partition.Link{Mbps: 8, RTT: 0.02}
	if got := l.Seconds(1e6); got != 1 {
		t.Errorf("1 MB at 8 Mbit/s: %v s", got)
	}
	if (partition.Link{Mbps: 0}).Up() || !l.Up() {
		t.Error("Up")
	}
	if p := partition.RadioWiFi.Power(10); math.Abs(p-(0.13286+2.8317)) > 1e-12 {
		t.Errorf("Wi-Fi power at 10 Mbit/s: %v", p)
	}
}

// TestFitPredictor recovers known per-op coefficients from noisy samples,
// keeps coefficients non-negative, and falls back to the all-op model.
func TestFitPredictor(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	var samples []partition.Sample
	truth := map[string]partition.Coeffs{
		"Conv":    {A: 20e-6, B: 0.1e-9, C: 0},      // compute bound: 10 GFLOP/s
		"Gemm":    {A: 5e-6, B: 0.05e-9, C: 0.2e-9}, // and memory
		"Reshape": {A: 1e-6, B: 0, C: 0.05e-9},      // no FLOPs
	}
	for i := 0; i < 300; i++ {
		for _, op := range []string{"Conv", "Gemm", "Reshape"} {
			c := truth[op]
			s := partition.NodeStat{Op: op, Bytes: int64(r.IntN(4 << 20))}
			if op != "Reshape" {
				s.FLOPs = int64(r.IntN(200e6))
			}
			y := c.Predict(s.FLOPs, s.Bytes) * (1 + 0.01*r.NormFloat64())
			samples = append(samples, partition.Sample{NodeStat: s, Seconds: y})
		}
	}
	// A decreasing trend: the unconstrained fit would have a negative slope.
	for i := 0; i < 20; i++ {
		f := int64(i) * 1e6
		samples = append(samples, partition.Sample{NodeStat: partition.NodeStat{Op: "Weird", FLOPs: f}, Seconds: 1e-3 - float64(f)*1e-12})
	}
	p := partition.FitPredictor(samples)
	for op, c := range truth {
		for _, s := range []partition.NodeStat{{Op: op, FLOPs: 50e6, Bytes: 1 << 20}, {Op: op, FLOPs: 150e6, Bytes: 3 << 20}} {
			if op == "Reshape" {
				s.FLOPs = 0
			}
			want := c.Predict(s.FLOPs, s.Bytes)
			if got := p.Predict(s); math.Abs(got-want) > 0.02*want {
				t.Errorf("%s %+v: predicted %.3g s, want %.3g", op, s, got, want)
			}
		}
	}
	w := p.Ops["Weird"]
	if w.A < 0 || w.B < 0 || w.C < 0 {
		t.Errorf("negative coefficients %+v", w)
	}
	if got := p.Predict(partition.NodeStat{Op: "Unseen", FLOPs: 1e6}); got <= 0 {
		t.Errorf("unseen op predicted %v", got)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q partition.Predictor
	if err := json.Unmarshal(b, &q); err != nil || q.Ops["Conv"] != p.Ops["Conv"] {
		t.Errorf("JSON round trip: %v", err)
	}
	t.Log("\n" + p.String())
}

// TestProfileToPlan maps a real profile of an optimized mobilenet_v2 session
// (BatchNorm-free, activations fused into Conv) onto the unoptimized DAG,
// fits a predictor on it, and predicts squeezenet1_1 from its stats alone.
func TestProfileToPlan(t *testing.T) {
	root := filepath.Join(testenv.Shared(t), "models")
	prof := func(name string) (*partition.DAG, *runtime.ProfileReport, *runtime.ShapeInfo) {
		m, err := onnx.Load(filepath.Join(root, name, "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := runtime.Compile(m, runtime.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		in, _ := s.SyntheticInputs(runtime.SyntheticOptions{})
		rep, err := runtime.Profile(s, in, runtime.ProfileOptions{Runs: 3})
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := runtime.Compile(m, runtime.Options{Threads: 1, NoOptimize: true})
		defer plain.Close()
		si, err := plain.InferShapes(in)
		if err != nil {
			t.Fatal(err)
		}
		d := partition.NewDAG(m.Graph)
		if err := d.SetSizes(partition.SizesFromShapes(si)); err != nil {
			t.Fatal(err)
		}
		return d, rep, si
	}
	d, rep, _ := prof("mobilenet_v2")
	// The report survives JSON, as it would travel from the edge server.
	b, _ := json.Marshal(rep)
	rep2, err := partition.ParseReport(b)
	if err != nil {
		t.Fatal(err)
	}
	times, err := partition.TimesFromReport(d, rep2)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, x := range times {
		sum += x
	}
	if math.Abs(sum-rep.Totals.NodeMedianUS*1e-6) > 1e-9 {
		t.Errorf("mapped %.6f s of %.6f s", sum, rep.Totals.NodeMedianUS*1e-6)
	}
	// A fused profile alone also sizes every value (neighbours fill in).
	d2 := partition.NewDAG(d.Graph)
	if err := d2.SetSizes(partition.SizesFromReport(rep)); err != nil {
		t.Errorf("sizes from an optimized profile: %v", err)
	}
	pred := partition.FitPredictor(partition.SamplesFromReport(rep))
	ds, rs, si := prof("squeezenet1_1")
	predicted := pred.Times(partition.NodeStats(ds, si.Nodes))
	var ps float64
	for _, x := range predicted {
		ps += x
	}
	t.Logf("squeezenet1_1 predicted from mobilenet_v2's profile: %.2f ms, measured %.2f ms", ps*1e3, rs.Totals.NodeMedianUS*1e-3)
	if ps <= 0 || math.IsNaN(ps) {
		t.Errorf("predicted total %v", ps)
	}
	// The device is 8x slower than this machine; plan over a 20 Mbit/s link.
	prob := partition.Problem{DAG: d,
		Tiers: []partition.Tier{{Name: "device", Times: partition.Scale(times, 8)}, {Name: "edge", Times: times}},
		Hops:  []partition.Hop{{Link: partition.Link{Mbps: 20, RTT: 0.01}, Codec: partition.CodecFP16}}}
	pl, err := prob.Plan()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(pl)
}
