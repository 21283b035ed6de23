package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/deepcomp"
	"github.com/edgedl/edgedl/compress/distill"
	"github.com/edgedl/edgedl/compress/pareto"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/compress/qat"
	"github.com/edgedl/edgedl/compress/quantize"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/tensorio"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

func init() {
	commandHelp["compress"] = `
Steps run in this order: knowledge distillation (--distill-from), channel
pruning (--prune-channels), unstructured
magnitude pruning (--prune, in --prune-steps rounds), then weight sharing
(--share-weights: k-means codebooks, Huffman-coded indices and index gaps,
written as a codebook container) or quantisation (--quantize).

--finetune-epochs N retrains on the 60,000 MNIST training images after
every pruning step and after weight sharing (SGD, --lr, --momentum,
--batch, --weight-decay): pruned weights are held at zero by a mask,
shared weights keep their codebook and only the centroids move (the
gradient of a centroid is the sum over the weights sharing it). The
pipeline with --prune, --prune-steps, --share-weights and --finetune-epochs
is Han et al.'s Deep Compression; --deep-compression presets it (92%
global pruning in 3 steps, 5-bit fc and 8-bit conv codebooks).

--distill-from TEACHER.onnx trains MODEL (an .onnx file, or a built-in
architecture such as mnist-2nn, created untrained) for --finetune-epochs
on MNIST against the teacher's soft targets (Hinton et al.: alpha * T^2 *
KL at temperature --temperature, plus (1 - alpha) * cross-entropy on the
labels). --qat with --quantize int8 fine-tunes with fake quantisers
(straight-through estimator) placed where the int8 model quantises, then
exports the same QDQ format as post-training quantisation.

With --eval-mnist, --finetune-epochs or --plot, every variant is measured:
size (ONNX file; sparse ONNX for unstructured-pruned variants; the
container for shared ones, which counts everything stored), accuracy on
the 10,000 MNIST test images, and median batch-1 latency over --runs runs
(as 'edgedl bench'). --plot writes the Pareto plot of accuracy against
size and latency. Coded containers are read back with codebook.Load; the
accuracy shown for them is that of the decoded model.`
}

