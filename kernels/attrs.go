package kernels

import (
	"fmt"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// Attrs reads a node's attributes with defaults.
type Attrs struct{ node *graph.Node }

// AttrsOf returns an accessor for n's attributes.
func AttrsOf(n *graph.Node) Attrs { return Attrs{node: n} }

// Has reports whether the attribute is set.
func (a Attrs) Has(name string) bool { _, ok := a.node.Attrs[name]; return ok }

// Int returns an INT attribute or def.
func (a Attrs) Int(name string, def int64) int64 {
	if v, ok := a.node.Attrs[name]; ok {
		return v.Int
	}
	return def
}

// Float returns a FLOAT attribute or def.
func (a Attrs) Float(name string, def float32) float32 {
	if v, ok := a.node.Attrs[name]; ok {
		return v.Float
	}
	return def
}

// String returns a STRING attribute or def.
func (a Attrs) String(name, def string) string {
	if v, ok := a.node.Attrs[name]; ok {
		return v.String
	}
	return def
}

// Ints returns an INTS attribute or def.
func (a Attrs) Ints(name string, def []int64) []int64 {
	if v, ok := a.node.Attrs[name]; ok {
		return v.Ints
	}
	return def
}

// IntsAsInt returns an INTS attribute converted to []int, or def.
func (a Attrs) IntsAsInt(name string, def []int) []int {
	if v, ok := a.node.Attrs[name]; ok {
		out := make([]int, len(v.Ints))
		for i, x := range v.Ints {
			out[i] = int(x)
		}
		return out
	}
	return def
}

// Floats returns a FLOATS attribute or def.
func (a Attrs) Floats(name string, def []float32) []float32 {
	if v, ok := a.node.Attrs[name]; ok {
		return v.Floats
	}
	return def
}

// Strings returns a STRINGS attribute or def.
func (a Attrs) Strings(name string, def []string) []string {
	if v, ok := a.node.Attrs[name]; ok {
		return v.Strings
	}
	return def
}

// Tensor returns a TENSOR attribute or nil.
func (a Attrs) Tensor(name string) *tensor.Tensor {
	if v, ok := a.node.Attrs[name]; ok {
		return v.Tensor
	}
	return nil
}

// Graph returns a GRAPH attribute or nil.
func (a Attrs) Graph(name string) *graph.Graph {
	if v, ok := a.node.Attrs[name]; ok {
		return v.Graph
	}
	return nil
}

// Get returns the raw attribute or nil.
func (a Attrs) Get(name string) *graph.Attr { return a.node.Attrs[name] }

// RequireInts returns an INTS attribute or an error naming it.
func (a Attrs) RequireInts(name string) ([]int64, error) {
	v, ok := a.node.Attrs[name]
	if !ok {
		return nil, fmt.Errorf("%s: missing required attribute %q", a.node.Label(), name)
	}
	return v.Ints, nil
}
