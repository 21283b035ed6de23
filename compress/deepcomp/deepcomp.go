package deepcomp

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/edgedl/edgedl/compress/codebook"
	"github.com/edgedl/edgedl/compress/entropy"
	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

var errNilModel = errors.New("deepcomp: nil model")

// FineTune configures the retraining runs (SGD with momentum, as Han et
// al.). Zero fields take the defaults noted.
type FineTune struct {
	// Epochs per run; 0 skips retraining.
	Epochs int
	// Batch is the minibatch size (default 64).
	Batch int
	// LR is the learning rate (default 0.01); Momentum (default 0: none)
	// and WeightDecay are SGD's.
	LR, Momentum, WeightDecay float64
	Seed                      uint64
	Threads                   int
	// Eval, if set, is evaluated after every epoch (its accuracy is the
	// stage's).
	Eval data.Dataset
	// Epoch, if set, is called after every epoch with the stage's name.
	Epoch func(stage string, em train.EpochMetrics)
}

func (f *FineTune) check() error {
	if f.Epochs < 0 || f.Batch < 0 || f.LR < 0 || f.Momentum < 0 || f.Momentum >= 1 || f.WeightDecay < 0 {
		return fmt.Errorf("deepcomp: fine-tuning: epochs %d, batch %d, lr %g, momentum %g, weight decay %g: "+
			"want epochs, batch, lr and decay not negative and momentum in [0, 1)", f.Epochs, f.Batch, f.LR, f.Momentum, f.WeightDecay)
	}
	return nil
}

// Retrain fine-tunes m on ds for f.Epochs epochs and returns the trained
// copy and the metrics of each epoch. With masks, the masked weights are
// held at zero (MaskedOptimizer); channel-pruned models need none, their
// pruned filters are gone from the graph. The stage name labels f.Epoch
// calls.
func Retrain(ctx context.Context, m *graph.Model, ds data.Dataset, f FineTune, masks Masks, stage string) (*graph.Model, []train.EpochMetrics, error) {
	var wrap func(train.Optimizer) train.Optimizer
	if len(masks) > 0 {
		wrap = func(in train.Optimizer) train.Optimizer { return &MaskedOptimizer{Inner: in, Masks: masks} }
	}
	return retrain(ctx, m, ds, f, wrap, stage)
}

func retrain(ctx context.Context, m *graph.Model, ds data.Dataset, f FineTune, wrap func(train.Optimizer) train.Optimizer, stage string) (*graph.Model, []train.EpochMetrics, error) {
	if m == nil || m.Graph == nil {
		return nil, nil, errNilModel
	}
	if err := f.check(); err != nil {
		return nil, nil, err
	}
	if f.Epochs == 0 {
		return m, nil, nil
	}
	if ds == nil || ds.Len() == 0 {
		return nil, nil, errors.New("deepcomp: fine-tuning needs a non-empty training set")
	}
	p, err := train.Compile(m, train.Options{Threads: f.Threads, Seed: f.Seed})
	if err != nil {
		return nil, nil, fmt.Errorf("deepcomp: %s: %w", stage, err)
	}
	defer p.Close()
	var opt train.Optimizer = &train.SGD{Momentum: f.Momentum, WeightDecay: f.WeightDecay}
	if wrap != nil {
		opt = wrap(opt)
	}
	lr := f.LR
	if lr == 0 {
		lr = 0.01
	}
	cfg := train.Config{Epochs: f.Epochs, Batch: f.Batch, LR: lr, Optimizer: opt, Seed: f.Seed, Eval: f.Eval}
	var cb train.Callbacks
	if f.Epoch != nil {
		cb.Epoch = func(em train.EpochMetrics) error { f.Epoch(stage, em); return nil }
	}
	hist, err := train.Fit(ctx, p, ds, cfg, cb)
	if err != nil {
		return nil, nil, fmt.Errorf("deepcomp: %s: %w", stage, err)
	}
	return p.Export(), hist, nil
}

