package node

import (
	"time"

	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// Request parameters (KServe InferParameter) a node reads in ModelInfer.
const (
	// ParamNextModel (string) asks the node to forward its piece's outputs
	// to its next tier (ServerConfig.Next) and run the piece of this hash
	// there; the response then carries the next tier's outputs.
	ParamNextModel = "edgedl.next_model"
	// ParamNextCodec (string) is the codec of the activation on the next
	// hop ("fp32" when absent; see package codec).
	ParamNextCodec = "edgedl.next_codec"
	// ParamNextTimeout (int64 ns) bounds the wait for the next tier; the
	// node also keeps a tenth of the request's own deadline (at least
	// ForwardReserve) to answer with its intermediate activation instead.
	ParamNextTimeout = "edgedl.next_timeout_ns"
	// ParamPlan (string) is the split the client chose (e.g. "3,8"), for
	// the node's plan_choices_total metric. Nodes pass it on when they
	// forward.
	ParamPlan = "edgedl.plan"
)

// Response parameters a node adds to ModelInfer responses.
const (
	// ParamComputeTime (int64 ns) is the measured time of the node's own
	// piece.
	ParamComputeTime = "edgedl.compute_ns"
	// ParamEmulatedTime (int64 ns) is that time with the node's slowdown
	// applied (ServerConfig.Slowdown); equal to ParamComputeTime at 1.
	ParamEmulatedTime = "edgedl.emulated_ns"
	// ParamForwarded (bool) is true when the outputs are the next tier's,
	// false when forwarding was asked for and failed: the outputs are then
	// the node's own (the intermediate activation), and ParamForwardError
	// and ParamForwardCode say why.
	ParamForwarded = "edgedl.forwarded"
	// ParamForwardError (string) describes a failed forward.
	ParamForwardError = "edgedl.forward_error"
	// ParamForwardCode (int64) is the gRPC code of a failed forward:
	// NotFound means the next tier lacks the piece (upload it there),
	// Unavailable and DeadlineExceeded that it is down or too slow.
	ParamForwardCode = "edgedl.forward_code"
	// ParamNextComputeTime, ParamNextEmulatedTime (int64 ns) are the next
	// tier's ParamComputeTime and ParamEmulatedTime.
	ParamNextComputeTime  = "edgedl.next.compute_ns"
	ParamNextEmulatedTime = "edgedl.next.emulated_ns"
	// ParamNextRPCTime (int64 ns) is the round trip to the next tier as the
	// node saw it.
	ParamNextRPCTime = "edgedl.next.rpc_ns"
	// ParamNextBytesOut, ParamNextBytesIn (int64) are the message sizes of
	// the forwarded request and of its response.
	ParamNextBytesOut = "edgedl.next.bytes_out"
	ParamNextBytesIn  = "edgedl.next.bytes_in"
)

// Model repository parameters (RepositoryModelLoad).
const (
	// FileParam carries the ONNX bytes of an upload (bytes_param), as
	// Triton's "file:<path>" load parameters do.
	FileParam = "file:model.onnx"
	// ParamTarget (string) "next" relays a load to the node's next tier
	// instead of storing it, for devices that only reach the edge.
	ParamTarget = "edgedl.target"
)

func boolParam(v bool) *pb.InferParameter {
	return &pb.InferParameter{ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: v}}
}

func durParam(d time.Duration) *pb.InferParameter { return codec.Int64Param(int64(d)) }

// paramString reads a string parameter ("" when absent or not a string).
func paramString(ps map[string]*pb.InferParameter, key string) string {
	if p, ok := ps[key].GetParameterChoice().(*pb.InferParameter_StringParam); ok {
		return p.StringParam
	}
	return ""
}

// paramInt reads an int64 parameter (0 when absent or not an integer).
func paramInt(ps map[string]*pb.InferParameter, key string) int64 {
	switch p := ps[key].GetParameterChoice().(type) {
	case *pb.InferParameter_Int64Param:
		return p.Int64Param
	case *pb.InferParameter_Uint64Param:
		return int64(p.Uint64Param)
	}
	return 0
}

// paramBool reads a bool parameter.
func paramBool(ps map[string]*pb.InferParameter, key string) (v, ok bool) {
	p, ok := ps[key].GetParameterChoice().(*pb.InferParameter_BoolParam)
	if !ok {
		return false, false
	}
	return p.BoolParam, true
}

func paramDur(ps map[string]*pb.InferParameter, key string) time.Duration {
	return time.Duration(paramInt(ps, key))
}
