// Package gossip holds the pure parts of decentralised learning: peer graphs
// (ring, torus, random regular, complete), Metropolis–Hastings mixing
// weights, and the D-PSGD step of Lian et al. (NeurIPS 2017).
//
// There is no server. Each node keeps its own model; in every round it
// computes a gradient at its model, receives its neighbours' models, and sets
//
//	x_i ← Σ_j W_ij x_j - lr * g_i
//
// With a symmetric doubly-stochastic W (MetropolisHastings) the nodes'
// average follows plain SGD on the average gradient and the nodes' models
// contract towards it at a rate given by W's second eigenvalue
// (Mixing.SecondEigenvalue): a ring of n nodes mixes in O(n²) rounds, a torus
// in O(n), a random regular graph or a complete graph in O(1).
//
// Nothing here does I/O or keeps time: a node's driver ships models to the
// nodes in Graph.Neighbors(i) and calls Mixing.MixNode with what arrived;
// simulations call DPSGDStep on all models at once.
package gossip
