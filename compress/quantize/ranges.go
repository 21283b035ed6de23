package quantize

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/graph"
)

// FromRanges returns a Calibration of m whose activation ranges are given
// rather than measured: the ranges learnt by quantisation-aware training
// (package compress/qat), or ranges saved from an earlier calibration.
// QDQ then writes the model exactly as after Calibrate. m is prepared as
// Calibrate prepares it (constants to initializers, BatchNormalization
// folded, nodes named), so range names refer to values of the prepared
// model; a model that is already prepared keeps its names. Every name must
// be a graph input or a node output with a finite range (Min <= Max).
// opts.Method and the histogram options are not used.
func FromRanges(m *graph.Model, ranges map[string]Range, opts Options) (*Calibration, error) {
	if err := checkModelOptions(m, &opts); err != nil {
		return nil, err
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("quantize: no activation ranges given")
	}
	pm, err := gx.Prepare(m, true)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	values := map[string]bool{}
	for _, v := range pm.Graph.Inputs {
		values[v.Name] = true
	}
	for _, n := range pm.Graph.Nodes {
		for _, o := range n.Outputs {
			values[o] = true
		}
	}
	c := &Calibration{model: pm, ranges: make(map[string]Range, len(ranges)), opts: opts}
	for name, r := range ranges {
		if !values[name] {
			return nil, fmt.Errorf("quantize: range for %q, which is not a graph input or node output", name)
		}
		lo, hi := float64(r.Min), float64(r.Max)
		if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) || lo > hi {
			return nil, fmt.Errorf("quantize: range of %q is [%g, %g]: want finite Min <= Max", name, r.Min, r.Max)
		}
		c.ranges[name] = r
	}
	return c, nil
}
