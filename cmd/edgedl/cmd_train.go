package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgedl/edgedl/federated/dp"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// dataSets is a loaded data set: training and test splits, and how the
// inputs were normalised (for the exported model's metadata).
type dataSets struct {
	name        string
	train, test data.Dataset
	classes     int
	norm        map[string]string
}

// loadData loads a data set by name: "mnist", "fashion-mnist", or an sktime
// .ts file (NAME_TRAIN.ts, with NAME_TEST.ts beside it for evaluation) or
// the folder holding both. limit and testLimit > 0 keep that many samples
// (a seeded random subset).
func loadData(name string, limit, testLimit int, seed uint64) (*dataSets, error) {
	var tr, te *data.InMemory
	ds := &dataSets{name: name}
	switch strings.ToLower(name) {
	case "":
		return nil, usagef("--dataset is required: mnist, fashion-mnist, or a .ts file")
	case "mnist":
		dir, err := data.MNISTDir()
		if err != nil {
			return nil, err
		}
		if tr, err = data.MNIST(dir, "train"); err != nil {
			return nil, err
		}
		if te, err = data.MNIST(dir, "test"); err != nil {
			return nil, err
		}
	case "fashion-mnist", "fashion_mnist", "fashionmnist":
		dir := data.FashionMNISTDir()
		var err error
		if tr, err = data.FashionMNIST(dir, "train"); err != nil {
			return nil, err
		}
		if te, err = data.FashionMNIST(dir, "test"); err != nil {
			return nil, err
		}
	default:
		var err error
		if tr, te, err = loadTS(name); err != nil {
			return nil, err
		}
		mean, std := data.ChannelStats(tr)
		data.Normalize(tr, mean, std)
		data.Normalize(te, mean, std)
		ds.norm = map[string]string{"edgedl.input.mean": floats(mean), "edgedl.input.std": floats(std)}
	}
	ds.classes = max(data.NumClasses(tr), data.NumClasses(te))
	ds.train, ds.test = subset(tr, limit, seed), subset(te, testLimit, seed+1)
	return ds, nil
}

// loadTS reads a .ts training file and its _TEST twin, or a UCR folder.
func loadTS(path string) (tr, te *data.InMemory, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset %q: not mnist, fashion-mnist or a .ts file (%v)", path, err)
	}
	if st.IsDir() {
		return data.LoadTS(path)
	}
	testPath := ""
	for _, pair := range [][2]string{{"_TRAIN.ts", "_TEST.ts"}, {"_train.ts", "_test.ts"}} {
		if base, ok := strings.CutSuffix(path, pair[0]); ok {
			testPath = base + pair[1]
		}
	}
	if testPath == "" {
		return nil, nil, fmt.Errorf("dataset %s: a .ts training file must be named NAME_TRAIN.ts (NAME_TEST.ts beside it)", path)
	}
	a, err := data.ReadTSFile(path)
	if err != nil {
		return nil, nil, err
	}
	b, err := data.ReadTSFile(testPath)
	if err != nil {
		return nil, nil, err
	}
	if a.Dims != b.Dims {
		return nil, nil, fmt.Errorf("dataset %s: %d dimensions, %s has %d", path, a.Dims, filepath.Base(testPath), b.Dims)
	}
	l := max(a.MaxLen(), b.MaxLen())
	return a.Dataset(l), b.Dataset(l), nil
}

func subset(ds data.Dataset, n int, seed uint64) data.Dataset {
	if n <= 0 || n >= ds.Len() {
		return ds
	}
	return &data.Subset{Data: ds, Indices: data.Permutation(ds.Len(), seed, 0x5b)[:n]}
}

func floats(v []float32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return strings.Join(parts, ",")
}

