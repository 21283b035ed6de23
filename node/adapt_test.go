package node

import (
	"testing"
	"time"

	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/link"
)

// TestAdaptiveDeviceBandwidthDrop streams batches of 8 digits over an
// emulated uplink that drops from 100 to 2 Mbit/s, and checks that the
// device leaves its offloading plan soon after the drop, and that results
// stay right throughout.
func TestAdaptiveDeviceBandwidthDrop(t *testing.T) {
	f := loadMNIST(t)
	const batch = 8
	prof, err := ProfileModel(f.model, batch, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Planner times are synthetic so that decisions do not depend on the
	// machine's load: the device takes 2 ms per node, the edge 10 us
	// (offloading pays above ~12 Mbit/s, even with gRPC overheads under -race).
	n := len(prof.DAG.Nodes)
	dev, edge := make([]float64, n), make([]float64, n)
	for i := range dev {
		dev[i], edge[i] = 2e-3, 1e-5
	}
	const rtt = time.Millisecond
	l := link.New(link.Symmetric(100*link.Mbps, rtt))
	_, addr := startNode(t, ServerConfig{Tier: "edge"}, nil)
	ad, err := NewAdaptiveDevice(AdaptiveConfig{
		Device: DeviceConfig{Model: f.model, Edge: addr, EdgeDialer: l.Dial, Token: testToken, Logger: quiet},
		Problem: partition.Problem{DAG: prof.DAG,
			Tiers: []partition.Tier{{Name: "device", Times: dev}, {Name: "edge", Times: edge}},
			Hops:  []partition.Hop{{Link: partition.Link{Mbps: 100, RTT: rtt.Seconds()}, Codec: partition.CodecFP32}}},
		Types: prof.Types,
		Adapt: partition.AdaptConfig{Estimator: partition.EstimatorConfig{Alpha: 0.5}, Hold: 0.5, ProbeAfter: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	ctx := ctxT(t, 20*time.Second)
	if err := ad.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	first := ad.Status().Spec
	if first == "device" {
		t.Fatalf("at 100 Mbit/s the plan keeps everything on the device: %s", ad.Status().Plan)
	}
	const per = 28 * 28
	input := func(i int) []*tensor.Tensor {
		lo := (i * batch) % (len(f.labels) - batch)
		return []*tensor.Tensor{tensor.Float32s([]int{batch, 1, 28, 28}, f.x.F32()[lo*per:(lo+batch)*per])}
	}
	run := func(i int) {
		r, err := ad.Infer(ctx, input(i))
		if err != nil {
			t.Fatal(err)
		}
		lo := (i * batch) % (len(f.labels) - batch)
		out := r.Outputs[0].Tensor.F32()
		for k := 0; k < batch; k++ {
			if argmax(out[k*10:(k+1)*10]) != argmax(f.ref[lo+k]) {
				t.Fatalf("request %d (split %s): digit %d differs from the whole model's", i, r.Spec, lo+k)
			}
		}
	}
	i := 0
	t0 := time.Now()
	for ; time.Since(t0) < 500*time.Millisecond; i++ {
		run(i)
	}
	if sw := ad.Status().Switches; len(sw) > 0 {
		t.Fatalf("switched before the drop: %+v", sw)
	}
	drop := time.Now()
	if err := l.Set(link.Symmetric(2*link.Mbps, rtt)); err != nil {
		t.Fatal(err)
	}
	for ; time.Since(drop) < 3*time.Second && ad.Status().Spec == first; i++ {
		run(i)
	}
	took := time.Since(drop)
	st := ad.Status()
	if st.Spec == first || len(st.Switches) == 0 {
		t.Fatalf("plan still %s 3 s after the drop (estimates %v, %s)", first, st.Links, st.Reason)
	}
	sw := st.Switches[0]
	t.Logf("%d requests; switched %s -> %s %v after the drop (decided at %v, deployed at %v; %s; estimate %v)",
		i, first, st.Spec, took.Round(time.Millisecond), sw.Decided.Round(time.Millisecond),
		sw.Deployed.Round(time.Millisecond), sw.Reason, sw.Links)
	if took > time.Second {
		t.Errorf("the plan changed %v after the drop; want within 1 s", took)
	}
	for k := 0; k < 3; k++ { // the new plan serves correctly
		run(i + k)
	}
}
