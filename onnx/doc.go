// Package onnx converts between ONNX protobuf files and edgedl's graph IR
// and tensors: Load/Decode read a ModelProto (with external-data tensors),
// Encode/Save write one back, and ReadTensor/WriteTensor handle the
// TensorProto .pb files of the ONNX test-data layout.
//
// Decoding is defensive: every length, dim and dtype from the file is checked
// before memory is allocated for it, and errors name the file, the tensor or
// the node at fault.
package onnx
