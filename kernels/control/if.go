package control

import (
	"fmt"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "If", 1, buildIf)
}

type ifKernel struct {
	random
	then, els kernels.Subgraph
}

func buildIf(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	tg, eg := a.Graph("then_branch"), a.Graph("else_branch")
	if tg == nil || eg == nil {
		return nil, b.Errorf("needs then_branch and else_branch graphs")
	}
	n := len(b.Node.Outputs)
	for _, g := range []*graph.Graph{tg, eg} {
		if err := tensorsOnly(g); err != nil {
			return nil, err
		}
		if len(g.Inputs) != 0 {
			return nil, b.Errorf("branch %q declares %d inputs, want none", g.Name, len(g.Inputs))
		}
		if len(g.Outputs) != n {
			return nil, b.Errorf("branch %q has %d outputs, the node %d", g.Name, len(g.Outputs), n)
		}
	}
	then, err := b.Compile(tg)
	if err != nil {
		return nil, fmt.Errorf("then_branch: %w", err)
	}
	els, err := b.Compile(eg)
	if err != nil {
		return nil, fmt.Errorf("else_branch: %w", err)
	}
	return &ifKernel{random: random(hasRandom(tg, eg)), then: then, els: els}, nil
}

func (k *ifKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	cond, err := truth(in[0], "cond")
	if err != nil {
		return err
	}
	branch, name := k.els, "else_branch"
	if cond {
		branch, name = k.then, "then_branch"
	}
	res, err := branch.Run(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	copy(out, res)
	return nil
}

// tensorsOnly rejects graphs whose interface carries sequences, optionals,
// maps or sparse tensors, which the runtime cannot hold. Untyped values
// (common in expanded functions) are taken to be tensors.
func tensorsOnly(g *graph.Graph) error {
	for _, vs := range [][]graph.ValueInfo{g.Inputs, g.Outputs} {
		for _, v := range vs {
			if v.Kind != graph.KindTensor && v.Kind != graph.KindUnknown {
				return kernels.Unsupported("subgraph", "value %q of graph %q is not a tensor", v.Name, g.Name)
			}
		}
	}
	return nil
}

// randomOps are the standard operators whose outputs are random; a body
// containing one makes the control-flow node nondeterministic, so the
// runtime must not constant-fold it.
var randomOps = map[string]bool{
	"RandomNormal": true, "RandomNormalLike": true, "RandomUniform": true,
	"RandomUniformLike": true, "Bernoulli": true, "Multinomial": true,
}

// hasRandom reports whether any graph, or a graph nested in it, contains a
// random operator.
func hasRandom(gs ...*graph.Graph) bool {
	for _, g := range gs {
		for _, n := range g.Nodes {
			if randomOps[n.OpType] && graph.NormalizeDomain(n.Domain) == "" {
				return true
			}
			for _, a := range n.Attrs {
				if (a.Graph != nil && hasRandom(a.Graph)) || hasRandom(a.Graphs...) {
					return true
				}
			}
		}
	}
	return false
}

// random is embedded by the control-flow kernels to report nondeterminism.
type random bool

// Nondeterministic implements kernels.Nondeterministic.
func (r random) Nondeterministic() bool { return bool(r) }
