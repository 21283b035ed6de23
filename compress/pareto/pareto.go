// Package pareto finds the model variants that are not beaten on every
// measure at once (accuracy, size, latency) and plots them.
//
//	rs := []compress.Report{fp32, int8, pruned, shared}
//	front := pareto.Front(rs)                     // indices, smallest first
//	err := pareto.PlotFile("pareto.png", "mnist_cnn", rs)
package pareto

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/edgedl/edgedl/compress"
)

// measures says which measures every report has.
func measures(rs []compress.Report) (acc, lat bool) {
	acc, lat = true, true
	for _, r := range rs {
		acc = acc && !math.IsNaN(r.Accuracy)
		lat = lat && r.Latency > 0
	}
	return acc, lat
}

// dominates reports whether a is at least as good as b on every measure
// used, and better on one.
func dominates(a, b compress.Report, acc, lat bool) bool {
	better := a.Bytes < b.Bytes
	if a.Bytes > b.Bytes {
		return false
	}
	if acc {
		if a.Accuracy < b.Accuracy {
			return false
		}
		better = better || a.Accuracy > b.Accuracy
	}
	if lat {
		if a.Latency > b.Latency {
			return false
		}
		better = better || a.Latency < b.Latency
	}
	return better
}

// Front returns the indices of the reports that no other report dominates
// (is at least as accurate, as small and as fast, and strictly better on
// one), smallest first. Accuracy and latency count only when every report
// has them.
func Front(rs []compress.Report) []int {
	acc, lat := measures(rs)
	var out []int
	for i := range rs {
		dominated := false
		for j := range rs {
			if j != i && dominates(rs[j], rs[i], acc, lat) {
				dominated = true
				break
			}
		}
		if !dominated {
			out = append(out, i)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return rs[out[a]].Bytes < rs[out[b]].Bytes })
	return out
}

// front2D returns the points not dominated in (x smaller, y larger),
// ordered by x.
func front2D(xs, ys []float64) plotter.XYs {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if xs[idx[a]] != xs[idx[b]] {
			return xs[idx[a]] < xs[idx[b]]
		}
		return ys[idx[a]] > ys[idx[b]]
	})
	var out plotter.XYs
	best := math.Inf(-1)
	for _, i := range idx {
		if ys[i] > best {
			out = append(out, plotter.XY{X: xs[i], Y: ys[i]})
			best = ys[i]
		}
	}
	return out
}

// panel plots accuracy (%) against x, labelling every variant and joining
// the variants on the panel's Pareto front.
func panel(title, xlabel string, xs, ys []float64, names []string, logX bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "accuracy (%)"
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	pts := make(plotter.XYs, len(xs))
	for i := range xs {
		pts[i] = plotter.XY{X: xs[i], Y: ys[i]}
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyle.Radius = vg.Points(3)
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	front := front2D(xs, ys)
	line, err := plotter.NewLine(front)
	if err != nil {
		return nil, err
	}
	line.LineStyle.Width = vg.Points(1)
	line.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	p.Add(plotter.NewGrid(), line, sc)
	// Leave room for the labels right of the points.
	lo, hi := minMax(xs)
	if logX {
		p.X.Min, p.X.Max = lo/1.5, hi*3
	} else {
		p.X.Min, p.X.Max = lo-0.05*(hi-lo+1e-9), hi+0.35*(hi-lo+1e-9)
	}
	ylo, yhi := minMax(ys)
	pad := math.Max(0.1, 0.1*(yhi-ylo))
	p.Y.Min, p.Y.Max = ylo-pad, yhi+pad
	// Label each point, moving a label up or down a line when it would
	// cover one placed before (positions in fractions of the panel).
	norm := func(x, y float64) (float64, float64) {
		fx := (x - p.X.Min) / (p.X.Max - p.X.Min)
		if logX {
			fx = math.Log(x/p.X.Min) / math.Log(p.X.Max/p.X.Min)
		}
		return fx, (y - p.Y.Min) / (p.Y.Max - p.Y.Min)
	}
	type box struct{ x0, x1, y0, y1 float64 }
	var placed []box
	// A label line is about 10 points of a plot area about 280 points
	// high; an 8-point character about 1.25% of the width.
	const panelPt, lineH, char = 280.0, 10.0 / 280, 0.0125
	for _, i := range orderByX(xs) {
		fx, fy := norm(xs[i], ys[i])
		var b box
		off := 0.0
		for k := 0; k < 12; k++ {
			off = float64((k+1)/2) * lineH
			if k%2 == 1 {
				off = -off
			}
			b = box{fx, fx + char*float64(len(names[i])), fy + off, fy + off + lineH}
			clear := true
			for _, o := range placed {
				if b.x0 < o.x1 && o.x0 < b.x1 && b.y0 < o.y1 && o.y0 < b.y1 {
					clear = false
					break
				}
			}
			if clear {
				break
			}
		}
		placed = append(placed, b)
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{pts[i]}, Labels: []string{names[i]}})
		if err != nil {
			return nil, err
		}
		l.TextStyle[0].Font.Size = vg.Points(8)
		l.TextStyle[0].XAlign = draw.XLeft
		l.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(off*panelPt + 2)}
		p.Add(l)
	}
	p.Legend.Add("Pareto front", line)
	p.Legend.Top = false
	p.Legend.Left = true
	return p, nil
}

// orderByX returns point indices from left to right.
func orderByX(xs []float64) []int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	return idx
}

func minMax(v []float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// Plot draws a PNG of accuracy against size (log scale) and, when every
// report has a latency, against latency, with each variant labelled and
// each panel's Pareto front dashed. Every report needs an accuracy.
func Plot(w io.Writer, title string, rs []compress.Report) error {
	if len(rs) == 0 {
		return errors.New("pareto: no reports to plot")
	}
	acc, lat := measures(rs)
	if !acc {
		return errors.New("pareto: every report needs an accuracy to plot")
	}
	names := make([]string, len(rs))
	size := make([]float64, len(rs))
	accs := make([]float64, len(rs))
	ms := make([]float64, len(rs))
	for i, r := range rs {
		if r.Bytes <= 0 {
			return fmt.Errorf("pareto: report %q has no size", r.Name)
		}
		names[i] = r.Name
		size[i] = float64(r.Bytes) / 1024
		accs[i] = 100 * r.Accuracy
		ms[i] = float64(r.Latency) / 1e6
	}
	plots := [][]*plot.Plot{{nil}}
	p, err := panel(title+": accuracy vs size", "size (KiB, log scale)", size, accs, names, true)
	if err != nil {
		return err
	}
	plots[0][0] = p
	width := 16 * vg.Centimeter
	if lat {
		q, err := panel(title+": accuracy vs latency", "latency (ms, batch 1)", ms, accs, names, false)
		if err != nil {
			return err
		}
		plots[0] = append(plots[0], q)
		width = 30 * vg.Centimeter
	}
	img := vgimg.New(width, 12*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots[0]), PadX: vg.Centimeter, PadTop: vg.Millimeter * 3,
		PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(plots, tiles, dc)
	for i, p := range plots[0] {
		p.Draw(canvases[0][i])
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// PlotFile writes Plot's PNG to path.
func PlotFile(path, title string, rs []compress.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("pareto: %w", err)
	}
	if err := Plot(f, title, rs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
