package harness

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Plots are drawn twice from one chart model: PNG (plot_png.go, embedded in
// report.md) and SVG (real text for axes and legends, sharp at any size).

var plotColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"}

// series is one line of a chart.
type series struct {
	name string
	xs   []float64
	ys   []float64
}

// chart draws lines on a log-scaled y axis (latency) or a linear one.
type chart struct {
	title, xLabel, yLabel string
	logY                  bool
	xTicks                []tick
	lines                 []series
}

type tick struct {
	at    float64
	label string
}

const (
	plotW, plotH                       = 720, 420
	padLeft, padRight, padTop, padBott = 70, 170, 40, 50
)

// frame is a chart's coordinate system: y ticks and the data-to-pixel maps.
type frame struct {
	yTicks         []tick
	innerW, innerH float64
	px, py         func(float64) float64
}

func (c *chart) frame() (*frame, error) {
	minX, maxX := math.Inf(1), math.Inf(-1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, s := range c.lines {
		for i := range s.xs {
			minX, maxX = min(minX, s.xs[i]), max(maxX, s.xs[i])
			if !c.logY || s.ys[i] > 0 {
				minY, maxY = min(minY, s.ys[i]), max(maxY, s.ys[i])
			}
		}
	}
	for _, t := range c.xTicks {
		minX, maxX = min(minX, t.at), max(maxX, t.at)
	}
	if math.IsInf(minX, 0) || math.IsInf(minY, 0) {
		return nil, fmt.Errorf("plot %q: no data", c.title)
	}
	if maxX == minX {
		maxX = minX + 1
	}
	f := &frame{}
	if c.logY {
		lo, hi := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
		if hi == lo {
			hi++
		}
		minY, maxY = math.Pow(10, lo), math.Pow(10, hi)
		for e := lo; e <= hi; e++ {
			f.yTicks = append(f.yTicks, tick{math.Pow(10, e), formatNum(math.Pow(10, e))})
		}
	} else {
		minY = 0
		if maxY <= 0 {
			maxY = 1
		}
		step := niceStep(maxY / 5)
		maxY = math.Ceil(maxY/step) * step
		for v := 0.0; v <= maxY+step/2; v += step {
			f.yTicks = append(f.yTicks, tick{v, formatNum(v)})
		}
	}
	f.innerW, f.innerH = float64(plotW-padLeft-padRight), float64(plotH-padTop-padBott)
	f.px = func(x float64) float64 { return padLeft + (x-minX)/(maxX-minX)*f.innerW }
	f.py = func(y float64) float64 {
		r := (y - minY) / (maxY - minY)
		if c.logY {
			r = (math.Log10(max(y, minY)) - math.Log10(minY)) / (math.Log10(maxY) - math.Log10(minY))
		}
		return padTop + (1-r)*f.innerH
	}
	return f, nil
}

// write draws the chart as SVG.
func (c *chart) write(w io.Writer) error {
	f, err := c.frame()
	if err != nil {
		return err
	}
	yTicks, innerW, innerH, px, py := f.yTicks, f.innerW, f.innerH, f.px, f.py
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15">%s</text>`+"\n", padLeft, html.EscapeString(c.title))
	for _, t := range yTicks {
		y := py(t.at)
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			padLeft, padLeft+innerW, y, y, padLeft-6, y+4, t.label)
	}
	for _, t := range c.xTicks {
		x := px(t.at)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			x, x, padTop, padTop+innerH, x, padTop+innerH+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", padLeft, padTop, innerW, innerH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", padLeft+innerW/2, plotH-10, html.EscapeString(c.xLabel))
	fmt.Fprintf(&b, `<text transform="translate(16,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padTop+innerH/2, html.EscapeString(c.yLabel))
	for i, s := range c.lines {
		color := plotColors[i%len(plotColors)]
		var pts []string
		for j := range s.xs {
			if c.logY && s.ys[j] <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.xs[j]), py(s.ys[j])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", x, y, color)
		}
		ly := padTop + 10 + i*18
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%.0f" y="%d">%s</text>`+"\n",
			padLeft+innerW+12, padLeft+innerW+32, ly, ly, color, padLeft+innerW+38, ly+4, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	_, err = io.WriteString(w, b.String())
	return err
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func formatNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

// percentilesPlotted are the x positions of latency charts.
var percentilesPlotted = []float64{0.5, 0.75, 0.9, 0.99, 0.999, 0.9999}

// nines maps a percentile to its "number of nines", which spreads the tail.
func nines(p float64) float64 { return -math.Log10(1 - p) }

// WritePlots writes latency-<scenario>.png (latency by percentile, one line
// per system) and throughput.png (requests/s against concurrency for the
// closed-loop non-streaming h1 scenarios), each also as .svg, into dir and
// returns the PNG names.
func (r *Report) WritePlots(dir string) ([]string, error) {
	var names []string
	// Each chart is written as PNG (what the report shows) and SVG (sharp
	// at any size, text searchable).
	write := func(name string, c *chart) error {
		for _, out := range []struct {
			ext  string
			draw func(io.Writer) error
		}{{".png", c.writePNG}, {".svg", c.write}} {
			f, err := os.Create(filepath.Join(dir, name+out.ext))
			if err != nil {
				return err
			}
			err = out.draw(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		names = append(names, name+".png")
		return nil
	}
	var ticks []tick
	for _, p := range percentilesPlotted {
		ticks = append(ticks, tick{nines(p), strings.TrimSuffix(fmt.Sprintf("p%g", p*100), ".0")})
	}
	seen := map[string]bool{}
	for _, run := range r.Runs {
		sc := run.Scenario.Name
		if seen[sc] {
			continue
		}
		seen[sc] = true
		c := &chart{title: "latency by percentile: " + sc, xLabel: "percentile", yLabel: "latency (µs)", logY: true, xTicks: ticks}
		for _, s := range r.Systems {
			sr := r.find(s.Name, sc)
			if sr == nil || sr.Load == nil || sr.Load.Latency == nil || sr.Load.Latency.Count() == 0 {
				continue
			}
			line := series{name: s.Name}
			for _, p := range percentilesPlotted {
				line.xs = append(line.xs, nines(p))
				line.ys = append(line.ys, float64(sr.Load.Latency.Quantile(p))/float64(time.Microsecond))
			}
			c.lines = append(c.lines, line)
		}
		if len(c.lines) == 0 {
			continue
		}
		if err := write("latency-"+sc, c); err != nil {
			return names, err
		}
	}
	tp := &chart{title: "throughput vs concurrency (non-streaming, closed loop, h1)", xLabel: "concurrent connections (log scale)", yLabel: "requests/s"}
	concs := map[int]bool{}
	for _, s := range r.Systems {
		line := series{name: s.Name}
		var runs []*Run
		for _, run := range r.Runs {
			if run.System == s.Name && !run.Scenario.Stream && run.Scenario.Rate == 0 && !run.Scenario.MockOnSUT && run.Scenario.Proto == "h1" && run.Load != nil {
				runs = append(runs, run)
			}
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i].Scenario.Concurrency < runs[j].Scenario.Concurrency })
		for _, run := range runs {
			concs[run.Scenario.Concurrency] = true
			line.xs = append(line.xs, math.Log2(float64(run.Scenario.Concurrency)))
			line.ys = append(line.ys, run.Load.Throughput())
		}
		if len(line.xs) > 1 {
			tp.lines = append(tp.lines, line)
		}
	}
	for c := range concs {
		tp.xTicks = append(tp.xTicks, tick{math.Log2(float64(c)), fmt.Sprint(c)})
	}
	sort.Slice(tp.xTicks, func(i, j int) bool { return tp.xTicks[i].at < tp.xTicks[j].at })
	if len(tp.lines) > 0 {
		if err := write("throughput", tp); err != nil {
			return names, err
		}
	}
	return names, nil
}
