package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
	"github.com/edgedl/edgedl/transport/link"
)

// doubler returns 2x for float32 inputs and echoes the others.
var doubler = ModelFunc(ModelInfo{Platform: "test"}, func(_ context.Context, in []NamedTensor) ([]NamedTensor, error) {
	out := make([]NamedTensor, len(in))
	for i, x := range in {
		y := x.Tensor.Clone()
		if y.DType == tensor.Float32 {
			for j := range y.F32() {
				y.F32()[j] *= 2
			}
		}
		out[i] = NamedTensor{Name: x.Name + "_out", Tensor: y}
	}
	return out, nil
})

// strict declares its input: float32 [-1, 4].
var strict = ModelFunc(ModelInfo{
	Inputs:  []TensorSpec{{Name: "x", DType: tensor.Float32, Shape: []int{-1, 4}}},
	Outputs: []TensorSpec{{Name: "x_out", DType: tensor.Float32, Shape: []int{-1, 4}}},
}, doubler.Infer)

var panicky = ModelFunc(ModelInfo{}, func(context.Context, []NamedTensor) ([]NamedTensor, error) {
	panic("boom")
})

var failing = ModelFunc(ModelInfo{}, func(context.Context, []NamedTensor) ([]NamedTensor, error) {
	return nil, errors.New("out of memory")
})

// startServer serves a Server on loopback, behind an emulated link on the
// client side; it returns the client connection.
func startServer(t *testing.T, l *link.Link, obs Observer) (*Server, *grpc.ClientConn) {
	t.Helper()
	srv := NewServer(ServerConfig{Name: "test", Version: "0", MaxMessageBytes: 1 << 20})
	srv.Add("double", doubler)
	srv.Add("strict", strict)
	srv.Add("panicky", panicky)
	srv.Add("failing", failing)
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(l.Dial),
		grpc.WithDefaultCallOptions(CallOptions(8 << 20)...),
	}
	if obs != nil {
		opts = append(opts, grpc.WithStatsHandler(StatsHandler(obs)))
	}
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return srv, cc
}

func activation(seed uint64, shape ...int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 3))
	x := tensor.New(tensor.Float32, shape...)
	for i := range x.F32() {
		x.F32()[i] = max(0, float32(r.NormFloat64()))
	}
	return x
}

