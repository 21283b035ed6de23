// Package quantize converts float ONNX models to int8 (and float16).
//
// # Static quantisation
//
// Calibrate runs the model on calibration batches (after folding
// BatchNormalization into Conv and naming the nodes) and records the range
// of every float activation by one of four methods: MinMax, Percentile
// (99.99 by default), Entropy (TensorRT's KL-divergence search over a
// 2048-bin histogram of |x|) or MSE (the least expected rounding plus
// clipping error). Calibration.QDQ then writes the model as ONNX Runtime's
// static quantizer does, so that ONNX Runtime and edgedl's integer kernels
// both run it:
//
//   - weights of Conv, Gemm and MatMul: int8, symmetric (zero point 0),
//     one scale per output channel (axis 0 of Conv [M,C,kh,kw] and of Gemm
//     with transB, else the last axis), behind a DequantizeLinear;
//   - biases: int32 with scale x_scale*w_scale[c], behind a DequantizeLinear;
//   - activations: asymmetric int8 (or uint8) per tensor, as a
//     QuantizeLinear/DequantizeLinear pair after the value is computed; every
//     reader reads the dequantized value;
//   - a Relu, or Clip(0, 6), after a quantised layer disappears into the
//     QuantizeLinear of its range (its zero point is the type's minimum);
//   - MaxPool, Flatten, Reshape, Squeeze, Unsqueeze and Transpose requantise
//     with their input's parameters, so they run on the int8 values; Add,
//     Mul, Sub, Concat, pooling and activations get pairs with their own
//     parameters;
//   - every other operator stays in float, with a warning on the Logger.
//
// The runtime's QDQ rewrite turns DequantizeLinear -> Conv/Gemm ->
// QuantizeLinear into its integer QConv/QGemm kernels (see package
// kernels/fused).
//
// # Mixed precision
//
// Calibration.Sensitivity quantises one weight layer at a time and measures
// the model's output error (and accuracy drop, on labelled data); QDQ
// takes the names of layers to keep in float, and Options.KeepFloat makes
// Static keep the N most sensitive in float.
//
// # Dynamic quantisation and float16
//
// Dynamic writes MatMul and Gemm layers as ONNX Runtime's dynamic quantizer
// does: int8 weights stored offline, activations quantised at run time
// (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul by the scales).
// Float16 stores weights as float16 behind Cast nodes, halving the file.
//
// # Errors
//
// Calibration data that is empty, or whose inputs have the wrong count,
// type or shape, option values out of range, unknown layer names and
// opsets without QuantizeLinear are reported as errors naming the problem.
package quantize
