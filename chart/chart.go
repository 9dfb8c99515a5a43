// Package chart renders Token Stats' trend charts with go-chart, for both the desktop window and the
// browser tab (PNG images; SVG for API clients), and holds the one policy both follow (policy.go): which
// granularity a range is drawn at, how many series are named, where "all time" starts, which colour a
// name has (color.go). It knows nothing of Fyne or HTTP, so the renderer can be swapped in one place.
//
// go-chart v2.1.2 is archived and has sharp edges this package files off: it refuses to draw fewer than two
// x values or a flat range (empty, single-point and all-zero data), and its SVG writer does not escape text.
// The stacked areas are drawn by this package (stack.go), so partial periods and patterns are possible
// and the plot's position is known for hovering.
package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"io"
	"math"
	"strings"

	"github.com/golang/freetype/truetype"
	gochart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

// Options size and style a chart.
type Options struct {
	Width, Height int     // logical pixels
	Scale         float32 // device pixels per logical pixel (HiDPI); <=0 means 1
	Dark          bool    // dark theme colours
	NoDataText    string  // shown when there is nothing to draw; "" means "No data in this range"
	PartialText   string  // the legend's name for a period in progress; "" means "in progress"
	Font          *Font   // nil: go-chart's Roboto, which has no CJK glyphs
}

// Font is a TrueType font the chart writes its text with.
type Font struct{ f *truetype.Font }

// LoadFont parses a TrueType font (glyf outlines; OpenType/CFF fonts are not read).
func LoadFont(ttf []byte) (*Font, error) {
	f, err := truetype.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("chart font: %w", err)
	}
	return &Font{f}, nil
}

// Has tells whether the font has a glyph for r.
func (f *Font) Has(r rune) bool { return f.f.Index(r) != 0 }

func (o Options) font() (*truetype.Font, error) {
	if o.Font != nil {
		return o.Font.f, nil
	}
	f, err := gochart.GetDefaultFont()
	if err != nil {
		return nil, fmt.Errorf("chart font: %w", err)
	}
	return f, nil
}

// OtherName is the series FromTrend puts everything outside the top N into (callers translate it).
const OtherName = "other"

// DefaultNoDataText is what an empty chart says.
const DefaultNoDataText = "No data in this range"

// Layout is where a rendering put its plot, in device pixels of the image: the periods run from Left
// to Right in equal widths, values from Bottom (0) up. Periods is 0 for the "no data" image.
type Layout struct {
	Width, Height            int
	Left, Top, Right, Bottom int
	Periods                  int
}

// Period is the period under x (device pixels), or -1 outside the plot.
func (l Layout) Period(x, y float64) int {
	if l.Periods == 0 || x < float64(l.Left) || x >= float64(l.Right) || y < float64(l.Top) || y > float64(l.Bottom) {
		return -1
	}
	i := int((x - float64(l.Left)) / float64(l.Right-l.Left) * float64(l.Periods))
	return min(max(i, 0), l.Periods-1)
}

// PNG renders the chart as an image of Width*Scale x Height*Scale device pixels.
func PNG(in Input, opt Options) (image.Image, Layout, error) {
	var iw gochart.ImageWriter
	lay, err := render(gochart.PNG, &iw, in, opt)
	if err != nil {
		return nil, lay, err
	}
	img, err := iw.Image()
	if err != nil {
		return nil, lay, fmt.Errorf("chart image: %w", err)
	}
	return img, lay, nil
}

// SVG writes the chart as an SVG document (viewBox Width*Scale x Height*Scale), every text escaped. Its
// text is drawn by the viewer with the font named in it, so Chinese needs a CJK font where it is viewed.
func SVG(w io.Writer, in Input, opt Options) (Layout, error) {
	var buf bytes.Buffer
	lay, err := render(escapedSVG, &buf, in, opt)
	if err != nil {
		return lay, err
	}
	_, err = w.Write(buf.Bytes())
	return lay, err
}

// escapedSVG wraps go-chart's SVG renderer, which writes text bodies into the document as they are: a
// series named "<img …>" would become markup.
func escapedSVG(width, height int) (gochart.Renderer, error) {
	r, err := gochart.SVG(width, height)
	if err != nil {
		return nil, err
	}
	return escapingRenderer{r}, nil
}

