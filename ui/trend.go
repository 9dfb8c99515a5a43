package ui

import (
	"image"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// metrics are the chart's metric choices, with their title and choice keys.
var metrics = []struct {
	m             stats.Metric
	title, choice string
}{
	{stats.MetricTokens, "Tokens over time", "Tokens"},
	{stats.MetricCost, "Estimated cost over time", "Cost"},
	{stats.MetricRequests, "Requests over time", "Requests"},
}

// granularities are the bar widths the chart offers, with their choice keys.
var granularities = []struct {
	g      stats.Granularity
	choice string
}{{stats.Hourly, "By hour"}, {stats.Daily, "By day"}}

// trendPanel is the chart with its choices: which dimension its series are, what it measures and how wide
// its bars are. The image is rendered off the UI thread by the dashboard's worker, at the panel's size
// times the canvas scale, and again after a resize.
type trendPanel struct {
	title  *widget.Label
	dim    *widget.RadioGroup
	metric *widget.Select
	gran   *widget.Select
	img    *chartImage
	obj    fyne.CanvasObject
}

func newTrendPanel(tips *tipLayer, onDim func(stats.Dimension), onMetric func(stats.Metric), onGran func(stats.Granularity),
	onResize func(fyne.Size, float32)) *trendPanel {
	p := &trendPanel{}
	var dimLabels []string
	for _, d := range dims {
		dimLabels = append(dimLabels, lang.L(dimTitle[d]))
	}
	p.dim = widget.NewRadioGroup(dimLabels, func(s string) {
		if i := slices.Index(dimLabels, s); i >= 0 {
			onDim(dims[i])
		}
	})
	p.dim.Horizontal = true
	p.dim.Required = true
	p.dim.Selected = dimLabels[0]
	var metricLabels []string
	for _, m := range metrics {
		metricLabels = append(metricLabels, lang.L(m.choice))
	}
	p.title = widget.NewLabel(lang.L(metrics[0].title))
	p.title.TextStyle.Bold = true
	p.metric = widget.NewSelect(metricLabels, nil)
	p.metric.SetSelectedIndex(0)
	p.metric.OnChanged = func(string) {
		m := metrics[p.metric.SelectedIndex()]
		p.title.SetText(lang.L(m.title))
		onMetric(m.m)
	}
	var granLabels []string
	for _, g := range granularities {
		granLabels = append(granLabels, lang.L(g.choice))
	}
	p.gran = widget.NewSelect(granLabels, nil)
	p.gran.SetSelectedIndex(0)
	p.gran.OnChanged = func(string) {
		if i := p.gran.SelectedIndex(); i >= 0 {
			onGran(granularities[i].g)
		}
	}
	p.img = newChartImage(tips, onResize)
	head := container.NewHBox(p.title, p.dim, p.metric, p.gran)
	p.obj = container.NewBorder(head, nil, nil, nil, p.img)
	return p
}

// offer shows the granularities a range offers, with g chosen; one choice disables the control.
func (p *trendPanel) offer(choices []stats.Granularity, g stats.Granularity) {
	for i, c := range granularities {
		if c.g == g && p.gran.SelectedIndex() != i {
			cb := p.gran.OnChanged
			p.gran.OnChanged = nil
			p.gran.SetSelectedIndex(i)
			p.gran.OnChanged = cb
		}
	}
	if len(choices) > 1 {
		p.gran.Enable()
	} else {
		p.gran.Disable()
	}
}

// chartShot is one rendered chart and what hovering it shows.
type chartShot struct {
	dim stats.Dimension
	img image.Image
	in  chart.Input
	lay chart.Layout
	sw  []chart.Swatch
}

// chartImage shows a rendered chart, reports its size and canvas scale whenever it is laid out, and
// shows the hovered period's time and values in the tip layer.
type chartImage struct {
	widget.BaseWidget
	image    *canvas.Image
	shot     chartShot
	tips     *tipLayer
	onResize func(fyne.Size, float32)
	last     fyne.Size
	lastSc   float32
}

var _ desktop.Hoverable = (*chartImage)(nil)

func newChartImage(tips *tipLayer, onResize func(fyne.Size, float32)) *chartImage {
	c := &chartImage{image: canvas.NewImageFromImage(nil), onResize: onResize, tips: tips}
	c.image.FillMode = canvas.ImageFillStretch // drawn at the widget's size: stretching is 1:1
	c.image.ScaleMode = canvas.ImageScaleSmooth
	c.ExtendBaseWidget(c)
	return c
}

// set shows a rendered chart.
func (c *chartImage) set(s chartShot) {
	c.shot = s
	c.image.Image = s.img
	c.image.Refresh()
	c.tips.hide(c)
}

// periodAt is the period under a point of the widget (canvas units), -1 outside the plot.
func (c *chartImage) periodAt(p fyne.Position) int {
	s := c.Size()
	if s.Width <= 0 || s.Height <= 0 {
		return -1
	}
	l := c.shot.lay
	return l.Period(float64(p.X/s.Width)*float64(l.Width), float64(p.Y/s.Height)*float64(l.Height))
}

// hoverText is what the tip says for period i: its time, each series' exact value top of the stack
// first, and the total.
func (c *chartImage) hoverText(i int) (lines []string, rows []tipRow) {
	in := c.shot.in
	when := in.Times[i]
	if in.Partial[i] {
		when += " · " + lang.L("in progress")
	}
	lines = append(lines, when)
	var total float64
	for k := len(in.Series) - 1; k >= 0; k-- {
		s := in.Series[k]
		if v := s.Values[i]; v > 0 {
			total += v
			rows = append(rows, tipRow{sw: c.shot.sw[k], name: s.Text(), value: in.Unit.Value(v)})
			lines = append(lines, s.Text()+": "+in.Unit.Value(v))
		}
	}
	rows = append(rows, tipRow{name: lang.L("Total"), value: in.Unit.Value(total)})
	lines = append(lines, lang.L("Total")+": "+in.Unit.Value(total))
	return lines, rows
}

func (c *chartImage) MouseIn(e *desktop.MouseEvent) { c.MouseMoved(e) }

func (c *chartImage) MouseMoved(e *desktop.MouseEvent) {
	i := c.periodAt(e.Position)
	if i < 0 || c.shot.img == nil || i >= c.shot.in.Periods() {
		c.tips.hide(c)
		return
	}
	lines, rows := c.hoverText(i)
	c.tips.showObject(c, tipRows(lines[0], rows), strings.Join(lines, "\n"), e.AbsolutePosition)
}

func (c *chartImage) MouseOut() { c.tips.hide(c) }

// tipRow is one line of the chart's tip: a swatch (none for the total), a name and a value.
type tipRow struct {
	sw          chart.Swatch
	name, value string
}

func tipRows(title string, rows []tipRow) fyne.CanvasObject {
	head := widget.NewLabel(title)
	grid := container.New(&tipGrid{})
	for _, r := range rows {
		d := newDot()
		if r.sw.Color != "" {
			d.set(r.sw)
		}
		v := widget.NewLabel(r.value)
		v.Alignment = fyne.TextAlignTrailing
		grid.Add(d.Raster) // the painter draws a *canvas.Raster, not a type that embeds one
		grid.Add(widget.NewLabel(r.name))
		grid.Add(v)
	}
	return container.NewVBox(head, grid)
}

// tipGrid lays out triples (dot, name, value) in rows, the three columns as wide as their widest.
type tipGrid struct{}

func (tipGrid) widths(objs []fyne.CanvasObject) (w [3]float32, h float32) {
	for i, o := range objs {
		m := o.MinSize()
		w[i%3] = max(w[i%3], m.Width)
		h = max(h, m.Height)
	}
	return w, h
}

func (g tipGrid) Layout(objs []fyne.CanvasObject, _ fyne.Size) {
	w, h := g.widths(objs)
	for i, o := range objs {
		col, row := i%3, i/3
		x := float32(0)
		for k := 0; k < col; k++ {
			x += w[k]
		}
		sz := fyne.NewSize(w[col], h)
		if col == 0 {
			sz = fyne.NewSize(dotSize, dotSize)
			o.Move(fyne.NewPos(x+4, float32(row)*h+(h-dotSize)/2))
		} else {
			o.Move(fyne.NewPos(x, float32(row)*h))
		}
		o.Resize(sz)
	}
}

func (g tipGrid) MinSize(objs []fyne.CanvasObject) fyne.Size {
	w, h := g.widths(objs)
	return fyne.NewSize(w[0]+w[1]+w[2], h*float32((len(objs)+2)/3))
}

func (c *chartImage) MinSize() fyne.Size {
	c.ExtendBaseWidget(c)
	return fyne.NewSize(320, 220)
}

func (c *chartImage) CreateRenderer() fyne.WidgetRenderer {
	return &chartRenderer{c: c}
}

type chartRenderer struct{ c *chartImage }

func (r *chartRenderer) Layout(s fyne.Size) {
	// A window smaller than its content can leave the chart no height; Fyne's software painter fails
	// on an image without one, so it is hidden until there is room.
	if s.Width < 1 || s.Height < 1 {
		r.c.image.Hide()
	} else {
		r.c.image.Show()
	}
	r.c.image.Resize(s)
	r.c.image.Move(fyne.NewPos(0, 0))
	sc := float32(1)
	if cv := fyne.CurrentApp().Driver().CanvasForObject(r.c); cv != nil {
		sc = cv.Scale()
	}
	if s.Width < 1 || s.Height < 1 || (s == r.c.last && sc == r.c.lastSc) {
		return
	}
	r.c.last, r.c.lastSc = s, sc
	r.c.onResize(s, sc)
}

func (r *chartRenderer) MinSize() fyne.Size           { return r.c.MinSize() }
func (r *chartRenderer) Refresh()                     { r.c.image.Refresh() }
func (r *chartRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.c.image} }
func (r *chartRenderer) Destroy()                     {}