// Config configures Compress: Han et al.'s three stages.
type Config struct {
	// Sparsity is the final fraction of pruned weights, in [0, 1) (0: no
	// pruning), reached in Steps rounds of pruning and retraining (default
	// 1): round i prunes to 1-(1-Sparsity)^(i/Steps), so each round
	// removes the same share of the weights left. Scope and LayerSparsity
	// are prune.Magnitude's (LayerSparsity values are final targets too).
	Sparsity      float64
	Steps         int
	Scope         prune.Scope
	LayerSparsity map[string]float64
	// Bits is the index width of the shared weights of Gemm/MatMul
	// layers (and other large tensors), ConvBits that of Conv kernels
	// (default Bits); 1..8. The paper uses 5 and 8.
	Bits, ConvBits int
	// MinElements: smaller tensors stay raw float32 (default 256).
	MinElements int
	// Coder codes indices and index gaps (default Huffman).
	Coder entropy.Coder
	// Tune retrains after every pruning round; ShareEpochs is the number
	// of epochs of centroid fine-tuning after weight sharing (default
	// Tune.Epochs), with the same settings.
	Tune        FineTune
	ShareEpochs int
	// ShareLR is the learning rate of centroid fine-tuning (0: Tune.LR).
	// A centroid's gradient sums over all the weights that share it, so
	// a rate below the weights' often suits it.
	ShareLR float64
	// Stage, if set, is called after every stage.
	Stage func(Stage)
}

// Stage is the outcome of one stage of Compress.
type Stage struct {
	Name string
	// Sparsity of the weight layers (zeros over weights).
	Sparsity float64
	// EvalAcc is the accuracy on Tune.Eval after the stage's retraining
	// (NaN without Eval or retraining).
	EvalAcc float64
	Model   *graph.Model
}

// Result is what Compress produced.
type Result struct {
	// Container is the codebook file (package compress/codebook): the
	// whole compressed model, everything counted.
	Container []byte
	Report    *codebook.Report
	// Model is the container decoded back, the model the engine runs.
	Model  *graph.Model
	Stages []Stage
	// WeightBytes is the float32 size of the input model's initializers
	// (every float tensor: weights and biases).
	WeightBytes int64
}

func (c *Config) fill() error {
	if !(c.Sparsity >= 0 && c.Sparsity < 1) {
		return fmt.Errorf("deepcomp: sparsity %v is out of range [0, 1)", c.Sparsity)
	}
	if c.Steps == 0 {
		c.Steps = 1
	}
	if c.Steps < 0 || c.Steps > 100 {
		return fmt.Errorf("deepcomp: %d pruning steps: want 1..100", c.Steps)
	}
	if c.Bits == 0 {
		c.Bits = 5
	}
	if c.ConvBits == 0 {
		c.ConvBits = c.Bits
	}
	if c.Bits < 1 || c.Bits > 8 || c.ConvBits < 1 || c.ConvBits > 8 {
		return fmt.Errorf("deepcomp: index bits %d (conv %d) out of range [1, 8]", c.Bits, c.ConvBits)
	}
	if c.MinElements == 0 {
		c.MinElements = 256
	}
	if c.ShareLR < 0 {
		return fmt.Errorf("deepcomp: centroid learning rate %g is negative", c.ShareLR)
	}
	if c.MinElements < 1 {
		return fmt.Errorf("deepcomp: MinElements %d must be positive", c.MinElements)
	}
	return c.Tune.check()
}

// Compress runs Deep Compression (Han et al., ICLR 2016) on m with the
// training set ds: Prune, then Share. The result's Stages lists both.
func Compress(ctx context.Context, m *graph.Model, ds data.Dataset, c Config) (*Result, error) {
	if m == nil || m.Graph == nil {
		return nil, errNilModel
	}
	if err := c.fill(); err != nil {
		return nil, err
	}
	pm, stages, err := Prune(ctx, m, ds, c)
	if err != nil {
		return nil, err
	}
	res, err := Share(ctx, pm, ds, c)
	if err != nil {
		return nil, err
	}
	res.Stages = append(stages, res.Stages...)
	res.WeightBytes = floatBytes(m.Graph)
	return res, nil
}

