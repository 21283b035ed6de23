// Package qat fine-tunes a float model with quantisation-aware training
// (QAT) and exports it as the standard QDQ int8 model that package
// compress/quantize writes, which edgedl's integer kernels and ONNX
// Runtime run.
//
// # The loop
//
//	q, _ := qat.Prepare(model, calib, qat.Options{})   // calib: []compress.Batch
//	p, _ := q.Compile(train.Options{Threads: 2})
//	train.Fit(ctx, p, trainSet, train.Config{...}, train.Callbacks{})
//	qdq, _ := q.Export(p)                               // *graph.Model, QDQ
//	onnx.Save("model_int8.onnx", qdq)
//
// FineTune does the three steps in one call.
//
// # Where the quantisers go
//
// Prepare calibrates the model (quantize.Calibrate: BatchNormalization
// folded, nodes named, the range of every activation measured), writes the
// post-training QDQ model and reads off where it quantises. The training
// graph then gets, in package train's fake-quantisation operators
// (train.FakeQuantizeOp, train.FakeQuantizeWeightOp in domain
// train.QATDomain):
//
//   - a FakeQuantize after every activation the QDQ model quantises with
//     parameters of its own: per-tensor affine int8 (or uint8), its range
//     a training buffer that starts at the calibrated range and follows an
//     exponential moving average of each training batch's min and max
//     (Options.Momentum, default 0.01). Activations requantised with
//     their input's parameters (after MaxPool, Flatten, Reshape ...) are
//     on the grid already and get none; a Relu that the QDQ model folds
//     into its producer's QuantizeLinear is quantised after the Relu, as
//     the integer model computes it;
//   - a FakeQuantizeWeight in front of every quantised Conv, Gemm and
//     MatMul weight: symmetric int8 in [-127, 127], one scale per output
//     channel (max|w|/127).
//
// Both round half to even as QuantizeLinear does, so the forward pass is
// the integer model's up to the requantisation of the integer kernels;
// the backward pass is the straight-through estimator, clipped at the
// saturation limits for activations. Biases stay float during training
// and become int32 (scale x_scale·w_scale) on export, as in post-training
// quantisation.
//
// # Export
//
// Export takes the trained weights and the learnt ranges and calls
// quantize.FromRanges(...).QDQ(): the output has exactly the structure of
// post-training quantisation of the same float model (the same operators
// stay in float, with the same warnings on Options.Logger), its int8
// weights are the fake quantisers' values, and its activation scales and
// zero points those of the last training step. FloatModel gives the
// trained float model without quantisers.
//
// # Errors
//
// Models below opset 13 (no per-channel DequantizeLinear), empty or
// mismatched calibration data, activation types other than int8 and
// uint8, and exporting from a program compiled from another graph are
// errors.
package qat
