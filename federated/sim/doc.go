// Package sim drives federated-learning rounds in logical time, for
// simulations and as the pure core of a real coordinator.
//
// Sync is the synchronous round driver as a state machine (Start → Deliver…
// → Ready/Close): it selects a fraction C of the population (seeded), accepts
// updates that arrive before the round's deadline, optionally closes early
// once Target updates are in (over-selection), tolerates dropouts and
// stragglers, and aggregates through a federated.Server. A real coordinator
// calls the same methods from its transport; RunSync simulates the transport
// with a LatencyFunc (Heterogeneous: lasting per-device speeds, per-job
// jitter, dropouts) and a TrainFunc.
//
// RunAsync is a discrete-event simulation of asynchronous FL (FedAsync,
// FedBuff): a fixed number of clients train concurrently; completions are
// processed in order of simulated time, so fast clients contribute often and
// slow ones arrive stale.
//
// TrainFunc is where the trainer plugs in: it gets the client, the round or
// model version, the global model and a seeded *rand.Rand, and returns the
// federated.Update. Everything is deterministic in the configured seed:
// clients' random streams depend on (seed, round or job, client) only.
package sim
