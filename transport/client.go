package transport

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// Client calls an Open Inference Protocol server (edgedl, Triton or
// KServe) over a gRPC connection.
type Client struct {
	rpc pb.GRPCInferenceServiceClient

	// Codec encodes the inputs (nil: codec.Default, plain raw content that
	// any server reads; other codecs need an edgedl server).
	Codec codec.Codec
	// OutputCodec, when set, asks an edgedl server to encode the outputs
	// with it.
	OutputCodec string
	// Limits bound the decoded outputs.
	Limits Limits
}

// NewClient returns a client on cc (a *grpc.ClientConn).
func NewClient(cc grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewGRPCInferenceServiceClient(cc)}
}

// RPC returns the generated client, for calls this type does not wrap.
func (c *Client) RPC() pb.GRPCInferenceServiceClient { return c.rpc }

// Infer runs model on inputs and returns its decoded outputs.
func (c *Client) Infer(ctx context.Context, model string, inputs []NamedTensor, opts ...grpc.CallOption) ([]NamedTensor, error) {
	outs, _, err := c.InferResponse(ctx, model, inputs, opts...)
	return outs, err
}

// InferResponse is Infer that also returns the raw response (for its
// parameters, e.g. ParamServerTime).
func (c *Client) InferResponse(ctx context.Context, model string, inputs []NamedTensor, opts ...grpc.CallOption) ([]NamedTensor, *pb.ModelInferResponse, error) {
	req, err := NewInferRequest(model, inputs, c.Codec)
	if err != nil {
		return nil, nil, err
	}
	if c.OutputCodec != "" {
		if _, err := codec.Get(c.OutputCodec); err != nil {
			return nil, nil, err
		}
		req.Parameters = map[string]*pb.InferParameter{ParamOutputCodec: codec.StringParam(c.OutputCodec)}
	}
	resp, err := c.rpc.ModelInfer(ctx, req, opts...)
	if err != nil {
		return nil, nil, err
	}
	outs, err := DecodeOutputs(resp, c.Limits)
	if err != nil {
		return nil, resp, fmt.Errorf("transport: response of model %q: %w", model, err)
	}
	return outs, resp, nil
}

// Live reports the server's liveness.
func (c *Client) Live(ctx context.Context) (bool, error) {
	r, err := c.rpc.ServerLive(ctx, &pb.ServerLiveRequest{})
	return r.GetLive(), err
}

// Ready reports the server's readiness.
func (c *Client) Ready(ctx context.Context) (bool, error) {
	r, err := c.rpc.ServerReady(ctx, &pb.ServerReadyRequest{})
	return r.GetReady(), err
}

// ModelReady reports whether model is ready.
func (c *Client) ModelReady(ctx context.Context, model string) (bool, error) {
	r, err := c.rpc.ModelReady(ctx, &pb.ModelReadyRequest{Name: model})
	return r.GetReady(), err
}

// Remote adapts a gRPC client to Service, so that the HTTP handler (or
// anything written against Service) can front a remote server.
func Remote(c pb.GRPCInferenceServiceClient) Service { return remote{c} }

type remote struct{ c pb.GRPCInferenceServiceClient }

func (r remote) ServerLive(ctx context.Context, req *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return r.c.ServerLive(ctx, req)
}
func (r remote) ServerReady(ctx context.Context, req *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return r.c.ServerReady(ctx, req)
}
func (r remote) ModelReady(ctx context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	return r.c.ModelReady(ctx, req)
}
func (r remote) ServerMetadata(ctx context.Context, req *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return r.c.ServerMetadata(ctx, req)
}
func (r remote) ModelMetadata(ctx context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	return r.c.ModelMetadata(ctx, req)
}
func (r remote) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	return r.c.ModelInfer(ctx, req)
}

// CallOptions raise gRPC's default 4 MiB receive limit (and the send limit)
// to maxBytes; pass them to grpc.WithDefaultCallOptions on clients that
// move large activations. Match the server's ServerConfig.MaxMessageBytes.
func CallOptions(maxBytes int) []grpc.CallOption {
	return []grpc.CallOption{grpc.MaxCallRecvMsgSize(maxBytes), grpc.MaxCallSendMsgSize(maxBytes)}
}
