// Package quant runs quantized ONNX models in integer arithmetic.
package quant