func (c *Config) stage(name string, cur *graph.Model, hist []train.EpochMetrics) Stage {
	s := Stage{Name: name, Sparsity: prune.Total(prune.Sparsity(cur)).Sparsity(), EvalAcc: math.NaN(), Model: cur}
	if len(hist) > 0 && c.Tune.Eval != nil {
		s.EvalAcc = hist[len(hist)-1].EvalAcc
	}
	if c.Stage != nil {
		c.Stage(s)
	}
	return s
}

// Prune is stage 1: c.Steps rounds of magnitude pruning (towards
// c.Sparsity, c.Scope, c.LayerSparsity), each followed by c.Tune.Epochs of
// retraining with the pruned weights held at zero. It returns the pruned
// model and one Stage per round (none when c.Sparsity is 0).
func Prune(ctx context.Context, m *graph.Model, ds data.Dataset, c Config) (*graph.Model, []Stage, error) {
	if m == nil || m.Graph == nil {
		return nil, nil, errNilModel
	}
	if err := c.fill(); err != nil {
		return nil, nil, err
	}
	cur := m
	var stages []Stage
	if c.Sparsity == 0 && len(c.LayerSparsity) == 0 {
		return cur, nil, nil
	}
	for i := 1; i <= c.Steps; i++ {
		frac := float64(i) / float64(c.Steps)
		o := prune.MagnitudeOptions{Sparsity: stepSparsity(c.Sparsity, frac), Scope: c.Scope}
		if len(c.LayerSparsity) > 0 {
			o.LayerSparsity = map[string]float64{}
			for k, v := range c.LayerSparsity {
				o.LayerSparsity[k] = stepSparsity(v, frac)
			}
		}
		pm, stats, err := prune.Magnitude(cur, o)
		if err != nil {
			return nil, nil, err
		}
		names := make([]string, len(stats))
		for j, s := range stats {
			names[j] = s.Weight
		}
		masks, err := ZeroMasks(pm, names)
		if err != nil {
			return nil, nil, err
		}
		name := fmt.Sprintf("prune %.1f%%", 100*prune.Total(stats).Sparsity())
		if c.Steps > 1 {
			name = fmt.Sprintf("prune %d/%d %.1f%%", i, c.Steps, 100*prune.Total(stats).Sparsity())
		}
		if c.Tune.Epochs > 0 {
			name += fmt.Sprintf(" +%d ep", c.Tune.Epochs)
		}
		tuned, hist, err := Retrain(ctx, pm, ds, c.Tune, masks, name)
		if err != nil {
			return nil, nil, err
		}
		cur = tuned
		stages = append(stages, c.stage(name, cur, hist))
	}
	return cur, stages, nil
}

