package node

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/models/embedded"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/link"
)

const testToken = "s3cret-token"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// mnist returns the embedded model, its digits and a reference function
// computing the whole model's logits for digit i.
type mnistFixture struct {
	model  *graph.Model
	x      *tensor.Tensor
	labels []uint8
	ref    [][]float32 // whole-model logits of each digit
}

func loadMNIST(t testing.TB) *mnistFixture {
	t.Helper()
	m, err := embedded.MNISTModel()
	if err != nil {
		t.Fatal(err)
	}
	x, labels, err := embedded.MNISTSamples()
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := &mnistFixture{model: m, x: x, labels: labels}
	for i := range labels {
		out, err := s.RunOrdered([]*tensor.Tensor{f.digit(i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.ref = append(f.ref, out[0].F32())
	}
	return f
}

// digit returns digit i as a [1,1,28,28] tensor.
func (f *mnistFixture) digit(i int) *tensor.Tensor {
	const per = 28 * 28
	i %= len(f.labels)
	return tensor.Float32s([]int{1, 1, 28, 28}, f.x.F32()[i*per:(i+1)*per])
}

func (f *mnistFixture) inputs(i int) []*tensor.Tensor { return []*tensor.Tensor{f.digit(i)} }

// maxDiff is the largest absolute difference between r's logits and the
// reference for digit i.
func (f *mnistFixture) maxDiff(r *Result, i int) float64 {
	got := r.Outputs[0].Tensor.F32()
	want := f.ref[i%len(f.ref)]
	if len(got) != len(want) {
		return math.Inf(1)
	}
	d := 0.0
	for k := range got {
		d = math.Max(d, math.Abs(float64(got[k]-want[k])))
	}
	return d
}

func (f *mnistFixture) argmaxOK(r *Result, i int) bool {
	return argmax(r.Outputs[0].Tensor.F32()) == argmax(f.ref[i%len(f.ref)])
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// startNode runs a node on a random loopback port; wrap (optional) wraps
// its listener (an emulated link). The node is closed at the end of the
// test.
func startNode(t testing.TB, cfg ServerConfig, wrap func(net.Listener) net.Listener) (*Server, string) {
	t.Helper()
	if cfg.Token == "" && !cfg.NoAuth {
		cfg.Token = testToken
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.Threads == 0 {
		cfg.Threads = 1
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if wrap != nil {
		lis = wrap(lis)
	}
	go s.Serve(lis)
	t.Cleanup(func() { s.Close() })
	return s, addr
}

// newDevice builds a device with test defaults (quiet, the test token).
func newDevice(t testing.TB, cfg DeviceConfig) *Device {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	d, err := NewDevice(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// wifi is an emulated device uplink: 50 Mbit/s up, 100 down, 2 ms RTT.
func wifi() *link.Link {
	return link.New(link.Profile{Up: 50 * link.Mbps, Down: 100 * link.Mbps, RTT: 2 * time.Millisecond})
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scrape returns the node's /metrics page.
func scrape(t testing.TB, s *Server) string {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("/metrics: %d", w.Code)
	}
	return w.Body.String()
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
