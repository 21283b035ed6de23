// Package flpb holds the Go types and gRPC stubs generated from
// flnet.proto, the federated-learning coordinator's service (package
// edgedl.fl.v1, service Federation). Package flnet implements both sides.
package flpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative flnet.proto
