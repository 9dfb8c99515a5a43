// Package chart renders Token Stats' trend charts with go-chart, for both the desktop window (PNG images)
// and the browser tab (SVG), and holds the one policy both follow (policy.go): which granularity a range
// is drawn at, how many series are named, where "all time" starts. It knows nothing of Fyne or HTTP, so
// the renderer can be swapped in one place.
//
// go-chart v2.1.2 is archived and has sharp edges this package files off: it refuses to draw fewer than two
// x values or a flat range (empty, single-point and all-zero data), and its SVG writer does not escape text.
package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	gochart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"

	"github.com/tokenstats/tokenstats/stats"
)

// Series is one stacked layer: a name and one value per label.
type Series struct {
	Name   string
	Values []float64
}

// Input is what a chart shows: x labels (one per period, oldest first) and the stacked series, bottom first.
type Input struct {
	Labels []string
	Series []Series
}

// Options size and style a chart.
type Options struct {
	Width, Height int     // logical pixels
	Scale         float32 // device pixels per logical pixel (HiDPI); <=0 means 1
	Dark          bool    // dark theme colours
	NoDataText    string  // shown when there is nothing to draw; "" means "No data in this range"
}

// OtherName is the series FromTrend puts everything outside the top N into.
const OtherName = "other"

// DefaultNoDataText is what an empty chart says.
const DefaultNoDataText = "No data in this range"

// FromTrend turns a trend into chart input: the Top series by total tokens (largest at the bottom of the
// stack), then one OtherName series with the rest when there is a rest.
func FromTrend(tr stats.Trend) Input { return fromTrend(tr, Top) }

// fromTrend is FromTrend with top series named; top <= 0 keeps every series.
// Labels are the periods' local clock time: "15:00" for hourly periods ("Jan 02" at midnight, so days
// stay readable), "Jan 02" for daily ones ("2006-01-02" when the trend spans more than a year).
func fromTrend(tr stats.Trend, top int) Input {
	totals := map[string]float64{}
	for _, p := range tr.Periods {
		for name, v := range p.Values {
			totals[name] += float64(v)
		}
	}
	names := make([]string, 0, len(totals))
	for n, t := range totals {
		if t > 0 {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if a, b := totals[names[i]], totals[names[j]]; a != b {
			return a > b
		}
		return names[i] < names[j]
	})
	kept, rest := names, []string(nil)
	if top > 0 && len(names) > top {
		kept, rest = names[:top], names[top:]
	}
	in := Input{Labels: make([]string, len(tr.Periods))}
	for i, p := range tr.Periods {
		in.Labels[i] = periodLabel(tr, p)
	}
	for _, n := range kept {
		s := Series{Name: n, Values: make([]float64, len(tr.Periods))}
		for i, p := range tr.Periods {
			s.Values[i] = float64(p.Values[n])
		}
		in.Series = append(in.Series, s)
	}
	if len(rest) > 0 {
		s := Series{Name: OtherName, Values: make([]float64, len(tr.Periods))}
		for i, p := range tr.Periods {
			for _, n := range rest {
				s.Values[i] += float64(p.Values[n])
			}
		}
		in.Series = append(in.Series, s)
	}
	return in
}

// periodLabel reads the period's local clock label ("2006-01-02 15:00" or "2006-01-02"), which the store
// already wrote in its own zone, and falls back to Start when the label has another shape.
func periodLabel(tr stats.Trend, p stats.Period) string {
	layout := "2006-01-02 15:04"
	if tr.Granularity == stats.Daily {
		layout = "2006-01-02"
	}
	t, err := time.Parse(layout, p.Label)
	if err != nil {
		t = p.Start
	}
	if tr.Granularity == stats.Daily {
		if len(tr.Periods) > 366 {
			return t.Format("2006-01-02")
		}
		return t.Format("Jan 02")
	}
	if t.Hour() == 0 && t.Minute() == 0 {
		return t.Format("Jan 02")
	}
	return t.Format("15:04")
}

// PNG renders the chart as an image of Width*Scale x Height*Scale device pixels.
func PNG(in Input, opt Options) (image.Image, error) {
	var iw gochart.ImageWriter
	if err := render(gochart.PNG, &iw, in, opt); err != nil {
		return nil, err
	}
	img, err := iw.Image()
	if err != nil {
		return nil, fmt.Errorf("chart image: %w", err)
	}
	return img, nil
}

