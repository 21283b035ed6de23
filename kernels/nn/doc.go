// Package nn implements the neural-network core operators of the default
// ONNX domain, opsets 7 to 24:
//
//   - convolutions: Conv, ConvTranspose (1-D, 2-D, 3-D, groups, dilations,
//     strides, pads, auto_pad, output_padding/output_shape);
//   - products: Gemm, MatMul (numpy broadcasting), Einsum;
//   - pooling: MaxPool (with Indices, ceil_mode, storage_order),
//     AveragePool, LpPool, their Global forms, MaxUnpool;
//   - normalization: BatchNormalization (inference and training_mode),
//     InstanceNormalization, LayerNormalization, GroupNormalization,
//     RMSNormalization, LRN, MeanVarianceNormalization, LpNormalization;
//   - Softmax, LogSoftmax, Hardmax (axis semantics of opsets <13 and 13+);
//   - Dropout.
//
// Operators register themselves in init (import kernels/all). float32 is
// the first-class type; float64 is computed natively, float16 and bfloat16
// in float32 (inputs widened, outputs narrowed). MaxPool also takes int8
// and uint8. Other dtypes are reported as kernels.Unsupported.
//
// # Work done at build time
//
// Builders parse and validate attributes once and, when weights are
// constant, arrange them for the kernel: Conv packs each group's
// M/group × (C/group·Πk) weight matrix for the gemm micro-kernel
// (gemm.PackA), Gemm and MatMul pack their constant B (gemm.PackB),
// ConvTranspose transposes its weights, BatchNormalization folds scale,
// bias, mean and variance into one multiply-add per channel, and 16-bit
// float weights are widened once.
//
// # Convolution paths
//
//   - 1×1, stride 1, no padding: a direct product with the input, no
//     unfolding;
//   - depthwise (C/group = 1, group = C > 1): a direct loop per plane; the
//     3×3 stride-1 and stride-2 float32 case copies the plane into a
//     zero-padded buffer and runs vector row kernels (AVX2+FMA assembly on
//     amd64, portable Go elsewhere or with -tags noasm), so no output needs
//     a border test;
//   - everything else: im2col over tiles of output positions (bounded
//     scratch) and a product with the packed weights.
//
// The products run on the caller's worker pool through the gemm package's
// own splitting; pools, normalizations and depthwise convolutions split
// planes or rows with Ctx.Parallel. Scratch space comes from Ctx.Alloc.
//
// # Fused activations
//
// Conv, ConvTranspose, Gemm and MatMul accept an activation epilogue,
// applied to each output block after the bias while it is still in cache.
// The runtime's optimizer sets it when it folds a following activation
// node into the producer; the attributes are internal to edgedl:
//
//	edgedl_activation        string: "Relu", "Clip", "LeakyRelu", "Sigmoid",
//	                         "HardSigmoid", "HardSwish" or "Tanh"
//	edgedl_activation_alpha  float: Clip's min (default -Inf), LeakyRelu's
//	                         alpha (0.01), HardSigmoid's alpha (0.2)
//	edgedl_activation_beta   float: Clip's max (default +Inf),
//	                         HardSigmoid's beta (0.5)
//
// Relu and Clip (Relu6 is Clip 0..6) are fused into the gemm micro-kernel's
// store and into the depthwise loops; the others take one extra pass over
// the output block. A NaN stays NaN through Relu and Clip.
//
// # Semantics worth knowing
//
//   - AveragePool with count_include_pad counts the taps inside the padded
//     input, not the overhang of a ceil_mode window (as ONNX Runtime and the
//     conformance tests do).
//   - MaxPool without the Indices output propagates NaN; with Indices it
//     skips NaNs, as the ONNX reference does.
//   - Dropout in inference returns its input's buffer (no copy) and an
//     all-true mask. In training mode it draws from a Mersenne Twister
//     seeded with the seed attribute, exactly as numpy's legacy RandomState
//     does, so seeded nodes reproduce the reference masks; without a seed
//     each run is different (the kernel is marked Nondeterministic).
//   - LpNormalization maps a zero vector to zeros.
package nn
