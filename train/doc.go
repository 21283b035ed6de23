// Package train trains and fine-tunes ONNX models on the device: reverse-
// mode automatic differentiation over edgedl's graph IR, losses,
// optimisers and learning-rate schedules, a training loop with callbacks
// and checkpoints, and per-example gradients for DP-SGD.
//
// # Programs
//
// Compile turns an inference graph.Model into a Program. Each node whose
// operator is in the trainer's table (SupportedOps: Conv, Gemm, MatMul,
// Add/Sub/Mul/Div, Relu, LeakyRelu, Sigmoid, Tanh, Gelu, Clip, Neg,
// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool,
// BatchNormalization, Dropout, Flatten, Reshape, Squeeze, Unsqueeze,
// Transpose, Concat, Identity, Softmax, LogSoftmax) runs the trainer's own
// float32 forward code, which keeps what its backward needs. Any other
// node may appear off the gradient path — the Shape/Gather/Concat
// arithmetic of a PyTorch export, constants — and runs on the inference
// engine's kernels; Compile refuses a non-differentiable operator that a
// trainable value flows through. Trainable values are the initializers
// named in Options.Trainable (default: the weights and biases).
//
//	p, _ := train.Compile(model, train.Options{Threads: 2})
//	defer p.Close()
//	p.ZeroGrad()
//	res, _ := p.Step(batch, train.CrossEntropy{}) // forward, loss, backward
//	opt.Step(p.Vars(), lr)
//
// Forward(true, ...) is training mode: BatchNormalization normalises with
// batch statistics and updates its running statistics (Buffers), Dropout
// drops with masks from a generator seeded by Options.Seed. Forward(false,
// ...) is inference mode. Backward adds into Var.Grad, so gradients of
// several batches accumulate until ZeroGrad; with Options.InputGrads it
// also returns gradients of the inputs (split learning).
//
// Conv is lowered to im2col and gemm.Sgemm, one example per thread, with
// the column matrices kept from forward for the weight gradient; Gemm and
// MatMul call gemm with the program's threads. Buffers are reused from
// step to step; outputs returned by Forward share them and are valid until
// the next call. A Program is not safe for concurrent use: Clone makes
// programs that share its parameters.
//
// Params and SetParams read and write all trainable parameters as one
// flat []float32 (State and SetState add the buffers), the form federated
// aggregation uses. Export returns the inference model with the trained
// values, ready for onnx.Save and runtime.Compile.
//
// # Training loop
//
// Fit runs epochs of minibatch training over a data.Dataset with a
// Config (batch size, learning rate or Schedule, Optimizer, Loss, seed,
// gradient clipping, per-example clipping and noise, held-out evaluation,
// checkpoints) and reports through Callbacks (per step, per epoch).
// Optimisers are SGD (momentum, Nesterov, weight decay) and Adam/AdamW,
// with PyTorch's update rules; schedules are ConstantLR, StepLR,
// CosineLR and Warmup. SaveCheckpoint/LoadCheckpoint store parameters,
// buffers and optimiser state; a resumed run (Config.StartEpoch,
// StartStep) continues bit for bit.
//
// # Per-example gradients
//
// PerExampleStep computes each example's gradient separately, clips it to
// a norm and sums: DP-SGD's gradient (Fit does it with
// Config.PerExampleClip and NoiseMultiplier). It runs microbatches of one
// example on single-threaded clones, one per thread, so it works for every
// operator without per-op rules; the price is GEMMs with a single row.
// BatchNormalization is refused there, since it mixes examples.
//
// # Fake quantisation
//
// Two operators of the domain QATDomain stand in for int8 quantisation
// during quantisation-aware training (package compress/qat places them):
// FakeQuantize rounds an activation to the grid of a per-tensor affine
// quantisation whose range is a buffer tracking the batch min/max by a
// moving average, and FakeQuantizeWeight rounds a weight to symmetric
// per-channel int8. Their forward passes compute exactly what
// QuantizeLinear followed by DequantizeLinear computes; their backward
// passes are the straight-through estimator (clipped at the saturation
// limits for activations).
//
// # Precision and checks
//
// The operators are generic over float32 and float64; training uses
// float32, and the tests differentiate every operator in float64 and
// compare with central finite differences, then check that the float32
// program agrees.
package train
