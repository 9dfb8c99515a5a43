// Command icongen draws Token Stats' icons: icon.png (256×256, the app icon) and tray.png (64×64). The icon
// is drawn, not copied: a rounded square in deep teal with three rising white bars, the "stats" of the
// name. The tray icon is the same square; its coloured background and white bars read on light and dark
// panels alike. tray-warn.png and tray-alert.png are the tray icon in amber and in red, shown while a
// limit is past its first threshold or at 100 %. Run with `go generate ./assets/icons`.
package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	for _, f := range []struct {
		name string
		size int
		bg   gradient
	}{{"icon.png", 256, teal}, {"tray.png", 64, teal}, {"tray-warn.png", 64, amber}, {"tray-alert.png", 64, red}} {
		if err := write(filepath.Join(dir, f.name), draw(f.size, f.bg)); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

func write(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}

// gradient is a background from the top colour to the bottom one.
type gradient struct{ top, bottom [3]float64 }

var (
	teal  = gradient{[3]float64{0x12, 0x9a, 0x8c}, [3]float64{0x1e, 0x4f, 0xb8}}
	amber = gradient{[3]float64{0xc2, 0x6a, 0x00}, [3]float64{0x9a, 0x4a, 0x00}}
	red   = gradient{[3]float64{0xd3, 0x2f, 0x2f}, [3]float64{0xa3, 0x12, 0x12}}
)

// draw renders the icon at size×size with 4×4 supersampling, so edges are smooth at every size.
func draw(size int, bg gradient) *image.NRGBA {
	const ss = 4
	s := float64(size)
	margin := s * 0.06
	radius := s * 0.22
	// Bars: x from, x to, top (as fractions of the square), bottom shared.
	bars := [][3]float64{{0.22, 0.36, 0.56}, {0.43, 0.57, 0.40}, {0.64, 0.78, 0.22}}
	const barBottom = 0.78
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := float64(x) + (float64(sx)+0.5)/ss
					py := float64(y) + (float64(sy)+0.5)/ss
					if !inRoundRect(px, py, margin, margin, s-margin, s-margin, radius) {
						continue
					}
					// Background: a vertical gradient (teal at the top to deep blue at the bottom, for the
					// normal icons).
					t := (py - margin) / (s - 2*margin)
					cr, cg, cb := lerp(bg.top[0], bg.bottom[0], t), lerp(bg.top[1], bg.bottom[1], t), lerp(bg.top[2], bg.bottom[2], t)
					fx, fy := px/s, py/s
					for _, bar := range bars {
						if fx >= bar[0] && fx <= bar[1] && fy >= bar[2] && fy <= barBottom {
							cr, cg, cb = 255, 255, 255
						}
					}
					r, g, b, a = r+cr, g+cg, b+cb, a+1
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(x, y, color.NRGBA{
				R: uint8(math.Round(r / a)), G: uint8(math.Round(g / a)), B: uint8(math.Round(b / a)),
				A: uint8(math.Round(255 * a / (ss * ss))),
			})
		}
	}
	return img
}

func lerp(a, b, t float64) float64 { return a + (b-a)*t }

func inRoundRect(x, y, x0, y0, x1, y1, r float64) bool {
	if x < x0 || x > x1 || y < y0 || y > y1 {
		return false
	}
	cx := math.Max(x0+r, math.Min(x, x1-r))
	cy := math.Max(y0+r, math.Min(y, y1-r))
	dx, dy := x-cx, y-cy
	return dx*dx+dy*dy <= r*r
}
