// Package rnn implements the ONNX recurrent operators LSTM, GRU and RNN,
// and the optimizer operators of the ai.onnx.preview.training domain
// (Adagrad, Adam, Momentum).
//
// The recurrent kernels share one driver. The input projection of all time
// steps, X·Wᵀ, is a single gemm.Sgemm per direction before the recurrence
// starts, with the W and R biases folded into it. Each time step then adds
// H(t-1)·Rᵀ with a small Sgemm into that step's rows and applies the gate
// equations in place. Directions and independent groups of batch entries
// run on separate workers, since they never exchange state.
//
// All attributes of the ONNX operators are honoured: direction
// (forward, reverse, bidirectional), activations with their alpha and beta,
// clip, layout 0 and 1, sequence_lens, initial_h and initial_c, LSTM's
// peepholes and input_forget and GRU's linear_before_reset. Batch entries
// whose sequence is shorter than the input produce zeros in Y after their
// end, and their Y_h / Y_c hold the state after their last step (the
// initial state when the length is 0). Reverse directions run from each
// entry's own last step back to its first.
//
// Computation is in float32; float64 and float16 tensors are converted on
// the way in and out.
package rnn
