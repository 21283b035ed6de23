package transport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// Parameters edgedl adds to requests and responses.
const (
	// ParamOutputCodec (request, string) names the codec for every output;
	// an output's own ParamCodec in the request's outputs list overrides
	// it. Without either, outputs are plain raw content.
	ParamOutputCodec = "edgedl.output_codec"
	// ParamServerTime (response, int64 nanoseconds) is the time the server
	// spent on the request, from decoding inputs to encoding outputs; a
	// bandwidth estimator subtracts it from the round trip.
	ParamServerTime = "edgedl.server_time_ns"
)

// Service is the Open Inference Protocol as Go methods: the generated gRPC
// server interface without its embedding requirement. *Server implements
// it, as does Remote (a client standing in for a server); the HTTP handler
// serves any Service.
type Service interface {
	ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error)
	ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error)
	ModelReady(context.Context, *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error)
	ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error)
	ModelMetadata(context.Context, *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error)
	ModelInfer(context.Context, *pb.ModelInferRequest) (*pb.ModelInferResponse, error)
}

// TensorSpec describes one input or output of a model. A dimension of -1
// accepts any size.
type TensorSpec struct {
	Name  string
	DType tensor.DType
	Shape []int
}

// ModelInfo describes a model for metadata requests and input validation.
type ModelInfo struct {
	Platform string   // e.g. "edgedl_onnx"
	Versions []string // empty: ["1"]
	// Inputs, when set, are enforced: a request must carry exactly these
	// names with matching dtypes and shapes.
	Inputs  []TensorSpec
	Outputs []TensorSpec
}

// Model is what a Server serves.
//
// Infer receives decoded, validated inputs (matching Info().Inputs when
// they are given) and returns its outputs; it must not retain the inputs
// after returning. Errors that are gRPC statuses pass through to the client
// unchanged; others become codes.Internal. A panic is recovered and
// reported as codes.Internal, and the server keeps serving.
type Model interface {
	Info() ModelInfo
	Infer(ctx context.Context, inputs []NamedTensor) ([]NamedTensor, error)
}

// ModelFunc adapts a function to Model, with the given info.
func ModelFunc(info ModelInfo, f func(ctx context.Context, inputs []NamedTensor) ([]NamedTensor, error)) Model {
	return modelFunc{info, f}
}

type modelFunc struct {
	info ModelInfo
	f    func(context.Context, []NamedTensor) ([]NamedTensor, error)
}

func (m modelFunc) Info() ModelInfo { return m.info }
func (m modelFunc) Infer(ctx context.Context, in []NamedTensor) ([]NamedTensor, error) {
	return m.f(ctx, in)
}

// Server serves models over the Open Inference Protocol. Register it on a
// grpc.Server with Register, built with ServerOptions, or serve its JSON
// form with NewHTTPHandler. It is safe for concurrent use.
type Server struct {
	pb.UnimplementedGRPCInferenceServiceServer

	name, version string
	limits        Limits
	maxMsg        int

	mu     sync.RWMutex
	models map[string]Model
	ready  atomic.Bool
}

var _ Service = (*Server)(nil)
var _ pb.GRPCInferenceServiceServer = (*Server)(nil)

// ServerConfig configures a Server.
type ServerConfig struct {
	Name, Version string
	// Limits bound each decoded tensor.
	Limits Limits
	// MaxMessageBytes bounds a whole request on the wire (and responses
	// sent); default 64 MiB. gRPC rejects larger requests with
	// codes.ResourceExhausted before they reach the server.
	MaxMessageBytes int
}

// NewServer returns a ready server with no models.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Name == "" {
		cfg.Name = "edgedl"
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 64 << 20
	}
	s := &Server{name: cfg.Name, version: cfg.Version, limits: cfg.Limits.withDefaults(),
		maxMsg: cfg.MaxMessageBytes, models: map[string]Model{}}
	s.ready.Store(true)
	return s
}

