// Package random implements the ONNX random generators (RandomNormal,
// RandomUniform, their *Like variants, Bernoulli and Multinomial) and
// BitCast.
//
// A node with a seed draws from a fresh Mersenne Twister seeded like
// numpy.random.RandomState(seed) on every run, and transforms the stream
// exactly as the ONNX reference implementation does (rand, randn's polar
// method, binomial inversion), so seeded outputs reproduce the reference
// and are identical from run to run. A node without a seed seeds its
// generator from a process-wide source, so every run differs. All random
// kernels report themselves as nondeterministic, so they are never
// constant-folded.
package random