// buildModel returns a built-in architecture (arch.Names, or "ts-cnn" for
// a time-series set) initialised from seed, or loads an ONNX file to
// fine-tune; it checks that the model's input fits the data (ds may be
// nil: no check).
func buildModel(spec string, ds *dataSets, seed uint64) (*graph.Model, error) {
	var m *graph.Model
	var shape []int
	if ds != nil {
		shape = ds.train.Shape()
	}
	switch {
	case spec == "ts-cnn":
		if ds == nil {
			return nil, usagef("ts-cnn is shaped by the data: give --dataset")
		}
		if len(shape) != 2 {
			return nil, usagef("ts-cnn needs [channels,length] series; %s samples are %v", ds.name, shape)
		}
		m = arch.TimeSeriesCNN(shape[0], shape[1], ds.classes, seed)
	case strings.HasSuffix(strings.ToLower(spec), ".onnx") || strings.ContainsRune(spec, os.PathSeparator):
		var err error
		if m, err = onnx.Load(spec); err != nil {
			return nil, err
		}
	default:
		var err error
		if m, err = arch.Build(spec, seed); err != nil {
			return nil, usagef("MODEL %q is neither a built-in architecture (%s, ts-cnn) nor an .onnx file", spec,
				strings.Join(arch.Names(), ", "))
		}
	}
	var in []graph.ValueInfo
	for _, v := range m.Graph.Inputs {
		if _, isInit := m.Graph.Initializers[v.Name]; !isInit {
			in = append(in, v)
		}
	}
	if len(in) != 1 {
		return nil, fmt.Errorf("%s: the model has %d inputs; training needs one", spec, len(in))
	}
	if dims := in[0].Shape; in[0].HasShape && ds != nil {
		ok := len(dims) == len(shape)+1
		for i := 1; ok && i < len(dims); i++ {
			ok = !dims[i].Known() || dims[i].Value == int64(shape[i-1])
		}
		if !ok {
			return nil, fmt.Errorf("%s: input %q is %s, which does not take %s samples of shape %v",
				spec, in[0].Name, in[0].ShapeString(), ds.name, shape)
		}
	}
	return m, nil
}

// epochJSON is one line of `edgedl train --json`.
type epochJSON struct {
	Epoch         int     `json:"epoch"` // 1-based
	Epochs        int     `json:"epochs"`
	Loss          float64 `json:"loss"`
	TrainAccuracy float64 `json:"train_accuracy"`
	TestLoss      float64 `json:"test_loss"`
	TestAccuracy  float64 `json:"test_accuracy"`
	SamplesPerSec float64 `json:"samples_per_s"`
	Seconds       float64 `json:"seconds"`
	LR            float64 `json:"lr"`
	Step          int64   `json:"step"`
	// Epsilon is DP-SGD's ε at DPDelta after this epoch (null without DP).
	Epsilon *float64 `json:"epsilon"`
}

// progressBar draws one updating line on a terminal.
type progressBar struct {
	w    io.Writer
	last time.Time
	drew bool
}