// SVG writes the chart as an SVG document (viewBox Width*Scale x Height*Scale), every text escaped.
func SVG(w io.Writer, in Input, opt Options) error {
	var buf bytes.Buffer
	if err := render(escapedSVG, &buf, in, opt); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
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

// theme holds the colours of one look.
type theme struct {
	background, text, axis, grid, frame drawing.Color
}

var (
	light = theme{
		background: drawing.ColorFromHex("ffffff"), text: drawing.ColorFromHex("333333"),
		axis: drawing.ColorFromHex("8a8a8a"), grid: drawing.ColorFromHex("e8e8e8"), frame: drawing.ColorFromHex("d0d0d0"),
	}
	dark = theme{
		background: drawing.ColorFromHex("1f2329"), text: drawing.ColorFromHex("d5d9de"),
		axis: drawing.ColorFromHex("8b929a"), grid: drawing.ColorFromHex("353b43"), frame: drawing.ColorFromHex("4a515a"),
	}
	// palette is readable on both backgrounds (Tableau 10); "other" is grey.
	palette = []drawing.Color{
		drawing.ColorFromHex("4e79a7"), drawing.ColorFromHex("f28e2b"), drawing.ColorFromHex("e15759"),
		drawing.ColorFromHex("76b7b2"), drawing.ColorFromHex("59a14f"), drawing.ColorFromHex("edc948"),
		drawing.ColorFromHex("b07aa1"), drawing.ColorFromHex("ff9da7"), drawing.ColorFromHex("9c755f"),
	}
	otherColor = drawing.ColorFromHex("a5a5a5")
)

// SeriesColor is the colour series i of n gets; the last series named OtherName is grey.
func SeriesColor(in Input, i int) drawing.Color {
	if i == len(in.Series)-1 && in.Series[i].Name == OtherName && i > 0 {
		return otherColor
	}
	return palette[i%len(palette)]
}

// layout is the device-pixel geometry of one rendering.
type layout struct {
	w, h  int
	scale float64
	th    theme
}

func newLayout(opt Options) layout {
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
	l := layout{w: int(math.Round(float64(w) * s)), h: int(math.Round(float64(h) * s)), scale: s, th: light}
	l.w, l.h = max(l.w, 1), max(l.h, 1)
	if opt.Dark {
		l.th = dark
	}
	return l
}

// px converts logical pixels to device pixels.
func (l layout) px(v float64) int { return int(math.Round(v * l.scale)) }

// dpi makes go-chart's font sizes (points) logical pixels at this scale.
func (l layout) dpi() float64 { return 72 * l.scale }

// clean copies the input with every series as long as the labels, and values that are not finite
// non-negative numbers as 0. It reports whether anything is left to draw.
func clean(in Input) (Input, bool) {
	n := len(in.Labels)
	out := Input{Labels: in.Labels}
	any := false
	for _, s := range in.Series {
		c := Series{Name: s.Name, Values: make([]float64, n)}
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

func render(rp gochart.RendererProvider, w io.Writer, in Input, opt Options) error {
	l := newLayout(opt)
	font, err := gochart.GetDefaultFont()
	if err != nil {
		return fmt.Errorf("chart font: %w", err)
	}
	in, ok := clean(in)
	if !ok {
		text := opt.NoDataText
		if text == "" {
			text = DefaultNoDataText
		}
		return renderNoData(rp, w, l, text)
	}
	c, err := buildChart(in, l)
	if err != nil {
		return err
	}
	c.Font = font
	if err := c.Render(rp, w); err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	return nil
}

// renderNoData draws a framed message, so an empty range never looks like a broken or blank image.
func renderNoData(rp gochart.RendererProvider, w io.Writer, l layout, text string) error {
	r, err := rp(l.w, l.h)
	if err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	font, err := gochart.GetDefaultFont()
	if err != nil {
		return fmt.Errorf("chart font: %w", err)
	}
	r.SetDPI(l.dpi())
	gochart.Draw.Box(r, gochart.Box{Right: l.w, Bottom: l.h}, gochart.Style{FillColor: l.th.background})
	in := l.px(8)
	gochart.Draw.Box(r, gochart.Box{Left: in, Top: in, Right: l.w - in, Bottom: l.h - in}, gochart.Style{
		StrokeColor: l.th.frame, StrokeWidth: math.Max(1, l.scale), StrokeDashArray: []float64{4 * l.scale, 4 * l.scale},
		FillColor: l.th.background,
	})
	st := gochart.Style{Font: font, FontSize: 14, FontColor: l.th.text}
	st.WriteTextOptionsToRenderer(r)
	tb := r.MeasureText(text)
	r.Text(text, (l.w-tb.Width())/2, (l.h+tb.Height())/2)
	if err := r.Save(w); err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	return nil
}

func buildChart(in Input, l layout) (gochart.Chart, error) {
	font, err := gochart.GetDefaultFont()
	if err != nil {
		return gochart.Chart{}, fmt.Errorf("chart font: %w", err)
	}
	n := len(in.Labels)
	// Stack: cumulative sums, bottom series first.
	cum := make([][]float64, len(in.Series))
	top := 0.0
	for k, s := range in.Series {
		cum[k] = make([]float64, n)
		for i, v := range s.Values {
			cum[k][i] = v
			if k > 0 {
				cum[k][i] += cum[k-1][i]
			}
			top = math.Max(top, cum[k][i])
		}
	}
	legend := layoutLegend(in, l, gochart.Style{Font: font, FontSize: 11, FontColor: l.th.text})
	pad := l.px(8)
	c := gochart.Chart{
		Width: l.w, Height: l.h, DPI: l.dpi(),
		Background: gochart.Style{
			FillColor: l.th.background, StrokeColor: l.th.background,
			Padding: gochart.Box{Top: pad + l.px(4), Left: pad, Right: pad, Bottom: pad + legend.height},
		},
		Canvas: gochart.Style{FillColor: l.th.background, StrokeColor: l.th.background},
	}
	// Every period is a step from x=i to x=i+1, so one period still spans a width (go-chart needs two
	// distinct x values) and each bucket reads as a bar of its hour or day. Equal neighbours share one
	// segment, which keeps long ranges of empty days small in SVG.
	for k := len(in.Series) - 1; k >= 0; k-- { // top layer first; lower layers paint over its lower part
		var xs, ys []float64
		for i := 0; i < n; i++ {
			if i > 0 && cum[k][i] == cum[k][i-1] {
				continue
			}
			if i > 0 {
				xs, ys = append(xs, float64(i)), append(ys, cum[k][i-1])
			}
			xs, ys = append(xs, float64(i)), append(ys, cum[k][i])
		}
		xs, ys = append(xs, float64(n)), append(ys, cum[k][n-1])
		col := SeriesColor(in, k)
		c.Series = append(c.Series, gochart.ContinuousSeries{
			Name:    in.Series[k].Name,
			Style:   gochart.Style{StrokeColor: col, FillColor: col, StrokeWidth: math.Max(1, l.scale)},
			XValues: xs, YValues: ys,
		})
	}
	axisStyle := gochart.Style{FontSize: 10, FontColor: l.th.text, StrokeColor: l.th.axis,
		StrokeWidth: math.Max(1, l.scale), Font: font}
	c.YAxis = gochart.YAxis{
		Style:          axisStyle,
		Ticks:          yTicks(top),
		GridMajorStyle: gochart.Style{StrokeColor: l.th.grid, StrokeWidth: math.Max(1, l.scale)},
		Range:          &gochart.ContinuousRange{},
	}
	c.XAxis = gochart.XAxis{
		Style:          axisStyle,
		Ticks:          xTicks(in.Labels, l, axisStyle),
		GridMajorStyle: gochart.Style{Hidden: true},
		GridMinorStyle: gochart.Style{Hidden: true},
		Range:          &gochart.ContinuousRange{},
	}
	c.YAxisSecondary = gochart.HideYAxis() // drawn otherwise, with labels at nonsense coordinates
	c.Elements = []gochart.Renderable{legend.draw}
	return c, nil
}

// yTicks runs from 0 to a round number at or above top, in four or five steps.
func yTicks(top float64) []gochart.Tick {
	step := niceStep(top / 4)
	end := math.Ceil(top/step-1e-9) * step
	var ticks []gochart.Tick
	for v := 0.0; v <= end+step/2; v += step {
		ticks = append(ticks, gochart.Tick{Value: v, Label: Short(v)})
	}
	return ticks
}

// niceStep rounds up to 1, 2, 2.5 or 5 times a power of ten; never below 1, as tokens are whole.
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
func xTicks(labels []string, l layout, text gochart.Style) []gochart.Tick {
	n := len(labels)
	widest, width := 0, textWidth(l, text)
	for _, s := range labels {
		widest = max(widest, width(s))
	}
	room := l.w - l.px(80) // minus the y axis labels and padding
	fit := max(1, room/max(1, widest+l.px(14)))
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
func textWidth(l layout, text gochart.Style) func(string) int {
	r, err := gochart.PNG(1, 1)
	if err != nil {
		return func(s string) int { return len([]rune(s)) * l.px(7) }
	}
	r.SetDPI(l.dpi())
	text.WriteTextOptionsToRenderer(r)
	return func(s string) int { return r.MeasureText(s).Width() }
}

// Short writes a count the way the cards, the tables and the axes show it: 950, 1.2K, 3.4M, 5.6B (one
// decimal, ".0" dropped). The browser tab's script has its twin, checked against this one in a test.
func Short(v float64) string {
	units := []string{"", "K", "M", "B", "T"}
	u := 0
	for u < len(units)-1 && math.Abs(v) >= 999.95 {
		v /= 1000
		u++
	}
	if u == 0 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + units[u]
}