// ServerOptions are the grpc.Server options the server's limits need
// (message size bounds); pass them to grpc.NewServer.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(s.maxMsg), grpc.MaxSendMsgSize(s.maxMsg)}
}

// Register registers the server on a grpc.Server (or any registrar).
func (s *Server) Register(r grpc.ServiceRegistrar) { pb.RegisterGRPCInferenceServiceServer(r, s) }

// Add serves m under name, replacing any model of that name.
func (s *Server) Add(name string, m Model) {
	s.mu.Lock()
	s.models[name] = m
	s.mu.Unlock()
}

// Remove stops serving name.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	delete(s.models, name)
	s.mu.Unlock()
}

// Models lists the served model names, sorted.
func (s *Server) Models() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.models))
	for n := range s.models {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SetReady changes what ServerReady reports (a node draining before
// shutdown reports not ready while still live).
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

func (s *Server) model(name string) (Model, error) {
	s.mu.RLock()
	m, ok := s.models[name]
	s.mu.RUnlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "transport: unknown model %q", name)
	}
	return m, nil
}

// ServerLive implements Service.
func (s *Server) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

// ServerReady implements Service.
func (s *Server) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: s.ready.Load()}, nil
}

// ModelReady implements Service.
func (s *Server) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	_, err := s.model(req.GetName())
	return &pb.ModelReadyResponse{Ready: err == nil && s.ready.Load()}, nil
}

// ServerMetadata implements Service.
func (s *Server) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: s.name, Version: s.version, Extensions: []string{"edgedl_codecs"}}, nil
}

// ModelMetadata implements Service.
func (s *Server) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	m, err := s.model(req.GetName())
	if err != nil {
		return nil, err
	}
	info := m.Info()
	resp := &pb.ModelMetadataResponse{Name: req.GetName(), Versions: info.Versions, Platform: info.Platform}
	if len(resp.Versions) == 0 {
		resp.Versions = []string{"1"}
	}
	spec := func(ts []TensorSpec) ([]*pb.ModelMetadataResponse_TensorMetadata, error) {
		var out []*pb.ModelMetadataResponse_TensorMetadata
		for _, t := range ts {
			dt, err := Datatype(t.DType)
			if err != nil {
				return nil, status.Errorf(codes.Internal, "model %q: %v", req.GetName(), err)
			}
			out = append(out, &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: dt, Shape: Shape64(t.Shape)})
		}
		return out, nil
	}
	if resp.Inputs, err = spec(info.Inputs); err != nil {
		return nil, err
	}
	if resp.Outputs, err = spec(info.Outputs); err != nil {
		return nil, err
	}
	return resp, nil
}

// ModelInfer implements Service: it decodes and validates the inputs, runs
// the model and encodes the outputs with the codec the request asks for.
func (s *Server) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (resp *pb.ModelInferResponse, err error) {
	start := time.Now()
	m, err := s.model(req.GetModelName())
	if err != nil {
		return nil, err
	}
	if v := req.GetModelVersion(); v != "" {
		if vs := m.Info().Versions; !(len(vs) == 0 && v == "1") && !contains(vs, v) {
			return nil, status.Errorf(codes.NotFound, "transport: model %q has no version %q", req.GetModelName(), v)
		}
	}
	inputs, err := DecodeInputs(req, s.limits)
	if err != nil {
		return nil, statusOf(err)
	}
	info := m.Info()
	if err := checkInputs(info.Inputs, inputs); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "transport: model %q: %v", req.GetModelName(), err)
	}
	outCodec, err := requestCodec(req.GetParameters()[ParamOutputCodec])
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "transport: %s: %v", ParamOutputCodec, err)
	}
	outputs, err := s.infer(ctx, req.GetModelName(), m, inputs)
	if err != nil {
		return nil, err
	}
	outputs, codecs, err := selectOutputs(req, outputs, outCodec)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "transport: model %q: %v", req.GetModelName(), err)
	}
	resp = &pb.ModelInferResponse{ModelName: req.GetModelName(), ModelVersion: req.GetModelVersion(), Id: req.GetId()}
	for i, o := range outputs {
		ot, raw, err := EncodeOutput(o.Name, o.Tensor, codecs[i])
		if err != nil {
			return nil, status.Errorf(codes.Internal, "transport: model %q: %v", req.GetModelName(), err)
		}
		resp.Outputs = append(resp.Outputs, ot)
		resp.RawOutputContents = append(resp.RawOutputContents, raw)
	}
	resp.Parameters = map[string]*pb.InferParameter{ParamServerTime: codec.Int64Param(int64(time.Since(start)))}
	return resp, nil
}