// setupCompress shrinks a model: quantisation, pruning, weight sharing,
// with optional fine-tuning on MNIST.
func setupCompress(e *env, fs *flag.FlagSet) func([]string) error {
	quant := fs.String("quantize", "", "`mode`: int8 (static, QDQ), int8-dynamic, or fp16")
	calib := fs.String("calibration", "random", "calibration `data` for int8: mnist, random (N(0,1) inputs), or a .pb/.npy file of samples")
	method := fs.String("calibration-method", "minmax", "`method`: minmax, percentile, entropy or mse")
	samples := fs.Int("calibration-samples", 256, "number of calibration `samples`")
	keepFloat := fs.Int("keep-float", 0, "keep the `N` most sensitive layers in float (mixed precision)")
	sparsity := fs.Float64("prune", 0, "unstructured magnitude pruning to this `sparsity` in [0,1)")
	pruneSteps := fs.Int("prune-steps", 1, "reach --prune in `K` rounds of pruning (and fine-tuning)")
	pruneGlobal := fs.Bool("prune-global", false, "rank weights over all layers together (default: every layer to --prune)")
	channels := fs.Float64("prune-channels", 0, "remove this `fraction` of each Conv's filters (L1 norm), shrinking the graph")
	share := fs.Int("share-weights", 0, "k-means weight sharing with 2^`BITS` centroids per layer; writes the coded container")
	convBits := fs.Int("share-conv-bits", 0, "index `BITS` for Conv kernels (default: --share-weights)")
	deep := fs.Bool("deep-compression", false, "Han et al.'s preset: --prune 0.92 --prune-steps 3 --prune-global --share-weights 5 --share-conv-bits 8 (flags given override it)")
	finetune := fs.Int("finetune-epochs", 0, "retrain on MNIST for `N` epochs after each pruning step and after weight sharing")
	shareEpochs := fs.Int("share-epochs", 0, "centroid fine-tuning `epochs` after weight sharing (default --finetune-epochs; -1: none)")
	lr := fs.Float64("lr", 0.01, "fine-tuning learning `rate` (SGD)")
	shareLR := fs.Float64("share-lr", 0, "centroid fine-tuning learning `rate` (default --lr)")
	momentum := fs.Float64("momentum", 0.9, "fine-tuning SGD `momentum`")
	weightDecay := fs.Float64("weight-decay", 0, "fine-tuning L2 weight `decay`")
	batch := fs.Int("batch", 64, "fine-tuning minibatch `size`")
	trainLimit := fs.Int("train-limit", 0, "fine-tune on a random subset of `N` training images (0: all 60,000)")
	seed := fs.Uint64("seed", 1, "fine-tuning `seed` (shuffling)")
	threads := fs.Int("threads", 0, "`threads` for fine-tuning and latency (default: one per CPU)")
	runs := fs.Int("runs", 100, "timed batch-1 `runs` per variant for the latency median")
	plot := fs.String("plot", "", "write a Pareto plot (accuracy vs size and latency) of the variants to `FILE.png`")
	out := fs.String("out", "", "output `file` (.onnx, or the coded container with --share-weights)")
	teacherPath := fs.String("distill-from", "", "train MODEL (an .onnx file or a built-in architecture such as mnist-2nn) as a student of `TEACHER.onnx` on MNIST for --finetune-epochs (knowledge distillation, before the other steps)")
	temperature := fs.Float64("temperature", 4, "distillation `T`: softmax temperature of the soft targets")
	alpha := fs.Float64("alpha", 0.9, "distillation weight of the soft-target term in (0, 1] (the rest: cross-entropy on labels)")
	useQAT := fs.Bool("qat", false, "with --quantize int8: quantisation-aware training (fake-quant, straight-through estimator) for --finetune-epochs on MNIST before export (try --lr 0.001)")
	eval := fs.Bool("eval-mnist", false, "report accuracy on the 10,000 MNIST test images before and after")
	return func(args []string) error {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if *deep {
			if !set["prune"] {
				*sparsity = 0.92
			}
			if !set["prune-steps"] {
				*pruneSteps = 3
			}
			if !set["prune-global"] {
				*pruneGlobal = true
			}
			if !set["share-weights"] {
				*share = 5
			}
			if !set["share-conv-bits"] {
				*convBits = 8
			}
		}
		if *out == "" {
			return usagef("--out is required")
		}
		if *quant == "" && *sparsity == 0 && *channels == 0 && *share == 0 && *teacherPath == "" {
			return usagef("nothing to do: give --quantize, --prune, --prune-channels, --share-weights, --deep-compression or --distill-from")
		}
		if (*teacherPath != "" || *useQAT) && *finetune == 0 {
			return usagef("--distill-from and --qat train: give --finetune-epochs N")
		}
		if *useQAT && *quant != "int8" {
			return usagef("--qat needs --quantize int8")
		}
		if *teacherPath != "" && !(*temperature > 0 && *alpha > 0 && *alpha <= 1) {
			return usagef("--temperature must be positive and --alpha in (0, 1]")
		}
		if !(*sparsity >= 0 && *sparsity < 1 && *channels >= 0 && *channels < 1) {
			return usagef("--prune and --prune-channels take a fraction in [0, 1)")
		}
		if *pruneSteps < 1 || *pruneSteps > 100 {
			return usagef("--prune-steps must be in 1..100")
		}
		if *share < 0 || *share > 8 || *convBits < 0 || *convBits > 8 {
			return usagef("--share-weights and --share-conv-bits take 1..8 bits")
		}
		if *finetune < 0 || *batch <= 0 || !(*lr > 0) || *momentum < 0 || *momentum >= 1 || *weightDecay < 0 || *runs <= 0 || *trainLimit < 0 || *shareLR < 0 {
			return usagef("--finetune-epochs must not be negative; --batch, --lr and --runs positive; --momentum in [0, 1)")
		}
		if *share > 0 && *quant != "" {
			return usagef("--share-weights codes float weights; do not combine it with --quantize")
		}
		path := args[0]
		var m *graph.Model
		var before int64
		var err error
		origLabel := "original"
		if _, statErr := os.Stat(path); statErr != nil && *teacherPath != "" {
			// A student not yet trained: a built-in architecture.
			if m, err = buildModel(path, nil, *seed); err != nil {
				return err
			}
			origLabel = "untrained student"
			if b, err := onnx.Encode(m); err == nil {
				before = int64(len(b))
			}
		} else {
			if m, err = onnx.Load(path); err != nil {
				return err
			}
			if before, err = compress.FileSize(path); err != nil {
				return err
			}
		}
		orig := m
		measure := *eval || *finetune > 0 || *plot != ""
		var test []compress.Batch
		var latIn []*tensor.Tensor
		var trainSet, testSet data.Dataset
		if measure {
			dir, err := mnist.Dir()
			if err != nil {
				return err
			}
			ts, err := mnist.Load(dir, "test")
			if err != nil {
				return err
			}
			if test, err = compress.MNIST(ts, 0, ts.Len(), 500); err != nil {
				return err
			}
			latIn = []*tensor.Tensor{ts.Batch(0, 1)}
			if *finetune > 0 {
				tr, err := data.MNIST(dir, "train")
				if err != nil {
					return err
				}
				trainSet = tr
				if *trainLimit > 0 && *trainLimit < tr.Len() {
					trainSet = &data.Subset{Data: tr, Indices: data.Permutation(tr.Len(), *seed, 0x5b)[:*trainLimit]}
				}
				if testSet, err = data.MNIST(dir, "test"); err != nil {
					return err
				}
			}
		}
		var reports []compress.Report
		report := func(label string, m *graph.Model, bytes int64) error {
			if !measure {
				return nil
			}
			r, err := compress.Measure(label, m, test, compress.MeasureOptions{Threads: *threads, LatencyInputs: latIn,
				LatencyRuns: *runs, Bytes: bytes})
			if err != nil {
				return err
			}
			reports = append(reports, r)
			fmt.Fprintf(e.stdout, "  %-34s %10s  accuracy %.2f%%  latency %s\n", label, compress.HumanBytes(r.Bytes),
				100*r.Accuracy, r.Latency.Round(1000))
			return nil
		}
		sparseSize := func(m *graph.Model) (int64, error) {
			b, _, err := prune.EncodeSparse(m, 2.0/3)
			return int64(len(b)), err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		tune := deepcomp.FineTune{Epochs: *finetune, Batch: *batch, LR: *lr, Momentum: *momentum,
			WeightDecay: *weightDecay, Seed: *seed, Threads: *threads, Eval: testSet,
			Epoch: func(stage string, em train.EpochMetrics) {
				fmt.Fprintf(e.stdout, "    %s: epoch %d  loss %.4f  train %.2f%%  test %.2f%%  %.1fs\n", stage,
					em.Epoch+1, em.TrainLoss, 100*em.TrainAcc, 100*em.EvalAcc, em.Duration.Seconds())
			}}
		if err := report(origLabel, m, before); err != nil {
			return err
		}
		if *teacherPath != "" {
			teacher, err := onnx.Load(*teacherPath)
			if err != nil {
				return err
			}
			if err := report("teacher "+filepath.Base(*teacherPath), teacher, fileSizeOr(*teacherPath)); err != nil {
				return err
			}
			cfg := distill.Config{Temperature: *temperature, Alpha: *alpha, Threads: *threads,
				Train: train.Config{Epochs: *finetune, Batch: *batch, LR: *lr, Seed: *seed, Eval: testSet,
					Optimizer: &train.SGD{Momentum: *momentum, WeightDecay: *weightDecay}}}
			fmt.Fprintf(e.stdout, "distilling from %s (T=%g, alpha=%g), %d epochs\n", *teacherPath, *temperature, *alpha, *finetune)
			dm, _, err := distill.FromONNX(ctx, m, teacher, trainSet, cfg, epochPrinter(e, "distill"))
			if err != nil {
				return err
			}
			m = dm
			if err := report(fmt.Sprintf("distilled +%d ep", *finetune), m, 0); err != nil {
				return err
			}
		}
		if *channels > 0 {
			pm, rep, err := prune.Channels(m, prune.ChannelOptions{Ratio: *channels})
			if err != nil {
				return err
			}
			m = pm
			fmt.Fprintf(e.stdout, "channel pruning: %d layers pruned, %d skipped\n", len(rep.Layers), len(rep.Skipped))
			label := fmt.Sprintf("channels -%.0f%%", 100**channels)
			if err := report(label, m, 0); err != nil {
				return err
			}
			if *finetune > 0 {
				if m, _, err = deepcomp.Retrain(ctx, m, trainSet, tune, nil, label+" fine-tune"); err != nil {
					return err
				}
				if err := report(fmt.Sprintf("%s +%d ep", label, *finetune), m, 0); err != nil {
					return err
				}
			}
		}
		scope := prune.PerLayer
		if *pruneGlobal {
			scope = prune.Global
		}
		var stageErr error
		cfg := deepcomp.Config{Sparsity: *sparsity, Steps: *pruneSteps, Scope: scope, Bits: *share, ConvBits: *convBits,
			Tune: tune, ShareEpochs: *shareEpochs, ShareLR: *shareLR}
		if *sparsity > 0 {
			cfg.Stage = func(s deepcomp.Stage) {
				if stageErr != nil {
					return
				}
				n, err := sparseSize(s.Model)
				if err != nil {
					stageErr = err
					return
				}
				stageErr = report(s.Name, s.Model, n)
			}
			if *pruneSteps > 1 && *finetune == 0 {
				fmt.Fprintln(e.stdout, "note: --prune-steps without --finetune-epochs prunes in one go (nothing retrains between steps)")
			}
			pm, _, err := deepcomp.Prune(ctx, m, trainSet, cfg)
			if err != nil {
				return err
			}
			if stageErr != nil {
				return stageErr
			}
			m = pm
			t := prune.Total(prune.Sparsity(m))
			fmt.Fprintf(e.stdout, "magnitude pruning: %s of %s weights are zero (%.1f%%)\n", commas(int64(t.Zeros)),
				commas(int64(t.Elements)), 100*t.Sparsity())
		}
		switch *quant {
		case "":
		case "int8":
			data, err := calibrationData(m, *calib, *samples)
			if err != nil {
				return err
			}
			meth, err := quantize.ParseMethod(*method)
			if err != nil {
				return usagef("%v", err)
			}
			if *useQAT {
				fmt.Fprintf(e.stdout, "quantisation-aware training, %d epochs\n", *finetune)
				cfg := train.Config{Epochs: *finetune, Batch: *batch, LR: *lr, Seed: *seed, Eval: testSet,
					Optimizer: &train.SGD{Momentum: *momentum, WeightDecay: *weightDecay}}
				qm, _, err := qat.FineTune(ctx, m, data, trainSet, cfg, epochPrinter(e, "qat"),
					qat.Options{Method: meth, Threads: *threads, Logger: e.log}, *threads)
				if err != nil {
					return err
				}
				m = qm
				break
			}
			qm, err := quantize.Static(m, data, quantize.Options{Method: meth, KeepFloat: *keepFloat, Logger: e.log})
			if err != nil {
				return err
			}
			m = qm
		case "int8-dynamic":
			qm, err := quantize.Dynamic(m, quantize.DynamicOptions{Logger: e.log})
			if err != nil {
				return err
			}
			m = qm
		case "fp16":
			qm, err := quantize.Float16(m, quantize.Float16Options{Logger: e.log})
			if err != nil {
				return err
			}
			m = qm
		default:
			return usagef("--quantize %q: want int8, int8-dynamic or fp16", *quant)
		}
		final := "compressed"
		if *share > 0 {
			cfg.Stage = nil
			res, err := deepcomp.Share(ctx, m, trainSet, cfg)
			if err != nil {
				return err
			}
			// The shared model before centroid fine-tuning is measured
			// at the container's size (the same codebooks, indices and
			// gaps; only the centroid values differ).
			if len(res.Stages) > 1 {
				if err := report(res.Stages[0].Name, res.Stages[0].Model, int64(res.Report.Bytes)); err != nil {
					return err
				}
			}
			if err := os.WriteFile(*out, res.Container, 0o644); err != nil {
				return err
			}
			m = res.Model
			var idx, mask, cb int
			for _, t := range res.Report.Tensors {
				idx += t.IndexBytes
				mask += t.MaskBytes
				cb += t.CodebookBytes
			}
			fmt.Fprintf(e.stdout, "wrote %s: %d tensors coded; %s = indices %s + index gaps %s + codebooks %s + skeleton (graph, biases) %s + headers\n",
				*out, len(res.Report.Tensors), commas(int64(res.Report.Bytes)), commas(int64(idx)), commas(int64(mask)),
				commas(int64(cb)), commas(int64(res.Report.SkeletonBytes)))
			fmt.Fprintf(e.stdout, "float32 weights and biases of %s: %s bytes; the container is %.1fx smaller\n", path,
				commas(deepcomp.FloatBytes(orig)), float64(deepcomp.FloatBytes(orig))/float64(max(res.Report.Bytes, 1)))
			final = res.Stages[len(res.Stages)-1].Name + " (container)"
		} else if err := onnx.Save(*out, m); err != nil {
			return err
		}
		after, err := compress.FileSize(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: %s -> %s: %s (%.2fx smaller)\n", path, compress.HumanBytes(before), *out,
			compress.HumanBytes(after), float64(before)/float64(max(after, 1)))
		if !measure {
			return nil
		}
		if *share > 0 || *quant != "" {
			if err := report(final, m, after); err != nil {
				return err
			}
		}
		fmt.Fprintln(e.stdout)
		if err := compress.WriteReports(e.stdout, reports); err != nil {
			return err
		}
		if *plot != "" {
			if err := pareto.PlotFile(*plot, modelTitle(path), reports); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s\n", *plot)
		}
		return nil
	}
}

// epochPrinter prints one line per training epoch of a compression stage.
func epochPrinter(e *env, stage string) train.Callbacks {
	return train.Callbacks{Epoch: func(em train.EpochMetrics) error {
		fmt.Fprintf(e.stdout, "    %s: epoch %d  loss %.4f  train %.2f%%  test %.2f%%  %.1fs\n", stage,
			em.Epoch+1, em.TrainLoss, 100*em.TrainAcc, 100*em.EvalAcc, em.Duration.Seconds())
		return nil
	}}
}

// fileSizeOr is the size of a file, or 0 when it cannot be read.
func fileSizeOr(path string) int64 {
	n, err := compress.FileSize(path)
	if err != nil {
		return 0
	}
	return n
}

// modelTitle names a model file for a plot: its base name, or its
// folder's for the zoo layout DIR/model.onnx.
func modelTitle(p string) string {
	base := filepath.Base(p)
	if base == "model.onnx" {
		if d := filepath.Base(filepath.Dir(p)); d != "." && d != string(filepath.Separator) {
			return d
		}
	}
	return strings.TrimSuffix(base, ".onnx")
}

// calibrationData builds calibration batches for a model.
func calibrationData(m *graph.Model, source string, n int) ([]compress.Batch, error) {
	switch {
	case source == "random":
		return compress.RandomNormal(m, n, 1)
	case source == "mnist":
		dir, err := mnist.Dir()
		if err != nil {
			return nil, err
		}
		set, err := mnist.Load(dir, "train")
		if err != nil {
			return nil, err
		}
		return compress.MNIST(set, 0, min(n, set.Len()), 64)
	case strings.HasSuffix(source, ".pb") || strings.HasSuffix(source, ".npy"):
		var t *tensor.Tensor
		var err error
		if strings.HasSuffix(source, ".pb") {
			t, err = onnx.ReadTensor(source)
		} else {
			t, err = tensorio.LoadNPY(source)
		}
		if err != nil {
			return nil, err
		}
		b := []compress.Batch{{Inputs: []*tensor.Tensor{t}}}
		if err := compress.CheckBatches(m, b); err != nil {
			return nil, fmt.Errorf("calibration data %s: %w", source, err)
		}
		return b, nil
	}
	return nil, errors.New("--calibration: want mnist, random, or a .pb/.npy file")
}
