package ui

import (
	"image"
	"image/color"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"

	"github.com/tokenstats/tokenstats/chart"
)

// dotSize is the side of a colour dot in canvas units.
const dotSize = 10

// dot is a name's colour as the chart paints it: a filled circle, striped as its series is when it shares
// its colour with another series of the chart.
type dot struct {
	*canvas.Raster
	sw chart.Swatch
}

func newDot() *dot {
	d := &dot{}
	d.Raster = canvas.NewRaster(d.draw)
	d.SetMinSize(fyne.NewSize(dotSize, dotSize))
	return d
}

// set paints the dot; a zero swatch hides it.
func (d *dot) set(sw chart.Swatch) {
	if d.sw == sw {
		return
	}
	d.sw = sw
	d.Refresh()
}

func (d *dot) draw(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	if d.sw.Color == "" {
		return img
	}
	c := hexColor(d.sw.Color)
	r, g, b, _ := theme.Color(theme.ColorNameBackground).RGBA()
	bg := color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
	side := float64(min(w, h))
	rad := side / 2
	cx, cy := float64(w)/2, float64(h)/2
	step := math.Max(3, side/3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			cover := rad - math.Hypot(dx, dy) + 0.5 // anti-aliased edge
			if cover <= 0 {
				continue
			}
			px := c
			if stripe(d.sw.Pattern, float64(x), float64(y), step) {
				px = bg
			}
			px.A = uint8(255 * math.Min(1, cover))
			img.SetNRGBA(x, y, px)
		}
	}
	return img
}

// stripe tells whether a pixel lies on the pattern's lines (a third of each step wide).
func stripe(p chart.Pattern, x, y, step float64) bool {
	on := func(v float64) bool { return math.Mod(math.Mod(v, step)+step, step) < step/3 }
	switch p {
	case chart.Stripes:
		return on(x + y)
	case chart.BackStripes:
		return on(x - y)
	case chart.CrossHatch:
		return on(x+y) || on(x-y)
	}
	return false
}

func hexColor(s string) color.NRGBA {
	var v [3]uint8
	for i := range v {
		if len(s) >= 2*i+2 {
			var b uint8
			for _, ch := range s[2*i : 2*i+2] {
				b <<= 4
				switch {
				case ch >= '0' && ch <= '9':
					b |= uint8(ch - '0')
				case ch >= 'a' && ch <= 'f':
					b |= uint8(ch-'a') + 10
				case ch >= 'A' && ch <= 'F':
					b |= uint8(ch-'A') + 10
				}
			}
			v[i] = b
		}
	}
	return color.NRGBA{v[0], v[1], v[2], 255}
}
