// Package quant runs quantized ONNX models in integer arithmetic.
//
// # Operators
//
// QuantizeLinear and DequantizeLinear (per tensor, per axis and blocked;
// int8, uint8, int16, uint16 and int32 values; output_dtype and precision
// attributes), DynamicQuantizeLinear, and the integer operators
// MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv. Float8, int4
// and int2 types are reported as unsupported.
//
// Arithmetic follows the ONNX reference implementation exactly:
// quantisation divides by the scale (in the scale's precision, or the
// precision attribute's), rounds half to even and saturates; the integer
// operators accumulate Σ(a − a_zero)(b − b_zero) in int32 and requantize
// with y = saturate(round(acc · m) + y_zero), where m = a_scale·b_scale/
// y_scale is rounded to the scales' float type (float32 or float16) and
// the product acc·m is formed in float64.
//
// # The integer GEMM
//
// GemmU8 and GemmS8 compute C = (A − aZero)·(B − bZero) for an 8-bit A
// (activations, row-major) and a PackedB (weights, packed once with PackB
// at build time, or per run for non-constant operands):
//
//	pb, _ := quant.PackB(k, n, w, ldw, transposed, wZero) // int8 or uint8 w
//	quant.GemmU8(ctx, m, a, lda, []int32{aZero}, pb, c, ldc)
//
// Zero points never reach the inner loop: B's are subtracted while packing
// and A's cost one multiply-subtract per output with B's column sums. The
// portable micro-kernel packs two B values into one 64-bit word so that a
// single multiply yields two products (32-bit lanes, K processed in chunks
// that cannot overflow a lane); packed weights take 4 bytes per int8 weight.
// A SIMD implementation (AVX-512 VNNI, AVX2, NEON SDOT) replaces PackB's
// layout and the micro-kernel behind the same functions: PackedB is opaque,
// and TestGemmMatchesReference is the contract to keep.
//
// Convolutions run as im2row (input patches of one image and group as rows,
// padded with the input zero point so padding contributes nothing) followed
// by one GEMM against the weights packed as patch × output channel, and an
// output pass that requantizes and transposes to NCHW. Depthwise 1-D and
// 2-D convolutions (one input channel per group) skip the GEMM and
// accumulate directly per channel.
//
// # Kernels for graph rewrites
//
// A QDQ model (ONNX Runtime static quantisation) expresses an int8 layer as
// DequantizeLinear → Conv/Gemm/MatMul → QuantizeLinear on float tensors. A
// runtime pass can replace such a pattern with a kernel that consumes the
// quantized input tensor and produces the quantized output directly:
//
//	k, err := quant.NewConv(quant.ConvParams{
//		XType: tensor.Int8, XScale: xs, XZero: xz, // the input DequantizeLinear
//		W: wq, WScale: ws, WZero: wz, // the weight DequantizeLinear (per channel)
//		Bias: bq, // int32 bias (scale xs·ws[c]) or float32
//		YType: tensor.Int8, YScale: ys, YZero: yz, // the QuantizeLinear after Conv
//		Pads: pads, Strides: strides, Group: group, // Conv's attributes
//	})
//
// NewGemm does the same for Gemm (TransB for Linear layers' [N, K] weights)
// and MatMul with a constant right operand; its input may have any rank,
// every leading dimension being a row. Both pack the weights once, accept a
// fused Relu (clamp at the output zero point) and can produce float32
// instead of a quantized output. A Relu between Conv and QuantizeLinear, or
// a quantized output zero point at the type's minimum (as ONNX Runtime
// emits for Conv+Relu), needs no separate node. Max pooling commutes with
// quantisation and can run on the int8 values with unchanged parameters.
//
// All kernels are immutable after build and safe for concurrent use; work
// is split with Ctx.Parallel and scratch comes from Ctx.Alloc.
package quant
