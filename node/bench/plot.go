package bench

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PlotFile draws measured latency against uplink bandwidth (both axes
// logarithmic) for the planner, the oracle and the single-tier
// placements, and writes it to path (.png, .svg or .pdf).
func PlotFile(path string, rep *Report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: device %gx, edge %gx, RTT %g ms", modelName(rep.Model), rep.DeviceSlowdown,
		rep.EdgeSlowdown, rep.RTTMs)
	p.X.Label.Text = "device uplink (Mbit/s)"
	p.Y.Label.Text = "measured latency (ms)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	series := []struct {
		name  string
		get   func(Row) float64
		color color.RGBA
		dash  bool
		width float64
	}{
		{"all-device", func(r Row) float64 { return r.AllDeviceMs }, color.RGBA{R: 200, G: 60, B: 40, A: 255}, true, 1},
		{"all-edge", func(r Row) float64 { return r.AllEdgeMs }, color.RGBA{R: 60, G: 140, B: 60, A: 255}, true, 1},
		{"all-cloud", func(r Row) float64 { return r.AllCloudMs }, color.RGBA{R: 130, G: 80, B: 170, A: 255}, true, 1},
		{"oracle (best measured)", func(r Row) float64 { return r.OracleMs }, color.RGBA{A: 255}, false, 3},
		{"planner", func(r Row) float64 { return r.PlannerMs }, color.RGBA{R: 30, G: 110, B: 220, A: 255}, false, 1.5},
	}
	for _, s := range series {
		var pts plotter.XYs
		for _, r := range rep.Rows {
			if v := s.get(r); v > 0 && r.Mbps > 0 {
				pts = append(pts, plotter.XY{X: r.Mbps, Y: v})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = s.color, s.color
		l.Width = vg.Points(s.width)
		if s.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	return save(p, path)
}

// PlotCascadeFile draws the cascade's accuracy against the fraction of
// inputs offloaded, one point per threshold (labelled), with the small
// and big models' own accuracies as dashed lines, and writes it to path
// (.png, .svg or .pdf).
func PlotCascadeFile(path string, rep *CascadeReport) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("cascade: %s -> %s (%d inputs)", modelName(rep.Small), modelName(rep.Big), rep.Inputs)
	p.X.Label.Text = "inputs offloaded to the edge (%)"
	p.Y.Label.Text = "accuracy (%)"
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false
	var pts plotter.XYs
	var labels []string
	for _, r := range rep.Rows {
		pts = append(pts, plotter.XY{X: 100 * r.Fraction, Y: 100 * r.Accuracy})
		labels = append(labels, fmt.Sprintf("  t=%g, %.1f ms", r.Threshold, r.MeanMs))
	}
	if len(pts) == 0 {
		return fmt.Errorf("bench: no cascade rows to plot")
	}
	l, sc, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	blue := color.RGBA{R: 30, G: 110, B: 220, A: 255}
	l.Color, sc.Color = blue, blue
	l.Width = vg.Points(1.5)
	p.Add(l, sc)
	p.Legend.Add("cascade (threshold, mean latency)", l, sc)
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].Font.Size = vg.Points(7)
	}
	p.Add(lab)
	for _, ref := range []struct {
		name string
		acc  float64
		c    color.RGBA
	}{
		{"small model alone", rep.SmallAccuracy, color.RGBA{R: 200, G: 60, B: 40, A: 255}},
		{"big model alone", rep.BigAccuracy, color.RGBA{R: 60, G: 140, B: 60, A: 255}},
	} {
		hl, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 100 * ref.acc}, {X: 100, Y: 100 * ref.acc}}) // clipped to X.Max
		if err != nil {
			return err
		}
		hl.Color = ref.c
		hl.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(hl)
		p.Legend.Add(ref.name, hl)
	}
	hi := 0.0
	for _, q := range pts {
		hi = max(hi, q.X)
	}
	p.X.Min, p.X.Max = 0, min(100, 1.3*hi+5)
	return save(p, path)
}

// save writes p to path in the format its extension names (png default).
func save(p *plot.Plot, path string) error {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if ext == "" {
		ext = "png"
	}
	wt, err := p.WriterTo(18*vg.Centimeter, 12*vg.Centimeter, ext)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// modelName names a model file for a title: its base name, or its folder's
// when the file is the model zoo's usual model.onnx.
func modelName(path string) string {
	if b := filepath.Base(path); b != "model.onnx" {
		return b
	}
	return filepath.Base(filepath.Dir(path))
}