// infer runs the model, turning panics and plain errors into statuses.
func (s *Server) infer(ctx context.Context, name string, m Model, inputs []NamedTensor) (out []NamedTensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = status.Errorf(codes.Internal, "transport: model %q panicked: %v", name, r)
		}
	}()
	out, err = m.Infer(ctx, inputs)
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.Internal, "transport: model %q: %v", name, err)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// statusOf maps a decoding error to a gRPC status.
func statusOf(err error) error {
	code := codes.InvalidArgument
	if errors.Is(err, ErrTooLarge) {
		code = codes.ResourceExhausted
	}
	return status.Error(code, err.Error())
}

// checkInputs enforces a model's declared inputs.
func checkInputs(specs []TensorSpec, inputs []NamedTensor) error {
	if len(specs) == 0 {
		return nil
	}
	if len(inputs) != len(specs) {
		return fmt.Errorf("%d inputs, want %d", len(inputs), len(specs))
	}
	byName := make(map[string]*tensor.Tensor, len(inputs))
	for _, in := range inputs {
		byName[in.Name] = in.Tensor
	}
	for _, sp := range specs {
		t, ok := byName[sp.Name]
		if !ok {
			return fmt.Errorf("missing input %q", sp.Name)
		}
		if t.DType != sp.DType {
			return fmt.Errorf("input %q is %v, want %v", sp.Name, t.DType, sp.DType)
		}
		if !shapeMatches(sp.Shape, t.Shape) {
			return fmt.Errorf("input %q has shape %v, want %v", sp.Name, t.Shape, sp.Shape)
		}
	}
	return nil
}

func shapeMatches(spec, shape []int) bool {
	if len(spec) != len(shape) {
		return false
	}
	for i, d := range spec {
		if d >= 0 && d != shape[i] {
			return false
		}
	}
	return true
}

func requestCodec(p *pb.InferParameter) (codec.Codec, error) {
	if p == nil {
		return codec.Default, nil
	}
	s, ok := p.GetParameterChoice().(*pb.InferParameter_StringParam)
	if !ok {
		return nil, errors.New("not a string")
	}
	return codec.Get(s.StringParam)
}

// selectOutputs keeps the requested outputs (all when none are named) in
// the requested order and picks each one's codec.
func selectOutputs(req *pb.ModelInferRequest, outputs []NamedTensor, def codec.Codec) ([]NamedTensor, []codec.Codec, error) {
	if len(req.GetOutputs()) == 0 {
		cs := make([]codec.Codec, len(outputs))
		for i := range cs {
			cs[i] = def
		}
		return outputs, cs, nil
	}
	var sel []NamedTensor
	var cs []codec.Codec
	for _, want := range req.GetOutputs() {
		found := false
		for _, o := range outputs {
			if o.Name == want.GetName() {
				sel = append(sel, o)
				found = true
				break
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("no output %q", want.GetName())
		}
		c := def
		if p := want.GetParameters()[codec.ParamCodec]; p != nil {
			var err error
			if c, err = requestCodec(p); err != nil {
				return nil, nil, fmt.Errorf("output %q: %s: %v", want.GetName(), codec.ParamCodec, err)
			}
		}
		cs = append(cs, c)
	}
	return sel, cs, nil
}
