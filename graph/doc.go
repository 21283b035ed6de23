// Package graph is edgedl's model IR: a Model holds opset versions and a
// Graph of Nodes that read and write named values, with constant
// initializers. It knows nothing of protobuf (package onnx converts) nor of
// execution (package runtime compiles a Graph into a Session).
//
// A Graph is a plain data structure: build or edit it freely, then call
// Validate (names, topological order, cycles, dangling inputs) before use.
// Extract cuts out the subgraph between chosen tensors, which is how models
// are split across device, edge and cloud.
package graph
