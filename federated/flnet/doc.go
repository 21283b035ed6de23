// Package flnet runs federated learning over the network: a coordinator
// that serves the Federation gRPC service (package flpb) and clients that
// train on their own data and send compressed updates.
//
// # Roles
//
// Coordinator is the coordinator's logic as a state machine, in the manner
// of etcd's raft: every method takes the current time and a request and
// returns a reply; nothing reads a clock, sleeps or touches the network.
// It registers clients (binding each id to a hash of its bearer token),
// starts synchronous rounds by selecting a fraction C of the live clients
// (federated.SelectClients; Poisson sampling under DP), hands selected
// clients a task (the global model as a dense federated/codec message and a
// TrainConfig: local epochs E, batch B, learning rate, FedProx μ, uplink
// codec), validates each submitted update (federated.Validator), and closes
// the round when every selected client has answered, at its deadline, or
// when the clients still missing have stopped sending heartbeats. A round
// aggregates if at least MinUpdates updates arrived (federated.Server with
// FedAvg, FedProx, FedAdam/FedYogi/FedAdagrad, median, trimmed mean or
// Krum; dp.FedAvg with client-level DP, with ε from the RDP accountant),
// and is abandoned — model unchanged, round number used up — otherwise. In
// async mode (FedAsync, FedBuff) there are no rounds: clients pull the
// current model and push their update whenever they are ready, and stale
// updates are discounted by 1/sqrt(1+staleness).
//
// Service serves a Coordinator: it implements flpb.FederationServer,
// checks bearer tokens in constant time, serialises access, checkpoints
// after every closed round (async: model version) before answering
// anything else, counts bytes (Meter) and reports each round (OnRound).
// Run is its clock. LocalConn is an in-process transport with the same
// authentication and refusals (package simulate uses it); the gRPC client
// from Dial is the network one.
//
// Client is a participant: Register, then Next (a task), Train
// (TrainLocal on its Program and data, then the codec), Submit; Run loops
// over them until the coordinator says DONE, retrying while the
// coordinator is unreachable (a restart) and registering again if the
// coordinator forgot it.
//
// # A coordinator and a client
//
//	coord, _ := flnet.NewCoordinator(flnet.Config{Model: arch.MNIST2NN(1), Rounds: 50, Fraction: 0.1,
//		Strategy: flnet.Strategy{Name: "fedavg"}, RoundTimeout: time.Minute,
//		Train: flnet.TrainConfig{LocalEpochs: 1, Batch: 10, LR: 0.05, Compression: "qsgd:8"}})
//	svc := flnet.NewService(coord, flnet.ServiceConfig{Tokens: tokens, Checkpoint: "coord.ckpt", Meter: &flnet.Meter{}})
//	tlsConf, _ := flnet.ServerTLS("server.pem", "server-key.pem", "")
//	gs := grpc.NewServer(svc.ServerOptions(credentials.NewTLS(tlsConf))...)
//	flpb.RegisterFederationServer(gs, svc)
//	go gs.Serve(lis)
//	svc.Run(ctx, 50*time.Millisecond) // until the last round
//
//	// on a device
//	conf, _ := flnet.ClientTLS("ca.pem", "", "", "")
//	cc, _ := flnet.Dial("coordinator:7070", conf, token, nil)
//	c := &flnet.Client{Conn: flpb.NewFederationClient(cc), Name: "device-17", Data: shard}
//	err := c.Run(ctx)
//
// # Refusals
//
// Every refused request comes back as a gRPC status whose message names
// the client, the round and the reason, is counted by reason
// (Coordinator.Refusals) and logged: Unauthenticated for a missing or
// unknown token; PermissionDenied for an unknown client id (or an id
// registered under another token) and a client not selected for the
// round; FailedPrecondition for a replayed round (a second update, or one
// for a round the client already contributed to — remembered across
// restarts), a late update (its round closed) and a future round;
// InvalidArgument for a wrong parameter count, NaN or ±Inf values, an L2
// norm above MaxNorm (or, at aggregation, NormFactor times the round's
// median), an undecodable message, and a sample count above what the
// client registered (which would inflate its FedAvg weight).
//
// # Checkpoints
//
// SaveCheckpointFile writes the round, the global model, the server
// optimiser's moments, the registered clients (ids, names, token hashes,
// replay marks) and the privacy spent, atomically (temporary file, fsync,
// rename). A coordinator built with the same model and strategy and
// restored with LoadCheckpointFile continues from the last completed
// round; a round that was open at the crash runs again from its start, and
// clients reconnect by themselves (their pending update for the reopened
// round is accepted if they are selected again). FedBuff loses the updates
// buffered since its last model version.
//
// # Security
//
// Use TLS (ServerTLS, ClientTLS; with a client CA the coordinator also
// demands client certificates) and bearer tokens; Dial refuses to send a
// token over plaintext unless TLS is off on purpose (tests on loopback).
// GenerateCerts makes a throwaway CA, server and client certificate for
// tests.
//
// # Secure aggregation
//
// With Config.SecAgg a round's updates are summed by Bonawitz et al.'s
// protocol (federated/secagg) carried by the SecAgg call: selected clients
// advertise keys and share them (each step closes when all have answered or
// after SecAggKeyTimeout), train, send their masked fixed-point [w·Δ, w]
// (until the deadline), and the survivors reveal the shares that remove
// the masks, including those of clients that dropped after sharing keys.
// The coordinator learns Σ w·Δ and Σ w and applies their ratio (under DP:
// the noised sum over the expected client count); with at least the
// threshold (2n/3) of survivors the result equals FedAvg's to fixed-point
// rounding (TestNetworkSecAgg). Individual updates are never seen, so
// robust aggregation, norm checks and compression do not apply; a client's
// influence is bounded by the fixed-point clipping. SecureTask is the
// client's side as steps, for drivers that keep their own time.
//
// # Memory
//
// The coordinator holds the global model, one encoded copy of it per round
// (shared by every task), and the decoded deltas of the open round (one
// model-sized vector per arrived update; robust aggregators need them all).
// A client holds its Program, its data and, for top-k and sign codecs, an
// error-feedback residual of the model's size.
package flnet
