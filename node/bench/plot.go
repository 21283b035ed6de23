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
	p.Title.Text = fmt.Sprintf("%s: device %gx, edge %gx, RTT %g ms", filepath.Base(rep.Model), rep.DeviceSlowdown,
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
