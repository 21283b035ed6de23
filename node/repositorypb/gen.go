// Package repositorypb holds the Go types and gRPC stubs generated from
// repository.proto: the model repository extension of the Open Inference
// Protocol (package "inference.model_repository", service
// ModelRepositoryService) with Triton's load parameters. Package node
// serves it: a model is uploaded under the hex SHA-256 of its ONNX bytes.
package repositorypb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative repository.proto
