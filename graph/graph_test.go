package graph

import (
	"strings"
	"testing"

	"github.com/edgedl/edgedl/tensor"
)

func node(op string, in []string, out ...string) *Node {
	return &Node{OpType: op, Inputs: in, Outputs: out}
}

func diamond() *Graph {
	// x -> a -> b -> d ; a -> c -> d (a skip connection)
	g := &Graph{
		Name:    "diamond",
		Inputs:  []ValueInfo{{Name: "x", DType: tensor.Float32}},
		Outputs: []ValueInfo{{Name: "d"}},
		Nodes: []*Node{
			node("Relu", []string{"x"}, "a"),
			node("Mul", []string{"a", "w"}, "b"),
			node("Neg", []string{"a"}, "c"),
			node("Add", []string{"b", "c"}, "d"),
		},
	}
	g.AddInitializer("w", tensor.Float32s([]int{1}, []float32{2}))
	return g
}

func TestTopoSortReorders(t *testing.T) {
	g := diamond()
	g.Nodes[0], g.Nodes[3] = g.Nodes[3], g.Nodes[0]
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range g.Nodes {
		ops = append(ops, n.OpType)
	}
	if got := strings.Join(ops, ","); got != "Relu,Mul,Neg,Add" {
		t.Errorf("order %s", got)
	}
}

func TestValidateErrors(t *testing.T) {
	cases := map[string]func(g *Graph){
		"cycle":          func(g *Graph) { g.Nodes[0].Inputs[0] = "d" },
		"self loop":      func(g *Graph) { g.Nodes[2].Inputs[0] = "c" },
		"undefined read": func(g *Graph) { g.Nodes[1].Inputs[1] = "nope" },
		"no op":          func(g *Graph) { g.Nodes[1].OpType = "" },
		"bad output":     func(g *Graph) { g.Outputs[0].Name = "zz" },
		"double write":   func(g *Graph) { g.Nodes[2].Outputs[0] = "b" },
	}
	for name, edit := range cases {
		g := diamond()
		edit(g)
		if err := g.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestExtract(t *testing.T) {
	g := diamond()
	// Cut after a: the second piece needs only a (and the weight).
	sub, err := g.Extract("tail", []string{"a"}, []string{"d"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Nodes) != 3 || sub.Initializers["w"] == nil || sub.Inputs[0].Name != "a" {
		t.Fatalf("tail: %+v", sub)
	}
	head, err := g.Extract("head", []string{"x"}, []string{"a"}, nil)
	if err != nil || len(head.Nodes) != 1 || len(head.Initializers) != 0 {
		t.Fatalf("head: %+v %v", head, err)
	}
	// Cutting only through b misses the skip connection through c.
	if _, err := g.Extract("bad", []string{"b"}, []string{"d"}, nil); err == nil {
		t.Fatal("a cut that misses the skip connection was accepted")
	}
}