// Tensors go through every codec, both ways, over an emulated link.
func TestGRPCCodecs(t *testing.T) {
	l := link.New(link.Symmetric(200*link.Mbps, 4*time.Millisecond))
	var rec Recorder
	_, cc := startServer(t, l, &rec)
	client := NewClient(cc)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	x := activation(1, 1, 16, 16, 16)
	ids := tensor.Int64s([]int{3}, []int64{7, 8, 9})
	tol := map[string]float64{"fp32": 0, "fp16": 1e-3, "int8": 1e-2, "int8c": 1e-2}
	for _, name := range codec.Names() {
		c, _ := codec.Get(name)
		client.Codec, client.OutputCodec = c, name
		outs, resp, err := client.InferResponse(ctx, "double", []NamedTensor{{"x", x}, {"ids", ids}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(outs) != 2 || outs[0].Name != "x_out" || outs[1].Name != "ids_out" {
			t.Fatalf("%s: outputs %v", name, outs)
		}
		want := x.Clone()
		for i := range want.F32() {
			want.F32()[i] *= 2
		}
		base, _, _ := strings.Cut(name, "+")
		// Two lossy trips (request and response) at most double the error.
		if e := codec.RelL2(outs[0].Tensor.F32(), want.F32()); e > 2*tol[base] {
			t.Errorf("%s: rel L2 %.3g", name, e)
		}
		if got := outs[1].Tensor.I64(); got[0] != 7 || got[2] != 9 {
			t.Errorf("%s: ids %v", name, got)
		}
		if applied := resp.Outputs[0].Parameters[codec.ParamCodec].GetStringParam(); name != "fp32" && applied != name {
			t.Errorf("%s: output encoded with %q", name, applied)
		}
	}
	samples := rec.Samples()
	if len(samples) != len(codec.Names()) {
		t.Fatalf("%d samples for %d calls", len(samples), len(codec.Names()))
	}
	raw := int64(x.Bytes())
	for i, s := range samples {
		if !strings.HasSuffix(s.Method, "/ModelInfer") || s.Err != nil || s.Duration <= 0 || s.ServerTime <= 0 || s.ServerTime > s.Duration {
			t.Errorf("sample %d: %+v", i, s)
		}
		if s.Sent <= 0 || s.Received <= 0 || s.Throughput() <= 0 {
			t.Errorf("sample %d: %+v", i, s)
		}
	}
	// fp32 sends at least the raw bytes; int8 about a quarter.
	if samples[0].Sent < raw || samples[6].Sent > raw/3 {
		t.Errorf("sent fp32 %d, int8 %d bytes for a %d-byte tensor", samples[0].Sent, samples[6].Sent, raw)
	}
	for i, name := range codec.Names() {
		t.Logf("%-10s sent %7d B  received %7d B  in %v (server %v)", name, samples[i].Sent, samples[i].Received,
			samples[i].Duration.Round(time.Microsecond), samples[i].ServerTime.Round(time.Microsecond))
	}
}

// Bad requests get a clear status and the server keeps serving.
func TestGRPCBadRequests(t *testing.T) {
	_, cc := startServer(t, link.New(link.Profile{}), nil)
	client := NewClient(cc)
	rpc := client.RPC()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	good := func() *pb.ModelInferRequest {
		req, err := NewInferRequest("strict", []NamedTensor{{"x", tensor.Float32s([]int{2, 4}, make([]float32, 8))}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	cases := []struct {
		name string
		req  func() *pb.ModelInferRequest
		code codes.Code
		msg  string
	}{
		{"wrong shape for raw", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Shape = []int64{3, 4}; return r },
			codes.InvalidArgument, "needs 48 bytes, got 32"},
		{"wrong shape for model", func() *pb.ModelInferRequest {
			r, _ := NewInferRequest("strict", []NamedTensor{{"x", tensor.Float32s([]int{2, 2}, make([]float32, 4))}}, nil)
			return r
		}, codes.InvalidArgument, "want [-1 4]"},
		{"truncated raw", func() *pb.ModelInferRequest {
			r := good()
			r.RawInputContents[0] = r.RawInputContents[0][:31]
			return r
		},
			codes.InvalidArgument, "got 31"},
		{"unknown datatype", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Datatype = "FP8"; return r },
			codes.InvalidArgument, `unknown datatype "FP8"`},
		{"huge shape", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Shape = []int64{1 << 20, 1 << 20}; return r },
			codes.ResourceExhausted, "exceeds limits"},
		{"oversized message", func() *pb.ModelInferRequest {
			r, _ := NewInferRequest("double", []NamedTensor{{"x", tensor.New(tensor.Float32, 1<<19)}}, nil) // 2 MiB
			return r
		}, codes.ResourceExhausted, "larger than max"},
		{"unknown model", func() *pb.ModelInferRequest { r := good(); r.ModelName = "nope"; return r },
			codes.NotFound, `unknown model "nope"`},
		{"unknown version", func() *pb.ModelInferRequest { r := good(); r.ModelVersion = "7"; return r },
			codes.NotFound, `no version "7"`},
		{"unknown output", func() *pb.ModelInferRequest {
			r := good()
			r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "zz"}}
			return r
		}, codes.InvalidArgument, `no output "zz"`},
		{"bad output codec", func() *pb.ModelInferRequest {
			r := good()
			r.Parameters = map[string]*pb.InferParameter{ParamOutputCodec: codec.StringParam("gzip")}
			return r
		}, codes.InvalidArgument, "unknown codec"},
		{"panicking model", func() *pb.ModelInferRequest { r := good(); r.ModelName = "panicky"; return r },
			codes.Internal, "panicked: boom"},
		{"failing model", func() *pb.ModelInferRequest { r := good(); r.ModelName = "failing"; return r },
			codes.Internal, "out of memory"},
	}
	for _, tc := range cases {
		_, err := rpc.ModelInfer(ctx, tc.req())
		st, _ := status.FromError(err)
		if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
			t.Errorf("%s: got %v %q, want %v containing %q", tc.name, st.Code(), st.Message(), tc.code, tc.msg)
		} else {
			t.Logf("%s: %v: %s", tc.name, st.Code(), st.Message())
		}
		// The server still serves.
		resp, err := rpc.ModelInfer(ctx, good())
		if err != nil || len(resp.Outputs) != 1 {
			t.Fatalf("after %s: %v", tc.name, err)
		}
	}
	// Requested outputs and per-output codecs.
	r := good()
	r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "x_out",
		Parameters: map[string]*pb.InferParameter{codec.ParamCodec: codec.StringParam("fp16+lz4")}}}
	resp, err := rpc.ModelInfer(ctx, r)
	if err != nil || resp.Outputs[0].Parameters[codec.ParamCodec].GetStringParam() != "fp16+lz4" {
		t.Fatalf("per-output codec: %v %v", err, resp)
	}
}

