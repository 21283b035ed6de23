// Package federated holds the algorithms of federated learning as pure
// state machines over flat parameter vectors ([]float32, in the order the
// trainer flattens the model): client selection, update validation,
// aggregation rules, server optimizers, and the asynchronous strategies. Like
// etcd's raft core, nothing here does I/O, starts goroutines or reads a
// clock: methods take messages (Updates) and return state (the new model, a
// report); a coordinator ships models and updates over the network and
// decides when a round ends.
//
// One synchronous round:
//
//	srv := &federated.Server{Aggregator: federated.FedAvg{}, Validator: federated.NewValidator(dim, population)}
//	clients := federated.SelectClients(population, 0.1, 10, seed, srv.Round)
//	// … send global to clients; each trains and replies with an Update{Round: srv.Round, Kind: KindDelta, …}
//	report, err := srv.Step(global, updates) // validates, aggregates, moves global in place, advances srv.Round
//
// Strategies are combinations: FedAvg is Server{Aggregator: FedAvg{}}; FedProx
// is the same server with clients adding Prox.AddGradient to their
// gradients; FedAdam, FedYogi and FedAdagrad (Reddi et al. 2021) put an
// Adaptive server optimizer after the aggregator; robust aggregation swaps
// in Median, TrimmedMean or Krum (Multi-Krum with M > 1). FedAsync (Xie et
// al. 2019) and FedBuff (Nguyen et al. 2022) take updates one at a time,
// discounting stale ones by a Staleness function.
//
// Validation refuses, with a typed *RejectError (errors.Is against ErrLength,
// ErrNonFinite, ErrNorm, ErrReplay, ErrStale, ErrFuture, ErrUnknownClient,
// …) and a count per reason: wrong lengths, NaN/Inf, norms above an absolute
// bound or a multiple of the round's median norm, replayed or stale rounds,
// and unknown clients.
//
// Subpackages: codec (update compression: QSGD, signSGD/EF-sign, top-k with
// error feedback, DGC, zstd), dp (DP-FedAvg, DP-SGD clipping and noise, an
// RDP accountant), secagg (Bonawitz et al. secure aggregation), gossip
// (decentralised D-PSGD) and sim (round drivers and simulations).
//
// Memory: Step allocates one model-sized delta per round (FedAvg and Mean a
// float64 accumulator as well, Krum an n×n distance table, Validator a new
// slice for each KindWeights update it converts). Nothing retains the
// caller's slices; Adaptive and FedBuff keep their own model-sized state.
// Global models are updated in place.
package federated