type escapingRenderer struct{ gochart.Renderer }

func (e escapingRenderer) Text(body string, x, y int) {
	var b strings.Builder
	xml.EscapeText(&b, []byte(body)) // also replaces characters XML cannot hold; never fails on a Builder
	e.Renderer.Text(b.String(), x, y)
}

// look holds the colours of one theme.
type look struct {
	background, text, axis, grid, frame drawing.Color
}

var (
	light = look{
		background: hex("ffffff"), text: hex("333333"), axis: hex("8a8a8a"), grid: hex("e8e8e8"), frame: hex("d0d0d0"),
	}
	darkLook = look{
		background: hex("1f2329"), text: hex("d5d9de"), axis: hex("8b929a"), grid: hex("353b43"), frame: hex("4a515a"),
	}
)

// geometry is the device-pixel geometry of one rendering.
type geometry struct {
	w, h  int
	scale float64
	th    look
	font  *truetype.Font
}

func newGeometry(opt Options, font *truetype.Font) geometry {
	s := float64(opt.Scale)
	if s <= 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		s = 1
	}
	w, h := opt.Width, opt.Height
	if w <= 0 {
		w = 800
	}
	if h <= 0 {
		h = 300
	}
	g := geometry{w: int(math.Round(float64(w) * s)), h: int(math.Round(float64(h) * s)), scale: s, th: light, font: font}
	g.w, g.h = max(g.w, 1), max(g.h, 1)
	if opt.Dark {
		g.th = darkLook
	}
	return g
}

// px converts logical pixels to device pixels.
func (g geometry) px(v float64) int { return int(math.Round(v * g.scale)) }

// dpi makes go-chart's font sizes (points) logical pixels at this scale.
func (g geometry) dpi() float64 { return 72 * g.scale }

// clean copies the input with every series and list as long as the labels, and values that are not
// finite non-negative numbers as 0. It reports whether anything is left to draw.
func clean(in Input) (Input, bool) {
	n := len(in.Labels)
	out := Input{Labels: in.Labels, Times: make([]string, n), Partial: make([]bool, n), Unit: in.Unit}
	copy(out.Times, in.Times)
	copy(out.Partial, in.Partial)
	any := false
	for _, s := range in.Series {
		c := Series{Name: s.Name, Label: s.Label, Other: s.Other, Values: make([]float64, n)}
		for i := 0; i < n && i < len(s.Values); i++ {
			if v := s.Values[i]; v > 0 && !math.IsInf(v, 0) {
				c.Values[i] = v
				any = true
			}
		}
		out.Series = append(out.Series, c)
	}
	return out, any && n > 0
}

func render(rp gochart.RendererProvider, w io.Writer, in Input, opt Options) (Layout, error) {
	font, err := opt.font()
	if err != nil {
		return Layout{}, err
	}
	g := newGeometry(opt, font)
	lay := Layout{Width: g.w, Height: g.h}
	in, ok := clean(in)
	if !ok {
		text := opt.NoDataText
		if text == "" {
			text = DefaultNoDataText
		}
		return lay, renderNoData(rp, w, g, text)
	}
	partial := opt.PartialText
	if partial == "" {
		partial = "in progress"
	}
	c, st := buildChart(in, g, partial)
	if err := c.Render(rp, w); err != nil {
		return lay, fmt.Errorf("render chart: %w", err)
	}
	b := st.box
	lay.Left, lay.Top, lay.Right, lay.Bottom, lay.Periods = b.Left, b.Top, b.Right, b.Bottom, in.Periods()
	return lay, nil
}

// renderNoData draws a framed message, so an empty range never looks like a broken or blank image.
func renderNoData(rp gochart.RendererProvider, w io.Writer, g geometry, text string) error {
	r, err := rp(g.w, g.h)
	if err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	r.SetDPI(g.dpi())
	gochart.Draw.Box(r, gochart.Box{Right: g.w, Bottom: g.h}, gochart.Style{FillColor: g.th.background})
	in := g.px(8)
	gochart.Draw.Box(r, gochart.Box{Left: in, Top: in, Right: g.w - in, Bottom: g.h - in}, gochart.Style{
		StrokeColor: g.th.frame, StrokeWidth: math.Max(1, g.scale), StrokeDashArray: []float64{4 * g.scale, 4 * g.scale},
		FillColor: g.th.background,
	})
	st := gochart.Style{Font: g.font, FontSize: 14, FontColor: g.th.text}
	st.WriteTextOptionsToRenderer(r)
	tb := r.MeasureText(text)
	r.Text(text, (g.w-tb.Width())/2, (g.h+tb.Height())/2)
	if err := r.Save(w); err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	return nil
}

