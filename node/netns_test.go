package node

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport"
	"github.com/edgedl/edgedl/transport/netns"
)

// TestNetnsShapedEdge runs an edge node in one network namespace and the
// device in another, joined by a veth pair shaped to 10 Mbit/s (netem, or
// tbf where the kernel lacks netem), so that the bytes cross the kernel's
// TCP and a real rate limit instead of package link's emulation. The whole
// model runs on the edge on batches of 64 digits (200 kB up each): every
// answer must match the model run here, and the device's bandwidth
// estimate (a partition.Estimator fed by the device's per-RPC samples,
// as AdaptiveDevice does it, with the EWMA gain 0.5 and a wrong prior of
// 100 Mbit/s) must land near the shaped rate after 8 requests, and so must
// the median of the per-request rates. It needs root and the ip and tc commands and
// skips with the reason otherwise.
func TestNetnsShapedEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("netns: skipped in -short mode")
	}
	ctx := ctxT(t, time.Minute)
	pair, err := netns.Setup(ctx, netns.Config{Rate: "10mbit", Delay: 10 * time.Millisecond})
	if errors.Is(err, netns.ErrUnavailable) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := pair.Close(); err != nil {
			t.Error(err)
		}
	}()
	t.Logf("edge in %s (%s), device in %s; shaper %s, delay applied: %v", pair.NameA, pair.AddrA, pair.NameB,
		pair.Shaper, pair.Delayed)

	f := loadMNIST(t)
	srv, err := NewServer(ServerConfig{Tier: "edge", Token: testToken, Threads: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var lis net.Listener
	if err := pair.InA(func() (err error) {
		lis, err = net.Listen("tcp", pair.AddrA+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Close()

	var mu sync.Mutex
	start := time.Now()
	est := partition.NewEstimator(partition.EstimatorConfig{Alpha: 0.5}, partition.Link{Mbps: 100, RTT: 0.001}, 0)
	var rates []float64 // Mbit/s of each request's network time
	obs := transport.ObserverFunc(func(s transport.Sample) {
		if s.Err != nil || !strings.HasSuffix(s.Method, "/ModelInfer") {
			return
		}
		if d := s.Duration - s.ServerTime; d > 0 {
			mu.Lock()
			est.Transfer(time.Since(start).Seconds(), s.Sent, d.Seconds())
			rates = append(rates, float64(s.Sent)*8/d.Seconds()/1e6)
			mu.Unlock()
		}
	})
	dial := func(ctx context.Context, addr string) (c net.Conn, err error) {
		err = pair.InB(func() error {
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	}
	dev := newDevice(t, DeviceConfig{Model: f.model, Split: "edge", Edge: lis.Addr().String(), EdgeDialer: dial,
		Observer: obs, NoFallback: true, Retries: -1, Timeout: 30 * time.Second})
	if err := dev.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	const batch, per = 64, 28 * 28
	var total time.Duration
	var sent int64
	const requests = 8
	for i := 0; i < requests; i++ {
		lo := (i * batch) % (len(f.labels) - batch)
		x := tensor.Float32s([]int{batch, 1, 28, 28}, f.x.F32()[lo*per:(lo+batch)*per])
		r, err := dev.Infer(ctx, []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		if r.Path != "edge" || r.Fallback {
			t.Fatalf("request %d ran on %q (fallback %v), want the edge", i, r.Path, r.Fallback)
		}
		out := r.Outputs[0].Tensor.F32()
		for k := 0; k < batch; k++ {
			got, want := out[k*10:(k+1)*10], f.ref[lo+k]
			if argmax(got) != argmax(want) {
				t.Fatalf("request %d, digit %d: class %d, the model here says %d", i, lo+k, argmax(got), argmax(want))
			}
			for c := range got {
				if d := got[c] - want[c]; d > 1e-4 || d < -1e-4 {
					t.Fatalf("request %d, digit %d: logit %d is %g, the model here gives %g", i, lo+k, c, got[c], want[c])
				}
			}
		}
		total += r.Network
		sent += r.BytesUp
	}
	mu.Lock()
	l := est.Link()
	rs := slices.Clone(rates)
	mu.Unlock()
	slices.Sort(rs)
	t.Logf("%d requests, %d kB up, network time %v: %.2f Mbit/s on average; per request %.2f..%.2f Mbit/s; estimate %.2f Mbit/s, RTT %.2f ms",
		requests, sent/1000, total.Round(time.Millisecond), float64(sent)*8/total.Seconds()/1e6, rs[0], rs[len(rs)-1], l.Mbps, l.RTT*1e3)
	if len(rs) != requests {
		t.Fatalf("the estimator got %d samples from %d requests", len(rs), requests)
	}
	// 10 Mbit/s on the wire carries ~9.5 Mbit/s of TCP payload; gRPC's
	// framing, the first request's TCP slow start and the estimator's RTT
	// correction leave some slack.
	if med := rs[len(rs)/2]; med < 6 || med > 12 {
		t.Errorf("median request rate %.2f Mbit/s on a 10 Mbit/s link", med)
	}
	if l.Mbps < 5 || l.Mbps > 12 { // an EWMA: one slow last request (a busy machine) may pull it down
		t.Errorf("bandwidth estimate %.2f Mbit/s on a 10 Mbit/s link", l.Mbps)
	}
	if pair.Delayed && l.RTT < 0.015 {
		t.Errorf("RTT estimate %.2f ms across 2 x 10 ms of netem delay", l.RTT*1e3)
	}
}
