// Package dp provides differential privacy for federated learning: client-
// level DP-FedAvg (FedAvg, an aggregator), the clipping-and-noise building
// block of DP-SGD (GaussianSum), and a Rényi-DP accountant for the sampled
// Gaussian mechanism (Accountant).
//
// A DP-FedAvg round: sample clients with federated.PoissonSample at rate q;
// each client trains and sends its delta; the server aggregates with FedAvg
// (clip to Clip, sum, add N(0, (NoiseMultiplier·Clip)²), divide by the expected
// number of clients) and calls Accountant.Compose(q, NoiseMultiplier, 1). The
// privacy spent so far is Accountant.Epsilon(δ, ConversionImproved).
//
// A DP-SGD step: per-example gradients go through GaussianSum.NoisyMean; the
// accountant composes q = lot size / N for each step.
//
// The accountant follows Mironov, Talwar and Zhang (2019) exactly as TF
// Privacy's rdp_accountant does (integer and fractional orders), and offers
// both RDP→(ε, δ) conversions: ConversionImproved (Balle et al. 2020; what
// Opacus and current TF Privacy report) and ConversionClassic (Mironov 2017;
// older TF Privacy, the published MNIST-tutorial figures). The tests pin the
// published figures of TF Privacy, Opacus and Abadi et al., and fractional-
// order values against 50-digit numerical integration.
//
// Everything here is pure: randomness comes from a *rand.Rand the caller
// supplies (seed it from crypto/rand in deployment), and nothing does I/O.
package dp
