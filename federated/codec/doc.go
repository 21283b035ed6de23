// Package codec compresses federated-learning updates for the wire, in both
// directions: clients' deltas on the uplink and the server's model or delta
// on the downlink. The bytes an Encoder returns are what a transport counts
// and ships; Decode, DecodeInto and AddInto turn them back into float32
// vectors.
//
// Schemes:
//
//   - Dense: float32 values (the baseline).
//   - QSGD: stochastic s-level quantisation with a norm per bucket, fixed-width
//     or Elias-gamma level coding (Alistarh et al. 2017). Unbiased.
//   - SignSGD / EFSign / Vote: one bit per coordinate; plain signs for
//     majority vote (Bernstein et al. 2018, 2019), or the scaled sign with
//     error feedback (Karimireddy et al. 2019).
//   - TopK / DGC: top-k sparsification with error feedback, and Deep Gradient
//     Compression's momentum correction and factor masking (Lin et al. 2018).
//
// Downlink: the server keeps the model the clients hold (their "view"),
// encodes server - view each round and adds the decoded message to the view,
// exactly as clients do with AddInto; compression error then never
// accumulates (TestDownlinkTracksServerModel). Clients that miss rounds need
// a Dense resync.
//
// Any scheme can be followed by lossless zstd (Lossless: true), which pays off
// on sparse indices and low QSGD levels.
//
// Wire format: byte 0 is 0xED; byte 1 is the scheme in the low six bits and
// 0x80 when the body is zstd-coded; a uvarint gives the dimension; the body
// follows. Dense: float32 LE values. QSGD: uvarint s, a coding byte (0 fixed
// width, 1 Elias gamma), uvarint bucket size, one float32 norm per bucket, then
// the level bit stream (MSB first, zero-padded). Sign: float32 scale, then one
// bit per coordinate (1 = negative, MSB first, zero-padded). Sparse: uvarint k,
// k uvarint gaps (index - previous index - 1), k float32 values.
//
// Decoding is strict: the receiver states the dimension it expects and
// allocates for that (never for what a message claims); zstd output is capped
// by the largest well-formed body for that dimension; wrong lengths, trailing
// bytes, non-finite values, levels above s, unsorted or out-of-range indices
// and set padding bits are errors wrapping ErrCorrupt (ErrDim for a dimension
// mismatch). Malformed input never panics; the decoders are fuzzed.
//
// Encoders are not safe for concurrent use (the stateful ones hold residuals);
// the decoding functions are.
package codec
