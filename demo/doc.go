// Package demo is edgedl's default main job: split inference across a
// device, an edge node and a cloud node, all in this process on loopback,
// with no files or services needed.
//
// Run starts the two tier nodes (node.Server on 127.0.0.1, random ports),
// joins them with emulated links (package transport/link: device -> edge
// and edge -> cloud, plus the device's direct path to the cloud), and
// streams batches of the embedded MNIST digits through a
// node.AdaptiveDevice for Options.Duration. The tiers' speeds are emulated
// by slowdown factors on this machine's measured compute (the device 8x
// slower than the edge, the edge 2x slower than the cloud, the cloud at this
// machine's speed). During the run the device's uplink bandwidth changes
// (by default 100 -> 2 -> 50 Mbit/s), and the device re-plans from what its
// own requests and probes observe. Every second a line shows the true and
// estimated bandwidth, the split that ran, the per-tier times, the bytes
// sent and the measured latency against the planner's prediction for the
// running split, for everything on the device and for everything in the
// cloud. A summary follows: requests, accuracy on the embedded digits,
// p50/p99 latency and the plan switches.
//
//	res, err := demo.Run(os.Stdout, demo.Options{Duration: 24 * time.Second})
//
// RunEngine is the older engine-only report (`edgedl demo --local`): the
// embedded model in-process, accuracy, latency, throughput and the time
// per operator.
package demo
