package simulate

import (
	"fmt"
	"io"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one run to plot.
type Series struct {
	Name    string
	Records []Record
}

// Plot draws test accuracy against rounds (left) and against cumulative
// uplink megabytes (right) for each series, as a PNG, to w. Rounds that
// were not evaluated are skipped.
func Plot(w io.Writer, title string, series []Series) error {
	left, right := plot.New(), plot.New()
	left.Title.Text, right.Title.Text = title+": accuracy by round", title+": accuracy by uplink bytes"
	left.X.Label.Text, right.X.Label.Text = "round", "uplink (MB, cumulative)"
	left.Y.Label.Text, right.Y.Label.Text = "test accuracy (%)", "test accuracy (%)"
	left.Add(plotter.NewGrid())
	right.Add(plotter.NewGrid())
	points := 0
	for i, s := range series {
		var byRound, byBytes plotter.XYs
		for _, r := range s.Records {
			if r.Accuracy == nil {
				continue
			}
			acc := 100 * *r.Accuracy
			byRound = append(byRound, plotter.XY{X: float64(r.Round), Y: acc})
			byBytes = append(byBytes, plotter.XY{X: float64(r.BytesUpTotal) / 1e6, Y: acc})
		}
		if len(byRound) == 0 {
			continue
		}
		points += len(byRound)
		for _, side := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{left, byRound}, {right, byBytes}} {
			l, pts, err := plotter.NewLinePoints(side.xys)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(i)
			l.Width = vg.Points(1.5)
			pts.Color = plotutil.Color(i)
			pts.Shape = plotutil.Shape(i)
			pts.Radius = vg.Points(2)
			side.p.Add(l, pts)
			if side.p == left && len(series) > 1 {
				side.p.Legend.Add(s.Name, l, pts)
			}
		}
	}
	if points == 0 {
		return fmt.Errorf("simulate: nothing to plot (no evaluated round)")
	}
	left.Legend.Top, left.Legend.Left = false, false
	left.Legend.YOffs = vg.Centimeter
	plots := [][]*plot.Plot{{left, right}}
	img := vgimg.New(30*vg.Centimeter, 12*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: 3 * vg.Millimeter,
		PadBottom: 3 * vg.Millimeter, PadLeft: 3 * vg.Millimeter, PadRight: 3 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	left.Draw(canvases[0][0])
	right.Draw(canvases[0][1])
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// PlotFile writes Plot's PNG to path.
func PlotFile(path, title string, series []Series) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Plot(f, title, series); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
