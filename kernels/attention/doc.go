// Package attention implements the transformer attention operators of the
// default ONNX domain: Attention (opsets 23 and 24: multi-head, grouped-query
// and multi-query attention with masks, causal masking, KV caches and
// soft-capping), RotaryEmbedding, and the recurrent-state operators that
// accompany them in recent opsets (LinearAttention, CausalConvWithState,
// SwiGLU).
//
// Kernels compute in float32 whatever the input float type (float16 and
// bfloat16 are widened once on entry and narrowed once on exit; float64 is
// narrowed), and use gemm.Sgemm for the batched Q·Kᵀ and P·V products, one
// (batch, head) pair per parallel work item.
//
// Register the package by importing it for its side effect, usually through
// kernels/all.
package attention
