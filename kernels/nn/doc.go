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
// (gemm.PackA, or gemm.PackPixelWeights for the pixel path), Gemm and MatMul pack their constant B (gemm.PackB),
// ConvTranspose transposes its weights, BatchNormalization folds scale,
// bias, mean and variance into one multiply-add per channel, and 16-bit
// float weights are widened once.
//
// # Convolution paths
//
//   - 1×1, stride 1, no padding: a direct product with the input, no
//     unfolding (on maps of at most 100 pixels with K >= 256, the pixel
//     product below, reading the input in place);
//   - depthwise (C/group = 1, group = C > 1): a direct loop per plane; the
//     3×3 stride-1 and stride-2 float32 case reads the plane in place with
//     AVX-512 (masked loads are the zero padding: dw512_amd64.s), or copies
//     it into a zero-padded buffer for AVX2+FMA row kernels, or portable Go
//     elsewhere or with -tags noasm; bias and Relu/Clip are fused;
//   - everything else, float32 with constant weights: the input is copied
//     once into zero-padded planes split by stride phase, and then
//     (convpixels.go, convindirect.go), with AVX-512: K = C/group·Πk >= 256
//     takes the pixel product (gemm.SgemmPixels: output channels in the
//     lanes, up to 14 pixels of a row per tile, inputs broadcast through
//     tap offsets, no unfolded copy); smaller K with more taps than output
//     channels the indirect product (gemm.SgemmPackedAIndirect: pixels in
//     the lanes on a padded-width grid read through tap offsets, then
//     compacted); the rest, and CPUs without AVX-512, ask the gemm for the
//     unfolded (im2col) matrix an L2-sized block at a time
//     (gemm.SgemmPackedASource), filled by row copies;
//   - other types or runtime weights: im2col over tiles of output
//     positions (bounded scratch) and a product.
//
// # Pooling
//
// With AVX-512, float32 pools on small maps run all planes of a chunk in
// one call (pool_amd64.go: 3×3 same-size pools as flat blocks with lane
// masks, narrow and stride-2 rows, plane means for GlobalAveragePool).
// Otherwise float32 MaxPool (without Indices) and AveragePool with a
// horizontal stride of 1 or 2 take two vector passes per output row: the maximum (or
// sum) over the window's input rows into a padded row buffer, then over
// each window's columns (AVX-512 with masked tails, AVX2 with scalar
// tails, portable Go with -tags noasm). MaxPool propagates NaN there too.
//
// # Memory
//
// Constant weights, once packed or converted, live only in the kernel:
// Conv, Gemm and MatMul implement kernels.PackedInputs, so the runtime
// passes nil for them and frees the originals. Outputs that a kernel writes
// completely (Conv, Gemm, the pools) are requested through the allocator's
// AllocUninit when it has one (the runtime's recycler), which skips
// clearing a recycled buffer.
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
// An inference BatchNormalization takes a Relu or Clip the same way (one
// pass y = act(x·a + b), with a and b folded at build time; the optimizer
// also folds following per-channel Mul and Add nodes into a and b).
//
// # Residual convolutions
//
// A Conv with the attribute edgedl_residual = 1 (AttrResidual) has a
// fourth input R added to its output after the bias and before the
// activation: y = act(conv(x) + b + R), the optimizer's rewrite of
// Conv -> Add(R) [-> Relu]. When R has the output's shape and the product
// is a float32 gemm with packed weights, R is loaded into the output and
// the gemm accumulates onto it (beta = 1); the output then is R's own
// buffer if Ctx.CanOverwrite(3) says nothing reads R later. Otherwise R is
// added (with broadcasting) in a pass after the convolution.
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
