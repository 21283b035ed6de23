// Package onnxpb holds the Go types generated from onnx.proto, the ONNX model
// format's protobuf schema. Use package onnx for conversion to edgedl's IR.
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
