package node

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/edgedl/edgedl/node/repositorypb"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/transport"
	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// rawClient is a plain gRPC client of a node, with the test token.
type rawClient struct {
	cc    *grpc.ClientConn
	infer pb.GRPCInferenceServiceClient
	repo  repositorypb.ModelRepositoryServiceClient
}

func newRawClient(t *testing.T, addr string) rawClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(testToken)), grpc.WithDefaultCallOptions(transport.CallOptions(8<<20)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return rawClient{cc, pb.NewGRPCInferenceServiceClient(cc), repositorypb.NewModelRepositoryServiceClient(cc)}
}

func (c rawClient) upload(ctx context.Context, hash string, b []byte) error {
	_, err := c.repo.RepositoryModelLoad(ctx, &repositorypb.RepositoryModelLoadRequest{ModelName: hash,
		Parameters: map[string]*repositorypb.ModelRepositoryParameter{
			FileParam: {ParameterChoice: &repositorypb.ModelRepositoryParameter_BytesParam{BytesParam: b}}}})
	return err
}

// TestBadRequests sends what a broken or hostile client might and checks
// each gets a clear status, nothing is half-stored, and the node keeps
// serving.
func TestBadRequests(t *testing.T) {
	f := loadMNIST(t)
	srv, addr := startNode(t, ServerConfig{MaxMessageBytes: 1 << 20}, nil)
	c := newRawClient(t, addr)
	ctx := ctxT(t, 20*time.Second)
	model := f.model
	good, err := onnx.Encode(model)
	if err != nil {
		t.Fatal(err)
	}
	hash := HashBytes(good)

	// Uploads that fail validation leave no entry.
	truncated := good[:len(good)/2]
	garbage := bytes.Repeat([]byte{0xde, 0xad}, 500)
	for name, c2 := range map[string]struct {
		hash string
		b    []byte
		code codes.Code
		msg  string
	}{
		"truncated":  {hash, truncated, codes.InvalidArgument, "truncated"},
		"not a hash": {"model-v1", good, codes.InvalidArgument, "SHA-256"},
		"garbage":    {HashBytes(garbage), garbage, codes.InvalidArgument, "rejected"},
		"half model": {HashBytes(truncated), truncated, codes.InvalidArgument, "rejected"},
	} {
		err := c.upload(ctx, c2.hash, c2.b)
		if st := status.Convert(err); st.Code() != c2.code || !strings.Contains(st.Message(), c2.msg) {
			t.Errorf("%s upload: %v, want %v mentioning %q", name, err, c2.code, c2.msg)
		}
	}
	if n := len(srv.Models()); n != 0 {
		t.Fatalf("failed uploads left %d cache entries", n)
	}
	if _, err := c.repo.RepositoryModelLoad(ctx, &repositorypb.RepositoryModelLoadRequest{ModelName: hash}); status.Code(err) != codes.NotFound {
		t.Fatalf("load without file of an unknown model: %v", err)
	}

	// Unknown hash: NotFound that tells the client to upload.
	x := f.digit(0)
	req, _ := transport.NewInferRequest(hash, []transport.NamedTensor{{Name: "input", Tensor: x}}, nil)
	_, err = c.infer.ModelInfer(ctx, req)
	if st := status.Convert(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), "upload it") {
		t.Fatalf("unknown hash: %v", err)
	}
	if err := c.upload(ctx, hash, good); err != nil {
		t.Fatal(err)
	}
	if err := c.upload(ctx, hash, good); err != nil { // idempotent
		t.Fatal(err)
	}

	bad := func(name string, mutate func(r *pb.ModelInferRequest), code codes.Code) {
		t.Helper()
		r, err := transport.NewInferRequest(hash, []transport.NamedTensor{{Name: "input", Tensor: x}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		mutate(r)
		if _, err := c.infer.ModelInfer(ctx, r); status.Code(err) != code {
			t.Errorf("%s: %v, want %v", name, err, code)
		}
	}
	bad("wrong shape", func(r *pb.ModelInferRequest) {
		r.Inputs[0].Shape = []int64{1, 1, 14, 56}
	}, codes.InvalidArgument)
	bad("wrong rank", func(r *pb.ModelInferRequest) {
		r.Inputs[0].Shape = []int64{1, 784}
	}, codes.InvalidArgument)
	bad("wrong dtype", func(r *pb.ModelInferRequest) {
		r.Inputs[0].Datatype = "INT32"
	}, codes.InvalidArgument)
	bad("unknown dtype", func(r *pb.ModelInferRequest) {
		r.Inputs[0].Datatype = "FP99"
	}, codes.InvalidArgument)
	bad("truncated tensor", func(r *pb.ModelInferRequest) {
		r.RawInputContents[0] = r.RawInputContents[0][:1000]
	}, codes.InvalidArgument)
	bad("wrong input name", func(r *pb.ModelInferRequest) {
		r.Inputs[0].Name = "image"
	}, codes.InvalidArgument)
	bad("huge declared shape", func(r *pb.ModelInferRequest) {
		r.Inputs[0].Shape = []int64{1 << 40, 1, 28, 28}
	}, codes.ResourceExhausted)
	bad("oversized message", func(r *pb.ModelInferRequest) {
		r.RawInputContents[0] = make([]byte, 2<<20)
	}, codes.ResourceExhausted)
	bad("bad next model", func(r *pb.ModelInferRequest) {
		r.Parameters = map[string]*pb.InferParameter{ParamNextModel: codec.StringParam("cloud-piece")}
	}, codes.InvalidArgument)
	bad("bad next codec", func(r *pb.ModelInferRequest) {
		r.Parameters = map[string]*pb.InferParameter{ParamNextModel: codec.StringParam(hash), ParamNextCodec: codec.StringParam("mp3")}
	}, codes.InvalidArgument)
	bad("bad output codec", func(r *pb.ModelInferRequest) {
		r.Parameters = map[string]*pb.InferParameter{transport.ParamOutputCodec: codec.StringParam("mp3")}
	}, codes.InvalidArgument)
	bad("corrupt int8 payload", func(r *pb.ModelInferRequest) {
		r.Inputs[0].Parameters = map[string]*pb.InferParameter{codec.ParamCodec: codec.StringParam("int8+zstd")}
	}, codes.InvalidArgument)

	// A forward request to a node without a next tier returns the
	// node's own outputs and says why.
	r, _ := transport.NewInferRequest(hash, []transport.NamedTensor{{Name: "input", Tensor: x}}, nil)
	r.Parameters = map[string]*pb.InferParameter{ParamNextModel: codec.StringParam(hash)}
	resp, err := c.infer.ModelInfer(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if fw, ok := paramBool(resp.Parameters, ParamForwarded); !ok || fw || codes.Code(paramInt(resp.Parameters, ParamForwardCode)) != codes.FailedPrecondition {
		t.Fatalf("forward without next: %v", resp.Parameters)
	}

	// Still serving, with correct results.
	got, err := transport.NewClient(c.cc).Infer(ctx, hash, []transport.NamedTensor{{Name: "input", Tensor: x}})
	if err != nil || argmax(got[0].Tensor.F32()) != argmax(f.ref[0]) {
		t.Fatalf("after bad requests: %v %v", got, err)
	}
	if len(srv.Models()) != 1 {
		t.Fatalf("cache holds %d pieces", len(srv.Models()))
	}
}

// TestREST: the HTTP port uploads (PUT), infers (JSON), lists, unloads,
// and maps errors to HTTP codes.
func TestREST(t *testing.T) {
	f := loadMNIST(t)
	srv, _ := startNode(t, ServerConfig{MaxMessageBytes: 1 << 20}, nil)
	b, _ := onnx.Encode(f.model)
	hash := HashBytes(b)
	do := func(method, path string, body []byte) (int, string) {
		t.Helper()
		w := httptest.NewRecorder()
		r := httptest.NewRequest(method, path, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+testToken)
		srv.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := do("PUT", "/v2/repository/models/"+hash, b[:100]); code != 400 || !strings.Contains(body, "truncated") {
		t.Fatalf("truncated PUT: %d %s", code, body)
	}
	if code, body := do("PUT", "/v2/repository/models/"+hash, make([]byte, 2<<20)); code != 413 {
		t.Fatalf("oversized PUT: %d %s", code, body)
	}
	if code, _ := do("POST", "/v2/repository/models/"+hash+"/load", nil); code != 404 {
		t.Fatalf("load of unknown model: %d", code)
	}
	if code, body := do("PUT", "/v2/repository/models/"+hash, b); code != 201 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if code, _ := do("PUT", "/v2/repository/models/"+hash, b); code != 200 {
		t.Fatalf("second PUT: %d", code)
	}
	code, body := do("POST", "/v2/repository/index", nil)
	if code != 200 || !strings.Contains(body, hash) {
		t.Fatalf("index: %d %s", code, body)
	}
	in := map[string]any{"inputs": []map[string]any{{"name": "input", "datatype": "FP32", "shape": []int{1, 1, 28, 28},
		"data": f.digit(5).F32()}}}
	jb, _ := json.Marshal(in)
	code, body = do("POST", "/v2/models/"+hash+"/infer", jb)
	if code != 200 {
		t.Fatalf("infer: %d %s", code, body)
	}
	var out struct {
		Outputs []struct {
			Data []float32 `json:"data"`
		} `json:"outputs"`
		Parameters map[string]any `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Outputs) != 1 {
		t.Fatalf("infer response %s: %v", body, err)
	}
	if argmax(out.Outputs[0].Data) != argmax(f.ref[5]) || out.Parameters[ParamComputeTime] == nil {
		t.Fatalf("REST infer: %s", body)
	}
	if code, _ = do("POST", "/v2/models/"+strings.Repeat("0", 64)+"/infer", jb); code != 404 {
		t.Fatalf("unknown model: %d", code)
	}
	m := scrape(t, srv)
	for _, want := range []string{"edgedl_node_uploads_total", "edgedl_node_piece_seconds_bucket", "edgedl_node_http_requests_total",
		"edgedl_node_cache_bytes", "go_goroutines"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ = do("POST", "/v2/repository/models/"+hash+"/unload", nil); code != 200 {
		t.Fatalf("unload: %d", code)
	}
	if code, _ = do("POST", "/v2/models/"+hash+"/infer", jb); code != 404 {
		t.Fatalf("infer after unload: %d", code)
	}
}

// TestCacheEviction: a cache with room for one piece evicts the least
// recently used; the device whose piece went re-uploads it and carries on.
func TestCacheEviction(t *testing.T) {
	f := loadMNIST(t)
	var sizes []int64
	for _, spec := range []string{"3", "6"} {
		ps, err := SplitModel(f.model, spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := encodePiece(ps.Edge)
		p, err := compilePiece(enc.hash, enc.bytes, 1)
		if err != nil {
			t.Fatal(err)
		}
		p.sess.Close()
		sizes = append(sizes, p.size)
	}
	limit := max(sizes[0], sizes[1]) + min(sizes[0], sizes[1])/2 // one fits, not two
	srv, addr := startNode(t, ServerConfig{CacheBytes: limit}, nil)
	a := newDevice(t, DeviceConfig{Model: f.model, Split: "3", Edge: addr})
	b := newDevice(t, DeviceConfig{Model: f.model, Split: "6", Edge: addr})
	run := func(d *Device, i, uploads int) {
		t.Helper()
		r, err := d.Infer(ctxT(t, 5*time.Second), f.inputs(i))
		if err != nil {
			t.Fatal(err)
		}
		if r.Fallback || r.Uploads != uploads || f.maxDiff(r, i) > 1e-4 {
			t.Fatalf("digit %d: fallback %q, %d uploads (want %d)", i, r.FallbackReason, r.Uploads, uploads)
		}
	}
	run(a, 0, 1)
	run(a, 1, 0)
	run(b, 2, 1) // evicts a's piece
	run(a, 3, 1) // re-uploads it, evicting b's
	run(b, 4, 1)
	if n := len(srv.Models()); n != 1 || srv.CacheBytes() > limit {
		t.Fatalf("cache: %d pieces, %d bytes (limit %d)", n, srv.CacheBytes(), limit)
	}
	if !strings.Contains(scrape(t, srv), `edgedl_node_cache_evictions_total{node="edge",tier="edge"} 3`) {
		t.Errorf("evictions:\n%s", grepLines(scrape(t, srv), "evictions"))
	}
	// A piece larger than the whole cache is refused, and nothing is
	// evicted for it.
	small, _ := startNode(t, ServerConfig{CacheBytes: 1000}, nil)
	if _, err := small.Load(mustEncode(t, f)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized model: %v", err)
	}
}

func mustEncode(t *testing.T, f *mnistFixture) []byte {
	b, err := onnx.Encode(f.model)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
