package node

import (
	"sync"
	"testing"
	"time"

	"github.com/edgedl/edgedl/transport/link"
)

// TestFailoverEdgeKilled kills the edge in the middle of 1,000 requests:
// every request completes, with the whole model's outputs, the later ones
// on the device alone.
func TestFailoverEdgeKilled(t *testing.T) {
	f := loadMNIST(t)
	edge, addr := startNode(t, ServerConfig{}, nil)
	l := link.New(link.Symmetric(link.Gbps, time.Millisecond))
	d := newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, EdgeDialer: l.Dial, Timeout: 500 * time.Millisecond})
	if err := d.Prepare(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	done, wrong := 0, 0
	var killedAt time.Time
	st, err := d.RunMany(ctxT(t, 60*time.Second), RunOptions{Count: 1000, Concurrency: 4, Inputs: f.inputs,
		Each: func(i int, r *Result, err error) {
			if err != nil || f.maxDiff(r, i) > 1e-4 {
				wrong++
			}
			if done++; done == 500 {
				killedAt = time.Now()
				go edge.Close()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Completed != 1000 || st.Failed != 0 || wrong != 0 {
		t.Fatalf("completed %d, failed %d, wrong %d: %v", st.Completed, st.Failed, wrong, st.Errors)
	}
	if st.Fallbacks == 0 || st.Paths["device>edge"] < 450 || st.Paths["device"] == 0 {
		t.Fatalf("paths %v, fallbacks %d", st.Paths, st.Fallbacks)
	}
	t.Logf("edge killed after 500 of 1000 requests (4 at a time): all 1000 correct; %d on the edge, %d finished locally; "+
		"p50 %.2f ms, p99 %.2f ms, max %.1f ms, %.0f req/s, %.0f ms after the kill",
		st.Paths["device>edge"], st.Fallbacks, st.P50Ms, st.P99Ms, st.MaxMs, st.Throughput, time.Since(killedAt).Seconds()*1e3)
}

// TestFailoverSlowLink: the edge's link degrades to a 1 s RTT mid-run; the
// requests caught in it time out after 100 ms and finish locally, the
// rest skip the edge while it cools down.
func TestFailoverSlowLink(t *testing.T) {
	f := loadMNIST(t)
	_, addr := startNode(t, ServerConfig{}, nil)
	l := link.New(link.Symmetric(100*link.Mbps, time.Millisecond))
	d := newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, EdgeDialer: l.Dial,
		Timeout: 100 * time.Millisecond, Cooldown: 300 * time.Millisecond})
	if err := d.Prepare(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	done := 0
	wrong := 0
	st, _ := d.RunMany(ctxT(t, 60*time.Second), RunOptions{Count: 300, Concurrency: 4, Inputs: f.inputs,
		Each: func(i int, r *Result, err error) {
			if err != nil || f.maxDiff(r, i) > 1e-4 {
				wrong++
			}
			if done++; done == 100 {
				l.Set(link.Symmetric(100*link.Mbps, time.Second))
			}
		}})
	if st.Completed != 300 || wrong != 0 || st.Fallbacks == 0 {
		t.Fatalf("completed %d, wrong %d, fallbacks %d, paths %v", st.Completed, wrong, st.Fallbacks, st.Paths)
	}
	t.Logf("link slowed after 100 of 300 requests: %d fell back; p50 %.2f ms, p99 %.1f ms, max %.1f ms",
		st.Fallbacks, st.P50Ms, st.P99Ms, st.MaxMs)
}

// TestConcurrentDevices: 16 devices, each on its own emulated Wi-Fi
// link, share one edge node; every result is correct.
func TestConcurrentDevices(t *testing.T) {
	f := loadMNIST(t)
	_, addr := startNode(t, ServerConfig{}, nil)
	const devices, each = 16, 40
	ds := make([]*Device, devices)
	for i := range ds {
		ds[i] = newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr, EdgeDialer: wifi().Dial, Codec: "fp16"})
	}
	if err := ds[0].Prepare(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	results := make([]*Result, devices*each)
	errs := make([]error, devices*each)
	var wg sync.WaitGroup
	start := time.Now()
	for k, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				i := k*each + j
				results[i], errs[i] = d.Infer(ctxT(t, 10*time.Second), f.inputs(i))
			}
		}()
	}
	wg.Wait()
	st := summarize(results, errs, time.Since(start))
	for i, r := range results {
		if errs[i] != nil || r.Fallback || !f.argmaxOK(r, i) || f.maxDiff(r, i) > 0.05 {
			t.Fatalf("request %d: %v %+v", i, errs[i], r)
		}
	}
	if st.Completed != devices*each {
		t.Fatalf("%+v", st)
	}
	t.Logf("16 devices x %d requests on one edge (2 ms RTT, 50 Mbit/s up, fp16): %.0f req/s, p50 %.2f ms, p99 %.2f ms, "+
		"device %.3f ms, edge %.3f ms, network %.2f ms per request", each, st.Throughput, st.P50Ms, st.P99Ms,
		st.DeviceRawMs, st.EdgeRawMs, st.NetworkMs)
}
