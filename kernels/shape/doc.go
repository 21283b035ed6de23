// Package shape implements ONNX's shape and data-movement operators:
// Reshape, Transpose, Concat, Split, Slice, Gather, Scatter, Pad, Tile,
// Expand, TopK, Unique and their relatives, for every dtype edgedl stores.
//
// Importing the package registers the kernels (kernels/all does it for the
// whole engine). None of them does arithmetic on the values it moves, so
// most are written once over the storage word of the element: a kernel
// views float32, int32 and uint32 data alike as []uint32, and so on for
// each width, with strings as the one pointer-carrying case. The few that
// compare or combine values (TopK, Unique, CumSum, scatter reductions,
// Range, OneHot) dispatch on the dtype itself and compute float16 and
// bfloat16 in float32.
//
// Memory rules: Reshape, Flatten, Squeeze, Unsqueeze and Identity return a
// new Tensor that shares its input's Data slice (they implement
// kernels.Aliaser); every other output is a fresh buffer from Ctx.Alloc.
// Inputs are never modified. Output sizes computed from tensor values
// (ConstantOfShape, Expand, Tile, Range, Pad...) are checked with
// tensor.NumElements before anything is allocated.
//
// Strided copies (Transpose, Slice, Expand, Tile, DepthToSpace and
// SpaceToDepth) share one engine, copyPlan: it merges dims that are
// contiguous in both tensors, then copies rows, fills broadcast rows, or
// transposes cache-sized tiles when the innermost source stride is not 1,
// splitting large copies over Ctx.Parallel.
package shape
