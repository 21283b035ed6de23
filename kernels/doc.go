// Package kernels holds edgedl's operator implementations and the small
// contract between them and the runtime.
//
// An operator is registered once per (domain, op type, since-version) with a
// Builder. At session compile time the runtime resolves each node to the
// Builder with the highest since-version not above the model's opset and
// calls it once with the node's attributes and what is known of its inputs
// (dtype, shape, and the value itself when it is a constant, so weights can
// be pre-packed). The Builder returns a Kernel: an immutable object whose Run
// method maps input tensors to output tensors and may be called concurrently.
//
// Kernels allocate outputs with Ctx.Alloc, which draws from buffers the
// runtime recycles between nodes and runs, and split work with Ctx.Parallel,
// which uses the session's persistent worker pool; a kernel never starts
// goroutines of its own.
//
// A kernel that meets an input it cannot handle (an unsupported dtype or
// attribute value) returns an *UnsupportedError, which tools report as
// "skipped" rather than "failed".
package kernels
