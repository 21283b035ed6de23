// Package deepcomp is Deep Compression (Han, Mao and Dally, ICLR 2016) on
// ONNX models, with retraining by package train:
//
//  1. iterative magnitude pruning: Steps rounds, each pruning (package
//     compress/prune) to a higher sparsity and retraining with the pruned
//     weights held at zero (MaskedOptimizer: their gradients are cleared
//     before each optimiser step and the weights reset to zero after it);
//  2. weight sharing: k-means per layer with linear initialisation
//     (package compress/codebook; 2^Bits centroids for fully connected
//     layers, 2^ConvBits for Conv kernels), then centroid fine-tuning
//     (SharedOptimizer: a centroid's gradient is the sum of the gradients
//     of the weights that share it);
//  3. Huffman coding of the indices and of the relative index gaps of the
//     non-zero weights (the paper's CSR with relative indices; gaps of 255
//     or more use filler symbols), written as a codebook container that
//     also holds the codebooks, the small tensors (biases) and the graph.
//
// Compress runs the three stages and decodes the container it wrote,
// checking that every shared weight comes back bit for bit, so the
// reported size (len(Result.Container): everything stored) and the
// decoded Result.Model the engine runs belong together. Retrain is stage
// 1's retraining alone (also for channel-pruned models, with no masks).
//
//	res, err := deepcomp.Compress(ctx, m, trainSet, deepcomp.Config{
//		Sparsity: 0.92, Steps: 3, Scope: prune.Global, Bits: 5, ConvBits: 8,
//		Tune: deepcomp.FineTune{Epochs: 2, LR: 0.01, Momentum: 0.9, Eval: testSet},
//	})
//	os.WriteFile("lenet.edldc", res.Container, 0o644)
//	// codebook.Load("lenet.edldc") gives res.Model back
//
// # Memory
//
// Each stage's model is kept in Result.Stages (the caller may drop them);
// retraining holds one train.Program (parameters, gradients, optimiser
// state and one batch's activations) at a time.
package deepcomp
