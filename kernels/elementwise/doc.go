// Package elementwise implements ONNX's elementwise operators: unary math
// (Abs, Exp, Sin, Erf, IsNaN ...), activations (Relu, Sigmoid, Gelu, Clip
// ...), broadcasting binary and variadic arithmetic (Add, Div, Pow, Mod, Max,
// Sum, Mean ...), comparisons and logic (Equal, Less, And, BitShift,
// BitwiseAnd ...), Where, Cast and CastLike. Importing the package registers
// them (see kernels.Register); kernels/all does that for the whole engine.
//
// # Broadcasting
//
// Every broadcasting operator goes through one driver (plan.run): the output
// shape is computed with numpy's rules, adjacent dimensions that every input
// walks in the same way are merged, and the output is then produced as a
// sequence of contiguous inner runs. Within a run each input is either
// contiguous or a single repeated value, so a run is handled by one of three
// tight loops per operator and dtype: vector-vector, vector-scalar and
// scalar-vector. Same-shape operands, a scalar operand and a bias of shape
// [C,1,1] against [N,C,H,W] all become long runs. Large outputs are split
// across the session's worker pool with kernels.Ctx.Parallel.
//
// # Dtypes
//
// Loops are generic over Go's numeric types and instantiated per dtype.
// float16 and bfloat16 are computed in float32: the operands are decoded,
// the float32 kernel runs, and the result is rounded back (to nearest even),
// which is what numpy (the ONNX reference) does for float16 as well.
// Integer division and modulo by zero are reported as errors.
//
// # Activations for fusion
//
// Activation (see NewActivation and ApplyActivation) exposes the activation
// functions as in-place transforms of []float32 runs, so that Conv, Gemm or
// the runtime's fusion pass can apply them to their output tiles while the
// data is still in cache. The elementwise kernels use the very same code.
package elementwise