func TestGRPCHealthAndMetadata(t *testing.T) {
	srv, cc := startServer(t, link.New(link.Profile{}), nil)
	client := NewClient(cc)
	ctx := t.Context()
	if ok, err := client.Live(ctx); !ok || err != nil {
		t.Errorf("live %v %v", ok, err)
	}
	if ok, err := client.Ready(ctx); !ok || err != nil {
		t.Errorf("ready %v %v", ok, err)
	}
	if ok, err := client.ModelReady(ctx, "strict"); !ok || err != nil {
		t.Errorf("model ready %v %v", ok, err)
	}
	if ok, _ := client.ModelReady(ctx, "nope"); ok {
		t.Error("unknown model ready")
	}
	srv.SetReady(false)
	if ok, _ := client.Ready(ctx); ok {
		t.Error("ready after SetReady(false)")
	}
	srv.SetReady(true)
	md, err := client.RPC().ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "strict"})
	if err != nil {
		t.Fatal(err)
	}
	if md.Inputs[0].Datatype != "FP32" || md.Inputs[0].Shape[0] != -1 || md.Versions[0] != "1" {
		t.Errorf("metadata %v", md)
	}
	sm, err := client.RPC().ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	if err != nil || sm.Name != "test" {
		t.Errorf("server metadata %v %v", sm, err)
	}
	if _, err := client.RPC().ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("metadata of unknown model: %v", err)
	}
	if got := srv.Models(); len(got) != 4 || got[0] != "double" {
		t.Errorf("Models() = %v", got)
	}
	srv.Remove("failing")
	if len(srv.Models()) != 3 {
		t.Error("Remove")
	}
}

// A slow link makes the codec matter, and the samples measure the link.
func TestGRPCSlowLink(t *testing.T) {
	l := link.New(link.Symmetric(20*link.Mbps, 2*time.Millisecond))
	var rec Recorder
	_, cc := startServer(t, l, &rec)
	client := NewClient(cc)
	client.OutputCodec = "int8"
	if _, err := client.Live(t.Context()); err != nil { // connect first
		t.Fatal(err)
	}
	x := activation(2, 1, 32, 32, 32) // 128 KiB up, 32 KiB back: ~70 ms at 20 Mbit/s
	for _, name := range []string{"fp32", "int8"} {
		client.Codec, _ = codec.Get(name)
		if _, err := client.Infer(t.Context(), "double", []NamedTensor{{"x", x}}); err != nil {
			t.Fatal(err)
		}
	}
	s := rec.Samples()[1:]
	bw := 8 * s[0].Throughput() / 1e6
	t.Logf("fp32: %v (%.1f Mbit/s), int8: %v (%.1f Mbit/s)", s[0].Duration, bw, s[1].Duration, 8*s[1].Throughput()/1e6)
	if s[0].Duration < 55*time.Millisecond {
		t.Errorf("fp32 over 20 Mbit/s took only %v", s[0].Duration)
	}
	if bw > 25 {
		t.Errorf("measured %.1f Mbit/s over a 20 Mbit/s link", bw)
	}
	if s[1].Duration >= s[0].Duration {
		t.Errorf("int8 (%v) no faster than fp32 (%v)", s[1].Duration, s[0].Duration)
	}
}
