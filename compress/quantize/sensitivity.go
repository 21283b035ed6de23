package quantize

import (
	"fmt"
	"math"
	"sort"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
)

// LayerSensitivity is the damage done by quantising one weight layer alone
// (with its input and output activations), the rest of the model in float.
type LayerSensitivity struct {
	Node, Op string
	// OutputError is the relative L2 error of the model's first output
	// against the float model's; Disagree the fraction of rows whose
	// argmax changed.
	OutputError, Disagree float64
	// AccuracyDrop is float accuracy minus this model's, in [−1, 1]
	// (NaN for unlabelled data).
	AccuracyDrop float64
}

// Sensitivity quantises each weight layer on its own and measures the
// model on data, returning the layers most sensitive first: by accuracy
// drop when data is labelled, then by output error.
func (c *Calibration) Sensitivity(data []compress.Batch) ([]LayerSensitivity, error) {
	if err := compress.CheckBatches(c.model, data); err != nil {
		return nil, fmt.Errorf("quantize: sensitivity data: %w", err)
	}
	labelled := data[0].Labels != nil
	ropts := runtime.Options{Threads: c.opts.Threads}
	ref, err := runtime.Compile(c.model, ropts)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	defer ref.Close()
	baseAcc := math.NaN()
	if labelled {
		if baseAcc, err = compress.Accuracy(ref, data); err != nil {
			return nil, err
		}
	}
	byName := map[string]*graph.Node{}
	for _, n := range c.model.Graph.Nodes {
		byName[n.Name] = n
	}
	var out []LayerSensitivity
	for _, name := range c.Layers() {
		m, err := c.build(func(n *graph.Node) bool { return n.Name == name }, false)
		if err != nil {
			return nil, err
		}
		s, err := runtime.Compile(m, ropts)
		if err != nil {
			return nil, fmt.Errorf("quantize: layer %q: %w", name, err)
		}
		ls := LayerSensitivity{Node: name, Op: byName[name].OpType, AccuracyDrop: math.NaN()}
		ls.OutputError, ls.Disagree, err = compress.OutputError(ref, s, data)
		if err == nil && labelled {
			var acc float64
			acc, err = compress.Accuracy(s, data)
			ls.AccuracyDrop = baseAcc - acc
		}
		s.Close()
		if err != nil {
			return nil, fmt.Errorf("quantize: layer %q: %w", name, err)
		}
		out = append(out, ls)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if labelled && a.AccuracyDrop != b.AccuracyDrop {
			return a.AccuracyDrop > b.AccuracyDrop
		}
		return a.OutputError > b.OutputError
	})
	return out, nil
}