// Share is stages 2 and 3: weight sharing of every float tensor of at
// least c.MinElements elements (c.Bits, c.ConvBits; zeros left by pruning
// stay zero and cost only their index gaps), centroid fine-tuning for
// c.ShareEpochs, then the entropy-coded container. It decodes the
// container and checks that it holds exactly the fine-tuned weights, so
// Result.Model is what a reader of the file gets. Result.Stages has the
// sharing stage and, with retraining, the fine-tuning stage.
func Share(ctx context.Context, m *graph.Model, ds data.Dataset, c Config) (*Result, error) {
	if m == nil || m.Graph == nil {
		return nil, errNilModel
	}
	if err := c.fill(); err != nil {
		return nil, err
	}
	res := &Result{WeightBytes: floatBytes(m.Graph)}
	opts := codebook.Options{Bits: c.Bits, LayerBits: map[string]int{}, Coder: c.Coder, MinElements: c.MinElements}
	for _, l := range gx.WeightLayers(m.Graph) {
		if l.Node.OpType == "Conv" {
			opts.LayerBits[l.Weight] = c.ConvBits
		}
	}
	sm, reps, err := codebook.Share(m, opts)
	if err != nil {
		return nil, err
	}
	shared := map[string]*Shared{}
	for _, r := range reps {
		t := sm.Graph.Initializers[r.Name]
		// codebook keeps a mask (and clusters only non-zeros) when at
		// least 10% of the elements are zero: the same rule here.
		zeros := r.Elements - r.NonZero
		s, err := SharedFrom(t, 1<<r.Bits, zeros > 0 && 10*zeros >= r.Elements)
		if err != nil {
			return nil, fmt.Errorf("deepcomp: %s: %w", r.Name, err)
		}
		shared[r.Name] = s
	}
	name := fmt.Sprintf("share %d-bit", c.Bits)
	if c.ConvBits != c.Bits && len(opts.LayerBits) > 0 {
		name = fmt.Sprintf("share %d-bit fc, %d-bit conv", c.Bits, c.ConvBits)
	}
	res.Stages = append(res.Stages, c.stage(name, sm, nil))
	ft := c.Tune
	switch ft.Epochs = c.ShareEpochs; {
	case ft.Epochs < 0:
		ft.Epochs = 0
	case ft.Epochs == 0:
		ft.Epochs = c.Tune.Epochs
	}
	if c.ShareLR > 0 {
		ft.LR = c.ShareLR
	}
	tuned, hist, err := retrain(ctx, sm, ds, ft, func(in train.Optimizer) train.Optimizer {
		return &SharedOptimizer{Inner: in, Shared: shared}
	}, "centroid fine-tuning")
	if err != nil {
		return nil, err
	}
	if ft.Epochs > 0 {
		res.Stages = append(res.Stages, c.stage(fmt.Sprintf("%s +%d ep", name, ft.Epochs), tuned, hist))
	}
	b, rep, err := codebook.Encode(tuned, opts)
	if err != nil {
		return nil, err
	}
	dec, err := codebook.Decode(b, codebook.DecodeOptions{})
	if err != nil {
		return nil, fmt.Errorf("deepcomp: decoding the container just written: %w", err)
	}
	for _, name := range sharedNames(shared) {
		if err := sameValues(name, dec.Graph.Initializers[name], tuned.Graph.Initializers[name]); err != nil {
			return nil, err
		}
	}
	res.Container, res.Report, res.Model = b, rep, dec
	return res, nil
}

// stepSparsity is the sparsity after a fraction frac of the rounds: the
// kept fraction shrinks geometrically to 1-final.
func stepSparsity(final, frac float64) float64 {
	if frac >= 1 {
		return final
	}
	return 1 - math.Pow(1-final, frac)
}

func sameValues(name string, got, want *tensor.Tensor) error {
	if got == nil || want == nil || got.Len() != want.Len() {
		return fmt.Errorf("deepcomp: the container lost tensor %q", name)
	}
	g, w := got.F32(), want.F32()
	for i := range w {
		if g[i] != w[i] {
			return fmt.Errorf("deepcomp: tensor %q element %d decodes to %g, not %g", name, i, g[i], w[i])
		}
	}
	return nil
}

// floatBytes is the float32 size of g's float initializers.
func floatBytes(g *graph.Graph) int64 {
	var n int64
	for _, t := range g.Initializers {
		if t != nil && t.DType == tensor.Float32 {
			n += 4 * int64(t.Len())
		}
	}
	return n
}

// FloatBytes is the float32 size of m's float initializers: what the
// uncompressed weights (and biases) take.
func FloatBytes(m *graph.Model) int64 {
	if m == nil || m.Graph == nil {
		return 0
	}
	return floatBytes(m.Graph)
}
