// Package image implements the ONNX operators that resample or index
// images and feature maps: Resize and the deprecated Upsample, GridSample,
// AffineGrid, RoiAlign, NonMaxSuppression, Col2Im and DeformConv.
//
// Resize is separable: for every resized axis the builder derives a table of
// taps (input indices and weights per output coordinate) following the ONNX
// reference exactly (coordinate transformation, nearest rounding, cubic and
// antialiased filters, exclude_outside), and the kernel applies one pass per
// axis, innermost first. Nearest resizing is a single gather on the native
// dtype, so any element type works. When the input shape and the scales or
// sizes are known at compile time the tables are built once there.
//
// Arithmetic is done in float32; float16, bfloat16 and float64 tensors are
// converted on entry and exit.
package image