func buildChart(in Input, g geometry, partialText string) (gochart.Chart, *stack) {
	st := newStack(in, g)
	legend := layoutLegend(in, st.swatches, g, gochart.Style{Font: g.font, FontSize: 11, FontColor: g.th.text}, partialText)
	pad := g.px(8)
	c := gochart.Chart{
		Width: g.w, Height: g.h, DPI: g.dpi(), Font: g.font,
		Background: gochart.Style{
			FillColor: g.th.background, StrokeColor: g.th.background,
			Padding: gochart.Box{Top: pad + g.px(4), Left: pad, Right: pad, Bottom: pad + legend.height},
		},
		Canvas: gochart.Style{FillColor: g.th.background, StrokeColor: g.th.background},
		Series: []gochart.Series{st},
	}
	axisStyle := gochart.Style{FontSize: 10, FontColor: g.th.text, StrokeColor: g.th.axis,
		StrokeWidth: math.Max(1, g.scale), Font: g.font}
	c.YAxis = gochart.YAxis{
		Style:          axisStyle,
		Ticks:          yTicks(st.top, in.Unit),
		GridMajorStyle: gochart.Style{StrokeColor: g.th.grid, StrokeWidth: math.Max(1, g.scale)},
		Range:          &gochart.ContinuousRange{},
	}
	c.XAxis = gochart.XAxis{
		Style:          axisStyle,
		Ticks:          xTicks(in.Labels, g, axisStyle),
		GridMajorStyle: gochart.Style{Hidden: true},
		GridMinorStyle: gochart.Style{Hidden: true},
		Range:          &gochart.ContinuousRange{},
	}
	c.YAxisSecondary = gochart.HideYAxis() // drawn otherwise, with labels at nonsense coordinates
	c.Elements = []gochart.Renderable{legend.draw}
	return c, st
}

// yTicks runs from 0 to a round number at or above top, in four or five steps.
func yTicks(top float64, u Unit) []gochart.Tick {
	step := niceStep(top / 4)
	end := math.Ceil(top/step-1e-9) * step
	var ticks []gochart.Tick
	for v := 0.0; v <= end+step/2; v += step {
		ticks = append(ticks, gochart.Tick{Value: v, Label: u.Axis(v)})
	}
	return ticks
}

// niceStep rounds up to 1, 2, 2.5 or 5 times a power of ten; never below 1, as tokens (and nano-dollars)
// are whole.
func niceStep(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p+1e-9 {
			return m * p
		}
	}
	return 10 * p
}

// xTicks labels period i at i+0.5, as many as fit without overlapping, always including the newest one.
// Unlabelled ticks at 0 and n pin the axis to the whole window (go-chart spans its range over the ticks).
func xTicks(labels []string, g geometry, text gochart.Style) []gochart.Tick {
	n := len(labels)
	widest, width := 0, textWidth(g, text)
	for _, s := range labels {
		widest = max(widest, width(s))
	}
	room := g.w - g.px(80) // minus the y axis labels and padding
	fit := max(1, room/max(1, widest+g.px(14)))
	stride := (n + fit - 1) / fit
	ticks := []gochart.Tick{{Value: 0}}
	for i := 0; i < n; i++ {
		if (n-1-i)%stride == 0 {
			ticks = append(ticks, gochart.Tick{Value: float64(i) + 0.5, Label: labels[i]})
		}
	}
	return append(ticks, gochart.Tick{Value: float64(n)})
}

// textWidth measures text in device pixels with one scratch renderer (the font metrics the PNG and SVG
// renderers share).
func textWidth(g geometry, text gochart.Style) func(string) int {
	r, err := gochart.PNG(1, 1)
	if err != nil {
		return func(s string) int { return len([]rune(s)) * g.px(7) }
	}
	r.SetDPI(g.dpi())
	text.WriteTextOptionsToRenderer(r)
	return func(s string) int { return r.MeasureText(s).Width() }
}