func (b *progressBar) update(p train.Progress) {
	if time.Since(b.last) < 100*time.Millisecond && p.Batch != p.Batches {
		return
	}
	b.last = time.Now()
	const width = 30
	frac := float64(p.Batch) / float64(max(p.Batches, 1))
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	if n > 0 && n < width {
		bar = bar[:n-1] + ">" + bar[n:]
	}
	rate := float64(p.Samples) / max(p.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(b.w, "\rEpoch %d/%d [%s] %3.0f%%  loss %.4f  acc %5.1f%%  %s samples/s ",
		p.Epoch+1, p.Epochs, bar, 100*frac, p.Loss, 100*p.Acc, commas(int64(rate)))
	b.drew = true
}

func (b *progressBar) clear() {
	if b.drew {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", 100))
		b.drew = false
	}
}

func setupTrain(e *env, fs *flag.FlagSet) func([]string) error {
	dataset := fs.String("dataset", "", "`NAME`: mnist, fashion-mnist, or an sktime NAME_TRAIN.ts file (NAME_TEST.ts evaluates)")
	epochs := fs.Int("epochs", 5, "training `epochs`")
	batch := fs.Int("batch", 64, "minibatch `size`")
	lr := fs.Float64("lr", 0, "learning `rate` (default 0.05 with sgd, 0.001 with adam)")
	optName := fs.String("optimizer", "sgd", "`optimizer`: sgd or adam")
	momentum := fs.Float64("momentum", 0, "SGD `momentum`")
	weightDecay := fs.Float64("weight-decay", 0, "L2 weight `decay` (decoupled with adam: AdamW)")
	out := fs.String("out", "", "write the trained model to `FILE.onnx` (required)")
	asJSON := fs.Bool("json", false, "print one JSON line per epoch")
	ckpt := fs.String("checkpoint", "", "save a checkpoint to `FILE` after every epoch")
	resume := fs.Bool("resume", false, "continue from --checkpoint")
	seed := fs.Uint64("seed", 1, "random `seed` (initial weights, shuffling)")
	threads := fs.Int("threads", 0, "`threads` (default: one per CPU)")
	limit := fs.Int("limit", 0, "train on a random subset of `N` samples (0: all)")
	testLimit := fs.Int("test-limit", 0, "evaluate on a random subset of `N` test samples (0: all)")
	dpClip := fs.Float64("dp-clip", 0, "DP-SGD: clip each example's gradient to L2 `norm` C (0: no DP-SGD)")
	dpNoise := fs.Float64("dp-noise", 0, "DP-SGD: noise `multiplier` σ (Gaussian noise of std σ·C on the clipped sum)")
	dpEpsilon := fs.Float64("dp-epsilon", 0, "DP-SGD: choose σ so that the whole run ends at this `ε` (instead of --dp-noise)")
	dpDelta := fs.Float64("dp-delta", 1e-5, "DP-SGD: report ε at this `δ`")
	dpConv := fs.String("dp-conversion", "improved", "DP-SGD: RDP to (ε, δ) `conversion`: improved (Balle et al. 2020, as Opacus and TF Privacy report) or classic (Mironov 2017, larger ε)")
	dpNoiseSeed := fs.Uint64("dp-noise-seed", 0, "`seed` DP-SGD's noise for a reproducible experiment (0, the default: a secret key from crypto/rand, as deployment needs)")
	dpSampling := fs.String("dp-sampling", "poisson", "DP-SGD `lots`: poisson (each example drawn with probability B/N per step, as the accountant assumes) or shuffle (fixed-size batches; ε is then heuristic)")
	return func(args []string) error {
		if *out == "" {
			return usagef("--out FILE.onnx is required")
		}
		if *epochs <= 0 || *batch <= 0 || *lr < 0 || *momentum < 0 || *momentum >= 1 || *weightDecay < 0 {
			return usagef("--epochs and --batch must be positive, --lr and --weight-decay not negative, --momentum in [0, 1)")
		}
		dpOn := *dpClip > 0
		switch {
		case *dpClip < 0 || *dpNoise < 0 || *dpEpsilon < 0:
			return usagef("--dp-clip, --dp-noise and --dp-epsilon must not be negative")
		case !dpOn && (*dpNoise > 0 || *dpEpsilon > 0):
			return usagef("--dp-noise and --dp-epsilon need --dp-clip C (DP-SGD clips each example's gradient)")
		case *dpNoise > 0 && *dpEpsilon > 0:
			return usagef("give --dp-noise or --dp-epsilon, not both")
		case dpOn && *dpNoise == 0 && *dpEpsilon == 0:
			return usagef("--dp-clip needs --dp-noise σ or --dp-epsilon ε (without noise there is no privacy)")
		case !(*dpDelta > 0 && *dpDelta < 1):
			return usagef("--dp-delta %v outside (0, 1)", *dpDelta)
		case *dpConv != "improved" && *dpConv != "classic":
			return usagef("--dp-conversion %q: want improved or classic", *dpConv)
		case *dpSampling != "poisson" && *dpSampling != "shuffle":
			return usagef("--dp-sampling %q: want poisson or shuffle", *dpSampling)
		}
		if *resume && *ckpt == "" {
			return usagef("--resume needs --checkpoint FILE")
		}
		var opt train.Optimizer
		switch *optName {
		case "sgd":
			opt = &train.SGD{Momentum: *momentum, WeightDecay: *weightDecay}
			if *lr == 0 {
				*lr = 0.05
			}
		case "adam":
			opt = &train.Adam{WeightDecay: *weightDecay, Decoupled: *weightDecay > 0}
			if *lr == 0 {
				*lr = 0.001
			}
		default:
			return usagef("--optimizer %q: want sgd or adam", *optName)
		}
		ds, err := loadData(*dataset, *limit, *testLimit, *seed)
		if err != nil {
			return err
		}
		m, err := buildModel(args[0], ds, *seed)
		if err != nil {
			return err
		}
		p, err := train.Compile(m, train.Options{Threads: *threads, Seed: *seed})
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		defer p.Close()
		cfg := train.Config{Epochs: *epochs, Batch: *batch, LR: *lr, Optimizer: opt, Seed: *seed, Eval: ds.test,
			Checkpoint: *ckpt}
		// DP-SGD: q is the sampling rate the accountant composes; one epoch is
		// PoissonSteps (Poisson) or ⌈N/B⌉ (shuffled) steps.
		var q float64
		var perEpoch int
		conv, convName := dp.ConversionImproved, "Balle et al."
		if *dpConv == "classic" {
			conv, convName = dp.ConversionClassic, "Mironov's"
		}
		if dpOn {
			n := ds.train.Len()
			if *batch > n {
				return usagef("--batch %d is larger than the %d training samples", *batch, n)
			}
			q = float64(*batch) / float64(n)
			cfg.PerExampleClip, cfg.NoiseMultiplier = *dpClip, *dpNoise
			cfg.PoissonSampling = *dpSampling == "poisson"
			cfg.NoiseSeed = *dpNoiseSeed
			perEpoch = (n + *batch - 1) / *batch
			if cfg.PoissonSampling {
				perEpoch = train.PoissonSteps(n, *batch)
			}
			if *dpEpsilon > 0 {
				sigma, err := dp.NoiseMultiplier(*dpEpsilon, *dpDelta, q, perEpoch**epochs, nil, conv, 0.01)
				if err != nil {
					return fmt.Errorf("--dp-epsilon %v: %w", *dpEpsilon, err)
				}
				cfg.NoiseMultiplier = sigma
			}
		}
		epsAfter := func(steps int64) (*float64, error) {
			if !dpOn {
				return nil, nil
			}
			e, err := dp.EpsilonAfter(q, cfg.NoiseMultiplier, int(steps), *dpDelta, conv)
			return &e, err
		}
		if *resume {
			ck, err := train.LoadCheckpointFile(*ckpt, p, opt)
			if err != nil {
				return fmt.Errorf("resume: %w", err)
			}
			if now := train.PrivacySettings(cfg, ds.train.Len()); ck.Privacy != now {
				return fmt.Errorf("resume: %s was trained with %q but this run has %q: give the same DP flags, or the privacy spent is accounted wrongly",
					*ckpt, cmpOr(ck.Privacy, "no DP"), cmpOr(now, "no DP"))
			}
			cfg.StartEpoch, cfg.StartStep = ck.Epoch, ck.Step
			if !*asJSON {
				fmt.Fprintf(e.stdout, "resumed from %s after epoch %d (step %d)\n", *ckpt, ck.Epoch, ck.Step)
			}
		}
		if !*asJSON && cfg.StartEpoch == 0 {
			fmt.Fprintf(e.stdout, "training %s (%s parameters) on %s: %s training and %s test samples, %d epochs, batch %d, %s lr %g\n",
				args[0], commas(int64(p.NumParams())), ds.name, commas(int64(ds.train.Len())), commas(int64(ds.test.Len())),
				*epochs, *batch, *optName, *lr)
			if dpOn {
				end, err := epsAfter(int64(perEpoch * *epochs))
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "DP-SGD: clip %g, noise multiplier %.4g, %s lots (q = %.4g, %d steps per epoch): ε = %.3f at δ = %g after %d epochs (RDP accountant, %s conversion)\n",
					*dpClip, cfg.NoiseMultiplier, *dpSampling, q, perEpoch, *end, *dpDelta, *epochs, convName)
			}
		}
		bar := &progressBar{w: e.stderr}
		var cb train.Callbacks
		if isTerminal(e.stderr) {
			cb.Progress = bar.update
		}
		cb.Epoch = func(em train.EpochMetrics) error {
			bar.clear()
			line := epochJSON{Epoch: em.Epoch + 1, Epochs: *epochs, Loss: em.TrainLoss, TrainAccuracy: em.TrainAcc,
				TestLoss: em.EvalLoss, TestAccuracy: em.EvalAcc, SamplesPerSec: em.SamplesPerSec,
				Seconds: em.Duration.Seconds(), LR: em.LR, Step: em.Step}
			var err error
			if line.Epsilon, err = epsAfter(em.Step); err != nil {
				return err
			}
			if *asJSON {
				b, _ := json.Marshal(line)
				fmt.Fprintf(e.stdout, "%s\n", b)
				return nil
			}
			dpText := ""
			if line.Epsilon != nil {
				dpText = fmt.Sprintf("  ε %.3f", *line.Epsilon)
			}
			fmt.Fprintf(e.stdout, "epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%% (loss %.4f)  %s samples/s  %.1fs%s\n",
				line.Epoch, line.Epochs, line.Loss, 100*line.TrainAccuracy, 100*line.TestAccuracy, line.TestLoss,
				commas(int64(line.SamplesPerSec)), line.Seconds, dpText)
			return nil
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		if cfg.StartEpoch < cfg.Epochs {
			if _, err := train.Fit(ctx, p, ds.train, cfg, cb); err != nil {
				bar.clear()
				if errors.Is(err, context.Canceled) {
					return fmt.Errorf("interrupted; the last checkpoint is in %s", cmpOr(*ckpt, "(none: pass --checkpoint)"))
				}
				return err
			}
		}
		exported := p.Export()
		if exported.Metadata == nil {
			exported.Metadata = map[string]string{}
		}
		exported.Metadata["edgedl.train.dataset"] = ds.name
		for k, v := range ds.norm {
			exported.Metadata[k] = v
		}
		if err := onnx.Save(*out, exported); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(e.stdout, "wrote %s\n", *out)
		}
		return nil
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
