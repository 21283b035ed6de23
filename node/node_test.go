package node

import (
	"strings"
	"testing"
	"time"

	"github.com/edgedl/edgedl/transport"
	"github.com/edgedl/edgedl/transport/link"
)

// TestTwoTier runs MNIST split after the first pool (cut 3) between a
// device and an edge over an emulated Wi-Fi link, for each codec: fp32
// matches the whole model to float rounding, the lossy codecs keep the
// argmax.
func TestTwoTier(t *testing.T) {
	f := loadMNIST(t)
	l := wifi()
	edge, addr := startNode(t, ServerConfig{Name: "edge-1"}, nil)
	rec := &transport.Recorder{}
	for _, c := range []string{"fp32", "fp16", "int8c+lz4", "int8+zstd"} {
		d := newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, EdgeDialer: l.Dial, Codec: c, Observer: rec})
		for i := 0; i < 20; i++ {
			r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(i))
			if err != nil {
				t.Fatal(err)
			}
			if r.Path != "device>edge" || r.Fallback {
				t.Fatalf("%s: request %d ran %q (fallback %q)", c, i, r.Path, r.FallbackReason)
			}
			if i == 0 && c == "fp32" && r.Uploads != 1 {
				t.Errorf("first request uploaded %d pieces, want 1", r.Uploads)
			}
			if i > 0 && r.Uploads != 0 {
				t.Errorf("%s: request %d uploaded again", c, i)
			}
			switch {
			case c == "fp32":
				if diff := f.maxDiff(r, i); diff > 1e-4 {
					t.Fatalf("fp32: digit %d differs from the whole model by %g", i, diff)
				}
			case !f.argmaxOK(r, i):
				t.Fatalf("%s: digit %d: argmax differs", c, i)
			}
			if r.EdgeRaw <= 0 || r.DeviceRaw <= 0 || r.BytesUp <= 0 {
				t.Fatalf("timings not recorded: %+v", r.Timings)
			}
		}
	}
	if got := edge.Models(); len(got) != 1 {
		t.Errorf("edge holds %d pieces, want 1 (one upload, by hash)", len(got))
	}
	infers := 0
	for _, s := range rec.Samples() {
		if strings.HasSuffix(s.Method, "/ModelInfer") && s.Err == nil {
			infers++
			if s.Sent <= 0 || s.Duration <= 0 {
				t.Fatalf("bad sample %+v", s)
			}
		}
	}
	if infers < 80 {
		t.Errorf("observer saw %d inference transfers, want >= 80", infers)
	}
}

// TestThreeTier runs device -> edge -> cloud with the edge forwarding: the
// device knows only the edge, uploads the edge piece there and the cloud
// piece through it, and afterwards gets the cloud's logits back without
// the intermediate activation passing through it.
func TestThreeTier(t *testing.T) {
	f := loadMNIST(t)
	backbone := link.New(link.Symmetric(200*link.Mbps, 4*time.Millisecond))
	cloud, cloudAddr := startNode(t, ServerConfig{Name: "cloud-1", Tier: "cloud"}, nil)
	edge, edgeAddr := startNode(t, ServerConfig{Name: "edge-1", Next: cloudAddr, NextDialer: backbone.Dial}, nil)
	d := newDevice(t, DeviceConfig{Model: f.model, Split: "3,6", Edge: edgeAddr, EdgeDialer: wifi().Dial,
		Codec: "int8c", NextCodec: "fp16"})
	forwarded := 0
	for i := 0; i < 30; i++ {
		r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(i))
		if err != nil {
			t.Fatal(err)
		}
		if !f.argmaxOK(r, i) {
			t.Fatalf("digit %d: argmax differs (path %s)", i, r.Path)
		}
		if i == 0 {
			// The edge piece is uploaded on NotFound; the cloud lacks its
			// piece, so the edge answers with its activation, the device
			// relays the cloud piece and finishes locally.
			if r.Path != "device>edge>device" || r.Uploads != 2 || !strings.Contains(r.ForwardError, "no model") {
				t.Fatalf("first request: path %q uploads %d forward error %q", r.Path, r.Uploads, r.ForwardError)
			}
			continue
		}
		if r.Path != "device>edge>cloud" {
			t.Fatalf("request %d ran %q: %s", i, r.Path, r.FallbackReason)
		}
		forwarded++
		// The logits (40 bytes) come back, not the 3 KB activation.
		if r.BytesDown > 400 {
			t.Fatalf("request %d: %d bytes came back to the device", i, r.BytesDown)
		}
		if r.CloudRaw <= 0 || r.EdgeCloud <= 0 {
			t.Fatalf("cloud timings missing: %+v", r.Timings)
		}
	}
	if forwarded != 29 {
		t.Fatalf("%d requests forwarded", forwarded)
	}
	if len(cloud.Models()) != 1 || len(edge.Models()) != 1 {
		t.Fatalf("edge holds %d pieces, cloud %d", len(edge.Models()), len(cloud.Models()))
	}
	body := scrape(t, cloud)
	if !strings.Contains(body, `edgedl_node_plan_choices_total{node="cloud-1",plan="3,6",tier="cloud"} 29`) {
		t.Errorf("cloud metrics lack the forwarded plan choices:\n%s", grepLines(body, "plan_choices"))
	}
	body = scrape(t, edge)
	if !strings.Contains(body, `edgedl_node_forwards_total{node="edge-1",result="ok",tier="edge"} 29`) {
		t.Errorf("edge metrics lack the forwards:\n%s", grepLines(body, "forwards_total"))
	}
}

