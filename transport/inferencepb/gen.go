// Package inferencepb holds the Go types and gRPC stubs generated from
// kserve_v2.proto, the Open Inference Protocol (KServe v2) schema: package
// "inference", service GRPCInferenceService. Use package transport for
// conversion between these messages and edgedl tensors.
package inferencepb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative kserve_v2.proto
