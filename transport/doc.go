// Package transport is edgedl's wire layer: the Open Inference Protocol
// (KServe v2) over gRPC and HTTP/JSON, with tensor codecs for activations
// that travel between device, edge and cloud tiers, and measurements of each
// transfer for the partition planner's bandwidth estimator.
//
// # Protocol
//
// The gRPC schema lives in package inferencepb (package "inference",
// service GRPCInferenceService, as the specification names them), so a
// Triton or KServe server can stand in for an edgedl node and the other way
// round. Tensors travel as raw_input_contents / raw_output_contents:
// flattened row-major little-endian bytes with the KServe datatype
// ("FP32", "FP16", "INT8", "UINT8", "INT32", "INT64", "BOOL", "BYTES", ...)
// and int64 shape beside them. Typed contents (fp32_contents, ...) are
// accepted too, as Python clients often send them.
//
// An input or output may instead carry an edgedl codec (package codec):
// its parameters then name the codec ("edgedl.codec": "int8c+zstd") and
// hold what the decoder needs; the datatype and shape stay those of the
// logical tensor. Plain "fp32" adds no parameter and is what any KServe
// server reads. A request asks for encoded outputs with the request
// parameter ParamOutputCodec, or per output with "edgedl.codec" in its
// requested-output parameters.
//
// # Serving
//
//	srv := transport.NewServer(transport.ServerConfig{Name: "edge-1"})
//	srv.Add("resnet-tail", model)            // a transport.Model
//	gs := grpc.NewServer(srv.ServerOptions()...)
//	srv.Register(gs)
//	go gs.Serve(lis)
//	http.Handle("/v2/", transport.NewHTTPHandler(srv, transport.HTTPConfig{}))
//
// Requests are validated before anything proportional to their declared
// shapes is allocated: datatype known, dims non-negative, byte length equal
// to what the shape needs, sizes within Limits, a model's declared inputs
// matched. Failures come back as gRPC statuses (InvalidArgument, NotFound,
// ResourceExhausted for oversized tensors and messages, Internal for model
// errors and panics) and the server keeps serving.
//
// # Calling
//
//	cc, _ := grpc.NewClient("passthrough:///"+addr,
//		grpc.WithTransportCredentials(insecure.NewCredentials()),
//		grpc.WithStatsHandler(transport.StatsHandler(estimator)))
//	client := transport.NewClient(cc)
//	client.Codec, _ = codec.Get("int8c+lz4")
//	outs, err := client.Infer(ctx, "resnet-tail", []transport.NamedTensor{{Name: "act", Tensor: x}})
//
// # Measuring links
//
// StatsHandler reports one Sample per RPC (bytes each way on the wire,
// duration, the server's own time from ParamServerTime) to an Observer;
// the estimator that turns samples into a link estimate lives with the
// planner. Package link emulates links (bandwidth, delay, jitter, loss,
// schedules) under real gRPC on loopback; package netns builds kernel-level
// test networks in Linux network namespaces.
//
// Memory: decoded tensors are freshly allocated and owned by the caller;
// Encode functions never retain their tensors.
package transport
