// Package runtime compiles a graph.Model into a Session once and runs it
// many times.
//
// Compile resolves every node to a kernel (by op type and opset), folds
// nodes whose inputs are all constant, lets kernels pre-pack constant
// weights, and computes each value's last use so that buffers return to a
// per-run free list as soon as they are dead (a kernel may also return an
// output in the buffer of an input that dies at its node: see
// kernels.Ctx.Overwritable). Sessions are safe for
// concurrent Run calls: each call takes its own run state (value slots and
// recycled buffers) from a pool, and all calls share one persistent worker
// pool for intra-op parallelism.
//
// Typical use:
//
//	m, _ := onnx.Load("model.onnx")
//	s, _ := runtime.Compile(m, runtime.Options{Threads: 2})
//	defer s.Close()
//	out, _ := s.Run(map[string]*tensor.Tensor{"input": x})
package runtime
