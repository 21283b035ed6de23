// Package reduce implements edgedl's reduction-like operators: the Reduce*
// family, ArgMax/ArgMin, the SoftmaxCrossEntropyLoss and
// NegativeLogLikelihoodLoss losses, the spectral operators (window
// functions, DFT, STFT, MelWeightMatrix) and Det.
//
// Every Reduce* operator runs on one driver. At build time (or on the first
// run, when the input shape is not declared) the input shape and the axes
// are folded into a plan: runs of adjacent dims that are all reduced or all
// kept are merged, size-1 dims are dropped, and the innermost group decides
// the loop shape:
//
//   - innermost group reduced: each output is a combination of contiguous
//     runs of the input (a dot-like loop over memory);
//   - innermost group kept: each output row accumulates whole contiguous
//     input rows (an axpy-like loop that the compiler keeps in registers).
//
// The remaining groups are walked with mixed-radix counters, so no per-element
// index arithmetic happens in the inner loops. Large reductions are split
// across the session's worker pool either over outputs or, when there are
// too few outputs to keep the workers busy, over the reduced range with
// per-chunk partial results that are combined at the end.
//
// The package registers its operators in init; link it through
// github.com/edgedl/edgedl/kernels/all.
package reduce
