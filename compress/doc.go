// Package compress makes ONNX models smaller and faster for the edge, and
// measures what that costs. Its subpackages transform models; this package
// holds the data they are calibrated and judged on and the reports.
//
//	compress/quantize  static int8 QDQ (calibrated: min-max, percentile,
//	                   entropy, MSE; per-layer sensitivity and mixed
//	                   precision), dynamic int8 MatMul/Gemm, float16 weights
//	compress/prune     magnitude pruning (per layer or global), L1 filter
//	                   pruning that rewrites layers to fewer channels,
//	                   sparse-initializer ONNX files
//	compress/codebook  Deep Compression: k-means weight sharing, entropy-coded
//	                   indices and pruning masks, a versioned container
//	compress/entropy   canonical Huffman and rANS coders
//	compress/deepcomp  the Deep Compression pipeline with retraining (package
//	                   train): iterative pruning with masked fine-tuning,
//	                   weight sharing with centroid fine-tuning, the coded
//	                   container; also fine-tuning of channel-pruned models
//	compress/pareto    the Pareto front of variants and its plot
//
// Every transformation takes a *graph.Model and returns a new one (the
// caller's model and its tensors are never modified), validated, that the
// runtime compiles like any other and onnx.Save writes as a standard ONNX
// file (codebook containers excepted).
//
// # Data
//
// A Batch is one batch of model inputs in graph order, with labels when
// known. MNIST and RandomNormal build batch lists; CheckBatches rejects
// empty lists and inputs of the wrong count, type or shape with errors
// naming the batch and the input.
//
// # A typical loop
//
//	m, _ := onnx.Load("mnist_cnn/model.onnx")
//	calib, _ := compress.MNIST(train, 0, 1000, 250) // calibration: training images
//	test, _ := compress.MNIST(testSet, 0, 10000, 1000)
//	q, _ := quantize.Static(m, calib, quantize.Options{Method: quantize.Percentile})
//	onnx.Save("mnist_cnn_int8.onnx", q)
//	var rs []compress.Report
//	for _, v := range []struct{ name string; m *graph.Model }{{"fp32", m}, {"int8", q}} {
//		r, _ := compress.Measure(v.name, v.m, test, compress.MeasureOptions{LatencyInputs: one})
//		rs = append(rs, r)
//	}
//	compress.WriteReports(os.Stdout, rs)           // size, ratio, accuracy, latency
//	les, _ := compress.LayerErrors(m, q, calib[:1], 0) // where the error comes from
//	pareto.PlotFile("pareto.png", "mnist_cnn", rs)
//
// With the build tag "ort", ORTAccuracy and ORTLatency run a saved model
// with ONNX Runtime for comparison.
//
// # Memory
//
// Calibration and the measurements run the model batch by batch and keep
// only per-tensor statistics (a 2048-bin histogram at most); LayerErrors
// keeps one batch's activations of the reference model at a time. Pruning
// and quantisation copy only the tensors they change.
package compress
