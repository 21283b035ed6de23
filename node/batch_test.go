package node

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// batcherOf returns the batcher of the edge piece d uses on s.
func batcherOf(t testing.TB, s *Server, d *Device) *batcher {
	t.Helper()
	edge, _ := d.PieceHashes()
	p := s.cache.acquire(edge)
	if p == nil {
		t.Fatal("the edge piece is not cached")
	}
	defer s.cache.release(p)
	return p.batch
}

// TestDynamicBatching: 16 devices send digits to one edge node that
// batches; half send one digit per request and half three, so batches mix
// sizes. Every answer must match the model run here on that request alone,
// and the node must have run fewer batches than requests.
func TestDynamicBatching(t *testing.T) {
	f := loadMNIST(t)
	s, addr := startNode(t, ServerConfig{MaxBatch: 16, BatchWait: 2 * time.Millisecond, Threads: 1}, nil)
	const devices, each, per = 16, 15, 28 * 28
	ds := make([]*Device, devices)
	for i := range ds {
		ds[i] = newDevice(t, DeviceConfig{Model: f.model, Split: "edge", Edge: addr, NoFallback: true, Retries: -1})
	}
	if err := ds[0].Prepare(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	b := batcherOf(t, s, ds[0])
	if b == nil {
		t.Fatal("the embedded model (symbolic batch) got no batcher")
	}
	var wg sync.WaitGroup
	errs := make(chan error, devices*each)
	for k, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := 1 + 2*(k%2)
			for j := 0; j < each; j++ {
				lo := (k*each + j*rows) % (len(f.labels) - rows)
				x := tensor.Float32s([]int{rows, 1, 28, 28}, f.x.F32()[lo*per:(lo+rows)*per])
				r, err := d.Infer(ctxT(t, 20*time.Second), []*tensor.Tensor{x})
				if err != nil {
					errs <- err
					return
				}
				out := r.Outputs[0].Tensor
				if !tensor.EqualShapes(out.Shape, []int{rows, 10}) {
					errs <- fmt.Errorf("device %d request %d: output shape %v, want [%d 10]", k, j, out.Shape, rows)
					return
				}
				for i := 0; i < rows; i++ {
					got, want := out.F32()[i*10:(i+1)*10], f.ref[lo+i]
					for c := range got {
						if d := got[c] - want[c]; d > 1e-4 || d < -1e-4 {
							errs <- fmt.Errorf("device %d request %d digit %d: logit %d %g, alone %g", k, j, lo+i, c, got[c], want[c])
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	batches, rows, requests := b.stats()
	// Each warm-up/Prepare path runs no inference; every request is counted.
	if requests != devices*each || rows != devices/2*each*(1+3) {
		t.Fatalf("batcher counted %d requests, %d rows; want %d, %d", requests, rows, devices*each, devices/2*each*4)
	}
	if batches >= requests {
		t.Fatalf("%d batches for %d requests: nothing was batched", batches, requests)
	}
	t.Logf("%d requests (%d rows) from %d devices in %d runs: %.1f requests per run", requests, rows, devices, batches,
		float64(requests)/float64(batches))
}

// TestBatchable: pieces batch only when every input and output has a
// symbolic first dimension; the probe model's scalar output does not.
func TestBatchable(t *testing.T) {
	f := loadMNIST(t)
	for _, c := range []struct {
		name string
		m    *graph.Model
		want bool
	}{{"mnist", f.model, true}, {"probe", probeModel(), false}} {
		s, err := runtime.Compile(c.m, runtime.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := batchable(s); got != c.want {
			t.Errorf("%s: batchable %v, want %v", c.name, got, c.want)
		}
		if b := newBatcher(s, 1, 0, 1); b != nil {
			t.Errorf("%s: a batcher with max batch 1", c.name)
		}
		s.Close()
	}
	if _, err := NewServer(ServerConfig{Token: testToken, MaxBatch: -1}); err == nil {
		t.Error("NewServer accepted a negative max batch")
	}
	for _, in := range [][]*tensor.Tensor{
		{tensor.New(tensor.Float32, 2, 3), tensor.New(tensor.Float32, 3, 3)}, // rows differ
		{tensor.New(tensor.Float32)},                                         // scalar
		{tensor.New(tensor.Float32, 0, 3)},                                   // empty
	} {
		if _, _, ok := batchKey(in); ok {
			t.Errorf("batchKey accepted %v", in)
		}
	}
}

// BenchmarkEdgeConcurrentDevices measures an edge node serving 16
// devices at once over loopback (whole model on the edge, one digit per
// request, one intra-op thread per session), with and without dynamic
// batching: requests/s and per-request p50/p99 latency. It uses the shared
// mnist_cnn when ../shared is present (1.7M parameters; the embedded 28k-
// parameter model otherwise).
//
//	go test ./node -run '^$' -bench EdgeConcurrentDevices -benchtime 3000x
func BenchmarkEdgeConcurrentDevices(b *testing.B) {
	f := loadMNIST(b)
	m, name := f.model, "mnist_small"
	shared := os.Getenv("EDGEDL_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "..", "shared") // from the package folder, as testenv finds it
	}
	if path := filepath.Join(shared, "models", "mnist_cnn", "model.onnx"); fileExists(path) {
		var err error
		if m, err = onnx.Load(path); err != nil {
			b.Fatal(err)
		}
		name = "mnist_cnn"
	}
	for _, maxBatch := range []int{0, 16} {
		b.Run(fmt.Sprintf("%s/batch=%d", name, maxBatch), func(b *testing.B) {
			_, addr := startNode(b, ServerConfig{MaxBatch: maxBatch, Threads: 1}, nil)
			const devices = 16
			ds := make([]*Device, devices)
			for i := range ds {
				ds[i] = newDevice(b, DeviceConfig{Model: m, Split: "edge", Edge: addr, NoFallback: true, Retries: -1})
				if _, err := ds[i].Infer(ctxT(b, 10*time.Second), f.inputs(i)); err != nil { // upload, connect
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			var failed sync.Once
			b.ResetTimer()
			start := time.Now()
			for k, d := range ds {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := k; i < b.N; i += devices {
						t0 := time.Now()
						if _, err := d.Infer(ctxT(b, 30*time.Second), f.inputs(i)); err != nil {
							failed.Do(func() { b.Error(err) })
							return
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
			b.ReportMetric(float64(lat[b.N/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lat[min(b.N-1, b.N*99/100)])/1e6, "p99-ms")
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
