package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// plotScaling draws objects/s against workers (log scale), for marketrail and the fetch-only
// floor, as a PNG.
func plotScaling(path string, tiny *trailArchive, scaling []*scalePoint) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%d tiny log files from the S3 server on 127.0.0.1", len(tiny.logFiles))
	p.X.Label.Text = "workers (concurrent GETs)"
	p.Y.Label.Text = "objects per second"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	n := float64(len(tiny.logFiles))
	var mr, fl plotter.XYs
	for _, s := range scaling {
		f, _ := median(s.fetch)
		m, _ := median(s.marketrail)
		fl = append(fl, plotter.XY{X: float64(s.workers), Y: n / f.Seconds()})
		mr = append(mr, plotter.XY{X: float64(s.workers), Y: n / m.Seconds()})
	}
	for _, series := range []struct {
		name string
		xy   plotter.XYs
		c    color.RGBA
	}{{"fetch only (floor)", fl, color.RGBA{R: 120, G: 120, B: 120, A: 255}}, {"marketrail run", mr, color.RGBA{R: 20, G: 90, B: 200, A: 255}}} {
		line, points, err := plotter.NewLinePoints(series.xy)
		if err != nil {
			return err
		}
		line.Color, points.Color = series.c, series.c
		p.Add(line, points)
		p.Legend.Add(series.name, line, points)
	}
	p.Add(plotter.NewGrid())
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}
