// Package prune removes weights from ONNX models.
//
// Magnitude zeroes the weights of least magnitude of Conv, Gemm and
// MatMul layers to a target sparsity, per layer or over all layers at once
// (Global); Sparsity measures it. Zeros only shrink a model once stored
// sparsely: EncodeSparse writes ONNX sparse initializers (values and int64
// positions, worth it above 2/3 sparsity), and package compress/codebook
// codes pruning masks as run lengths.
//
// Channels is structured pruning (Li et al., "Pruning Filters for Efficient
// ConvNets", ICLR 2017): the filters of least L1 norm leave each Conv, and
// the graph is rewritten so that every layer is genuinely smaller. The
// Conv's weight and bias lose output channels; its readers lose the
// matching inputs, through channel-wise operators (activations, pooling,
// BatchNormalization, depthwise Conv, whose channels go too) up to the
// next Conv (input channels) or, through Flatten or a Reshape to 2-D, a
// Gemm/MatMul (a block of weight columns per channel). A Conv whose output
// reaches an operator that combines channels (Add, Concat, a graph output)
// is left as it is and listed in ChannelReport.Skipped. Accuracy drops until
// the model is fine-tuned (package train).
//
// Sparsities and ratios outside [0, 1) and unknown layer names are errors.
package prune
