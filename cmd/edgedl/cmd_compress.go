package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/codebook"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/compress/quantize"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/tensorio"
)

// setupCompress shrinks a model: quantisation, pruning, weight sharing.
// Steps run in the order prune -> share/quantize.
func setupCompress(e *env, fs *flag.FlagSet) func([]string) error {
	quant := fs.String("quantize", "", "`mode`: int8 (static, QDQ), int8-dynamic, or fp16")
	calib := fs.String("calibration", "random", "calibration `data` for int8: mnist, random (N(0,1) inputs), or a .pb/.npy file of samples")
	method := fs.String("calibration-method", "minmax", "`method`: minmax, percentile, entropy or mse")
	samples := fs.Int("calibration-samples", 256, "number of calibration `samples`")
	keepFloat := fs.Int("keep-float", 0, "keep the `N` most sensitive layers in float (mixed precision)")
	sparsity := fs.Float64("prune", 0, "unstructured magnitude pruning to this `sparsity` in [0,1)")
	channels := fs.Float64("prune-channels", 0, "remove this `fraction` of each Conv's filters (L1 norm), shrinking the graph")
	share := fs.Int("share-weights", 0, "k-means weight sharing with 2^`BITS` centroids per layer; writes the coded container")
	out := fs.String("out", "", "output `file` (.onnx, or the coded container with --share-weights)")
	eval := fs.Bool("eval-mnist", false, "report accuracy on the 10,000 MNIST test images before and after")
	return func(args []string) error {
		if *out == "" {
			return usagef("--out is required")
		}
		if *quant == "" && *sparsity == 0 && *channels == 0 && *share == 0 {
			return usagef("nothing to do: give --quantize, --prune, --prune-channels or --share-weights")
		}
		if *sparsity < 0 || *sparsity >= 1 || *channels < 0 || *channels >= 1 {
			return usagef("--prune and --prune-channels take a fraction in [0, 1)")
		}
		path := args[0]
		m, err := onnx.Load(path)
		if err != nil {
			return err
		}
		before, _ := compress.FileSize(path)
		var test []compress.Batch
		if *eval {
			dir, err := mnist.Dir()
			if err != nil {
				return err
			}
			set, err := mnist.Load(dir, "test")
			if err != nil {
				return err
			}
			if test, err = compress.MNIST(set, 0, set.Len(), 500); err != nil {
				return err
			}
		}
		report := func(label string, m *graph.Model) error {
			if !*eval {
				return nil
			}
			r, err := compress.Measure(label, m, test, compress.MeasureOptions{})
			if err != nil {
				return err
			}
			return compress.WriteReports(e.stdout, []compress.Report{r})
		}
		if err := report("original", m); err != nil {
			return err
		}
		if *channels > 0 {
			pm, rep, err := prune.Channels(m, prune.ChannelOptions{Ratio: *channels})
			if err != nil {
				return err
			}
			m = pm
			fmt.Fprintf(e.stdout, "channel pruning: %d layers pruned, %d skipped\n", len(rep.Layers), len(rep.Skipped))
		}
		if *sparsity > 0 {
			pm, _, err := prune.Magnitude(m, prune.MagnitudeOptions{Sparsity: *sparsity})
			if err != nil {
				return err
			}
			m = pm
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
		if *share > 0 {
			if *quant != "" {
				return usagef("--share-weights codes float weights; do not combine it with --quantize")
			}
			rep, err := codebook.Save(*out, m, codebook.Options{Bits: *share})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s: %d tensors coded\n", *out, len(rep.Tensors))
		} else if err := onnx.Save(*out, m); err != nil {
			return err
		}
		after, _ := compress.FileSize(*out)
		fmt.Fprintf(e.stdout, "%s: %s -> %s: %s (%.2fx smaller)\n", path, compress.HumanBytes(before), *out,
			compress.HumanBytes(after), float64(before)/float64(max(after, 1)))
		if *share == 0 {
			return report("compressed", m)
		}
		return nil
	}
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
