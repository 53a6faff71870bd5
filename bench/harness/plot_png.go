package harness

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// asciiLabel spells the non-ASCII characters of labels with glyphs the
// bitmap font has.
var asciiLabel = strings.NewReplacer("µ", "u", "→", "->", "×", "x", "…", "...")

// canvas is an RGBA image with the few primitives a chart needs.
type canvas struct{ img *image.RGBA }

func (c canvas) set(x, y int, col color.Color, width int) {
	for dx := 0; dx < width; dx++ {
		for dy := 0; dy < width; dy++ {
			c.img.Set(x+dx-width/2, y+dy-width/2, col)
		}
	}
}

// line draws from (x0,y0) to (x1,y1) (Bresenham) with a square pen.
func (c canvas) line(x0, y0, x1, y1 float64, col color.Color, width int) {
	ax, ay, bx, by := int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x1)), int(math.Round(y1))
	dx, dy := abs(bx-ax), -abs(by-ay)
	sx, sy := sign(bx-ax), sign(by-ay)
	e := dx + dy
	for {
		c.set(ax, ay, col, width)
		if ax == bx && ay == by {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			ax += sx
		} else {
			e += dx
			ay += sy
		}
	}
}

func (c canvas) dot(x, y float64, r int, col color.Color) {
	cx, cy := int(math.Round(x)), int(math.Round(y))
	for dx := -r; dx <= r; dx++ {
		for dy := -r; dy <= r; dy++ {
			if dx*dx+dy*dy <= r*r {
				c.img.Set(cx+dx, cy+dy, col)
			}
		}
	}
}

// text draws s with its baseline at y; align is -1 (left), 0 (centre) or
// 1 (right) of x.
func (c canvas) text(x, y float64, s string, align int) {
	s = asciiLabel.Replace(s)
	face := basicfont.Face7x13
	d := &font.Drawer{Dst: c.img, Src: image.NewUniform(color.Black), Face: face}
	w := d.MeasureString(s).Round()
	x0 := int(math.Round(x))
	switch align {
	case 0:
		x0 -= w / 2
	case 1:
		x0 -= w
	}
	d.Dot = fixed.P(x0, int(math.Round(y)))
	d.DrawString(s)
}

// vtext draws s rotated a quarter turn anticlockwise, centred on (x, y).
func (c canvas) vtext(x, y float64, s string) {
	s = asciiLabel.Replace(s)
	face := basicfont.Face7x13
	w := font.MeasureString(face, s).Round()
	h := face.Metrics().Height.Round()
	tmp := canvas{image.NewRGBA(image.Rect(0, 0, w, h))}
	draw.Draw(tmp.img, tmp.img.Bounds(), image.White, image.Point{}, draw.Src)
	tmp.text(0, float64(face.Metrics().Ascent.Round()), s, -1)
	x0, y0 := int(math.Round(x))-h/2, int(math.Round(y))+w/2
	for i := 0; i < w; i++ {
		for j := 0; j < h; j++ {
			c.img.Set(x0+j, y0-i, tmp.img.At(i, j))
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

func parseColor(hex string) color.RGBA {
	v, _ := strconv.ParseUint(hex[1:], 16, 32)
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff}
}

// writePNG draws the chart as PNG, with the layout of the SVG.
func (c *chart) writePNG(w io.Writer) error {
	f, err := c.frame()
	if err != nil {
		return err
	}
	cv := canvas{image.NewRGBA(image.Rect(0, 0, plotW, plotH))}
	draw.Draw(cv.img, cv.img.Bounds(), image.White, image.Point{}, draw.Src)
	grid, light, frameCol := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}, color.RGBA{0xee, 0xee, 0xee, 0xff}, color.RGBA{0x33, 0x33, 0x33, 0xff}
	left, right, top, bottom := float64(padLeft), float64(padLeft)+f.innerW, float64(padTop), float64(padTop)+f.innerH
	cv.text(left, 22, c.title, -1)
	for _, t := range f.yTicks {
		y := f.py(t.at)
		cv.line(left, y, right, y, grid, 1)
		cv.text(left-6, y+4, t.label, 1)
	}
	for _, t := range c.xTicks {
		x := f.px(t.at)
		cv.line(x, top, x, bottom, light, 1)
		cv.text(x, bottom+16, t.label, 0)
	}
	cv.line(left, top, right, top, frameCol, 1)
	cv.line(left, bottom, right, bottom, frameCol, 1)
	cv.line(left, top, left, bottom, frameCol, 1)
	cv.line(right, top, right, bottom, frameCol, 1)
	cv.text(left+f.innerW/2, plotH-10, c.xLabel, 0)
	cv.vtext(16, top+f.innerH/2, c.yLabel)
	for i, s := range c.lines {
		col := parseColor(plotColors[i%len(plotColors)])
		var px, py []float64
		for j := range s.xs {
			if c.logY && s.ys[j] <= 0 {
				continue
			}
			px, py = append(px, f.px(s.xs[j])), append(py, f.py(s.ys[j]))
		}
		for j := range px {
			if j > 0 {
				cv.line(px[j-1], py[j-1], px[j], py[j], col, 2)
			}
			cv.dot(px[j], py[j], 3, col)
		}
		ly := float64(padTop + 10 + i*18)
		cv.line(right+12, ly, right+32, ly, col, 3)
		cv.text(right+38, ly+4, s.name, -1)
	}
	return png.Encode(w, cv.img)
}
