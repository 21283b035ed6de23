// Package node runs split inference across tiers: a Server is an edge or
// cloud node that stores pieces of models and runs them for clients over
// the Open Inference Protocol (KServe v2), forwarding activations to the
// next tier when asked; a Device runs its own piece locally, sends the
// activation up, and finishes locally whenever the network lets it down,
// so that no request is lost.
//
// # Pieces and splits
//
// A model is cut into up to three standalone ONNX models (Pieces): the
// device's, the edge's and the cloud's, each reading what the previous one
// wrote. SplitModel cuts at the prefix cuts of package partition ("3": the
// device runs the first 3 runtime nodes, the edge the rest; "3,6": the
// cloud runs from node 6), at named tensors, or not at all ("device",
// "edge", "cloud"); a planner can hand its own Pieces to DeviceConfig.
//
// Nodes know pieces by content: a piece's name is the hex SHA-256 of its
// ONNX bytes (HashBytes). A device uploads a piece once with the model
// repository extension (ModelRepositoryService of the protocol package
// inference.model_repository; Go stubs in package repositorypb):
// RepositoryModelLoad with model_name = the hash and the bytes in the
// parameter "file:model.onnx", as Triton's load parameters carry files.
// Over REST:
//
//	PUT /v2/repository/models/{hash}        body: the ONNX bytes
//
// The node checks the hash, decodes, compiles and test-runs the piece on
// synthetic inputs before storing it: an upload that fails any check
// stores nothing. ModelInfer with model_name = the hash runs it; a hash
// the node does not hold (never uploaded, or evicted) gets NotFound, and
// the device uploads and retries. Pieces live in an LRU cache under
// ServerConfig.CacheBytes, each charged twice its ONNX size (decoded and
// packed weights) plus the activations of one run.
//
// # Forwarding (three tiers)
//
// A request to an edge node may carry ParamNextModel (the cloud piece's
// hash) and ParamNextCodec: the edge runs its piece, encodes the
// activation, calls its next tier (ServerConfig.Next) and returns the
// cloud's outputs, so the activation never travels back through the
// device. The edge waits at most ParamNextTimeout (or ForwardTimeout,
// default 2 s), and always keeps back a tenth of the request's deadline
// (at least ForwardReserve); if the cloud is unreachable, too slow, or
// lacks its piece, the edge answers with its own outputs (the
// intermediate activation) and ParamForwarded=false, ParamForwardError
// and ParamForwardCode. The device then sends that activation to the cloud
// itself when it knows the cloud's address, or finishes locally; on
// NotFound it also uploads the cloud piece, directly or relayed by the
// edge (RepositoryModelLoad with ParamTarget "next").
//
// Responses carry each tier's measured compute time and its emulated time
// (ParamComputeTime, ParamEmulatedTime, ParamNext...), beside the
// transport's ParamServerTime.
//
// # The device
//
//	d, _ := node.NewDevice(node.DeviceConfig{Model: m, Split: "3,6",
//		Edge: "127.0.0.1:8001", Token: tok, Codec: "int8c+lz4"})
//	defer d.Close()
//	_ = d.Prepare(ctx)              // upload missing pieces now, not on the first request
//	r, err := d.Infer(ctx, inputs)   // r.Outputs, r.Timings (path, per-tier times, bytes)
//	st, _ := d.RunMany(ctx, node.RunOptions{Count: 1000, Concurrency: 4, Inputs: next})
//
// Each request spends at most DeviceConfig.Timeout on remote tiers.
// Unavailable answers are retried (Retries); NotFound triggers an upload
// and one more try; any other failure, or the timeout, ends the remote
// part and the device runs the remaining pieces itself (it compiles every
// piece for this), recording Fallback and the reason. A tier that was
// unreachable or too slow is skipped for Cooldown, so that requests during
// an outage do not each wait for it. With NoFallback, remote failures are
// errors instead. Every RPC's bytes and duration go to
// DeviceConfig.Observer (transport.Sample), for a bandwidth estimator.
//
// # Security
//
// Every KServe and repository RPC, and everything under /v2 on the HTTP
// port, needs "authorization: Bearer <token>" (compared in constant time;
// Unauthenticated / 401 otherwise). The gRPC health service
// (grpc.health.v1), /healthz, /readyz and /metrics are open, for probes
// and scrapers. ServerConfig.TLS serves TLS from PEM files, and requires
// client certificates signed by TLS.CAFile when it is set (mutual TLS);
// DeviceConfig.TLS and ServerConfig.NextTLS are the client side. Tokens
// may travel without TLS (loopback tests, emulated links): use TLS on any
// real network.
//
// # Operations
//
// The HTTP port (ServerConfig.HTTPListen) serves the REST protocol and
// repository, /metrics (Prometheus, a registry per node: latency
// histograms per piece and kind — compute, emulated, request —, wire
// bytes in and out, requests by method and code, cache bytes, models and
// evictions, uploads, forwards by result and bytes, and the plans clients
// report in ParamPlan, at most 64 distinct), /healthz and /readyz. Logs
// are structured (log/slog): one line per stored or rejected piece, per
// failed forward, and per failed RPC (successful ones at debug level).
// Shutdown drains (not ready, running requests finish); Close stops at
// once, as a crash would.
//
// # Dynamic batching
//
// With ServerConfig.MaxBatch >= 2 (`edgedl serve --max-batch N`), requests
// for the same piece that arrive while the node is busy are run together:
// inputs that differ only in their first dimension are concatenated along
// it (up to MaxBatch rows), the piece runs once, and each request gets its
// rows back. Only pieces whose inputs and outputs all have a symbolic
// first dimension batch; an idle node runs a request at once (BatchWait
// can hold it for company). A failed batch is retried request by request.
//
// # Emulating slower machines
//
// To show device/edge/cloud speed differences on one machine, a node (and
// a device) can be given a slowdown factor: after running a piece it
// sleeps (factor-1) times the measured compute time. Both times are
// reported (ParamComputeTime and ParamEmulatedTime; Timings.EdgeRaw and
// Timings.Edge, ...). The sleep does not use the CPU, so concurrent
// requests on a slowed node overlap as if it had more cores than it has.
//
// Memory: Infer's outputs are freshly allocated and owned by the caller.
// Pieces from SplitModel share initializers with the model: do not change
// the model while a Device uses it.
package node