// TestForwardFailure: when the cloud is down or too slow, the edge
// answers with its activation and says why; the device finishes locally,
// or sends the activation to the cloud itself when it can.
func TestForwardFailure(t *testing.T) {
	f := loadMNIST(t)
	// A cloud behind a link with a 400 ms RTT: too slow for a 100 ms
	// forward budget.
	slowLink := link.New(link.Symmetric(100*link.Mbps, 400*time.Millisecond))
	slowCloud, slowAddr := startNode(t, ServerConfig{Name: "cloud-slow", Tier: "cloud"}, nil)
	edgeA, edgeSlow := startNode(t, ServerConfig{Name: "edge-a", Next: slowAddr, NextDialer: slowLink.Dial,
		ForwardTimeout: 100 * time.Millisecond}, nil)
	d := newDevice(t, DeviceConfig{Model: f.model, Split: "3,6", Edge: edgeSlow})
	// Place the pieces in-process (an upload over the slow link would take
	// seconds).
	edgeHash, cloudHash := d.PieceHashes()
	if h, err := edgeA.Load(d.pieces[1].enc.bytes); err != nil || h != edgeHash {
		t.Fatal(h, err)
	}
	if h, err := slowCloud.Load(d.pieces[2].enc.bytes); err != nil || h != cloudHash {
		t.Fatal(h, err)
	}
	r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "device>edge>device" || !strings.Contains(r.ForwardError, "did not answer within") || f.maxDiff(r, 1) > 1e-4 {
		t.Fatalf("slow cloud: path %q forward error %q diff %g", r.Path, r.ForwardError, f.maxDiff(r, 1))
	}

	// A dead cloud: the edge's next address refuses connections.
	cloud, deadAddr := startNode(t, ServerConfig{Name: "cloud-dead", Tier: "cloud"}, nil)
	cloud.Close()
	_, edgeDead := startNode(t, ServerConfig{Name: "edge-b", Next: deadAddr}, nil)
	d = newDevice(t, DeviceConfig{Model: f.model, Split: "3,6", Edge: edgeDead})
	for i := 0; i < 3; i++ {
		r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(i))
		if err != nil {
			t.Fatal(err)
		}
		if r.Path != "device>edge>device" || !strings.Contains(r.ForwardError, "Unavailable") && !strings.Contains(r.ForwardError, "refused") || f.maxDiff(r, i) > 1e-4 {
			t.Fatalf("dead cloud: path %q forward error %q", r.Path, r.ForwardError)
		}
	}

	// The device that also knows a working cloud sends the activation
	// there itself.
	_, goodCloud := startNode(t, ServerConfig{Name: "cloud-ok", Tier: "cloud"}, nil)
	d = newDevice(t, DeviceConfig{Model: f.model, Split: "3,6", Edge: edgeDead, Cloud: goodCloud})
	r, err = d.Infer(ctxT(t, 5*time.Second), f.inputs(4))
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "device>edge>cloud" || r.ForwardError == "" || r.Fallback || f.maxDiff(r, 4) > 1e-4 {
		t.Fatalf("retry elsewhere: path %q forward error %q", r.Path, r.ForwardError)
	}

	// With the edge dead too, the device runs the edge's piece itself and
	// still uses the cloud.
	d = newDevice(t, DeviceConfig{Model: f.model, Split: "3,6", Edge: deadAddr, Cloud: goodCloud})
	r, err = d.Infer(ctxT(t, 5*time.Second), f.inputs(5))
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "device>cloud" || !r.Fallback || !strings.Contains(r.FallbackReason, "edge") || f.maxDiff(r, 5) > 1e-4 {
		t.Fatalf("dead edge: path %q fallback %q", r.Path, r.FallbackReason)
	}
}

// TestSlowdown: a node with --slowdown 4 reports emulated = 4 x raw
// compute and takes that long; the device's factor applies to its own
// pieces.
func TestSlowdown(t *testing.T) {
	f := loadMNIST(t)
	_, addr := startNode(t, ServerConfig{Slowdown: 4}, nil)
	d := newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, Slowdown: 3})
	if err := d.Prepare(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(0))
	if err != nil {
		t.Fatal(err)
	}
	if r.EdgeRaw <= 0 || r.Edge != 4*r.EdgeRaw || r.Device != 3*r.DeviceRaw {
		t.Fatalf("edge %v raw %v, device %v raw %v", r.Edge, r.EdgeRaw, r.Device, r.DeviceRaw)
	}
	if r.Total < r.Device+r.Edge {
		t.Fatalf("total %v shorter than the emulated compute %v", r.Total, r.Device+r.Edge)
	}
}
