// Package simulate runs federated learning in one process, with the
// coordinator and client code of package flnet talking over an in-process
// transport (flnet.LocalConn: no sockets, the same authentication,
// validation and refusals, and the protobuf size of every message counted
// as its bytes), in simulated time.
//
//	recs, err := simulate.Run(ctx, simulate.Config{
//		Model: arch.MNIST2NN(1), Train: train, Test: test,
//		Clients: 100, Fraction: 0.1, LocalEpochs: 1, Batch: 10, Rounds: 50,
//		Partition: "noniid", Algorithm: "fedavg", Compress: "topk:0.01",
//	}, func(r simulate.Record) error { fmt.Println(r.Round, *r.Accuracy); return nil })
//
// # What is simulated
//
// Synchronous rounds: the coordinator selects clients; each selected
// client is materialised — its shard's indices and a train.Program
// borrowed from a pool of Config.Workers programs — downloads the model,
// and, unless it drops out (probability Dropout) or would miss the round's
// Deadline, trains and submits; updates are delivered in order of their
// simulated arrival, E·n_k/SamplesPerSecond seconds divided by the
// client's lasting speed (log-normal with SpeedSpread, sim.Heterogeneous;
// a SlowFraction of the clients SlowFactor times slower still,
// sim.Stragglers) with 10% jitter. The round closes when the last answering client has
// answered, or at the deadline. With SecAgg the round runs the
// coordinator's secure aggregation (flnet.SecureTask over the same
// transport): every selected client advertises and shares keys at the
// round's start, the in-time ones send masked updates at their arrival
// times, the dropped and late ones never do and are unmasked by the
// survivors, and the coordinator receives only the sum.
//
// Asynchronous (FedAsync, FedBuff): a discrete-event simulation where
// ⌈C·N⌉ clients train at once, each on the model current when it started;
// completions arrive in simulated time, so fast clients contribute often
// and slow ones stale. A record covers as many updates as a synchronous
// round would.
//
// Gossip: D-PSGD over a ring or torus of the N clients, no coordinator;
// each peer trains locally from its own model, then averages with its
// neighbours (Metropolis–Hastings weights) and adds its own step. The
// record reports the peers' average model and how far apart they are.
//
// Poisoning: Attackers clients send sign-flipped or scaled updates (a
// test of robust aggregation: Krum, median, trimmed mean).
//
// # Records
//
// Run returns, and passes to its callback as they complete, one Record
// per round: test accuracy and loss of the global model, the bytes each
// way (this round and in total), wall-clock and simulated time, ε under
// DP, and the round's selected/arrived/late/dropped/refused counts. Plot
// draws accuracy against rounds and against uplink bytes.
//
// # Memory and determinism
//
// Never N programs: at most Workers programs exist, and a client is its
// index list plus, for the top-k and sign codecs, an error-feedback
// residual (model-sized; at most ResidualClients are kept, least recently
// used forgotten). Gossip keeps the N peers' parameter vectors, which is
// the algorithm's state. A run depends only on its Config (and Seed):
// selection, partition, speeds, dropouts, shuffling and quantisation noise
// are all seeded, and updates are delivered in simulated-time order
// whatever the number of workers.
package simulate
