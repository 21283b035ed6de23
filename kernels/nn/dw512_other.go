//go:build noasm || !amd64

package nn

// hasAVX512 is false: the portable build has no vector kernels.
var hasAVX512 = false

// dwPlan would hold a vector depthwise kernel's per-layer data; the
// portable build has none.
type dwPlan struct{}

func newDWPlan(*conv2d) *dwPlan { return nil }

func (p *dwPlan) run(x []float32, w *[9]float32, y []float32, bias, lo, hi float32) {}
