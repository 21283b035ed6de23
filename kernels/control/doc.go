// Package control implements ONNX's control-flow operators: If, Loop and
// Scan (opset 8 and 9+ forms).
//
// Each node's graph attributes are compiled once, at build time, with
// BuildContext.Compile; Run then executes the compiled bodies with the
// kernel's Ctx, through which a body reads values of enclosing scopes.
//
//	If:   runs then_branch or else_branch; their outputs are the node's.
//	Loop: body(iter, cond, v...) -> (cond, v..., scan...) while
//	      iter < M && cond; loop-carried v are fed back, scan outputs are
//	      stacked along a new leading axis.
//	Scan: body(state..., slice...) -> (state..., out...) once per position
//	      along each scan input's axis (forward or reverse); outputs are
//	      stacked along their scan_output_axes.
//
// Only tensor values are supported: sequence and optional values are not
// (the runtime has none), so models that carry them are reported as
// unsupported.
//
// Memory: a body's outputs are owned by the caller (the subgraph runtime
// copies anything it does not own), so loop-carried values pass from one
// iteration to the next without copies, and slice buffers fed to a body
// are reused between iterations. Scan outputs accumulated by Loop are
// bounded by tensor.MaxElements, so a loop that never ends cannot exhaust
// memory.
package control
