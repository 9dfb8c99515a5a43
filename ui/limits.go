package ui

import (
	"fmt"
	"image/color"
	"math"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// The words of limits, shared by the window, the tray tooltip and the notifications.

// LimitName is what a limit is called: its name, "All usage", or "(none)" for records without a
// source or credential.
func LimitName(l stats.Limit) string {
	switch {
	case l.Scope == stats.ScopeAll:
		return lang.L("All usage")
	case l.Name == "":
		return lang.L("(none)")
	}
	return l.Name
}

// LimitAmount writes an amount in a limit's unit: "1.2M tokens", "345 requests", "$20".
func LimitAmount(m stats.Metric, n int64) string {
	switch m {
	case stats.MetricCost:
		return MoneyShort(stats.Money(n))
	case stats.MetricRequests:
		return lang.L("{{.Count}} requests", map[string]any{"Count": Short(n)})
	}
	return lang.L("{{.Count}} tokens", map[string]any{"Count": Short(n)})
}

// periodWord is "today", "this week" or "this month".
func periodWord(period string) string {
	switch period {
	case stats.PeriodWeek:
		return lang.L("this week")
	case stats.PeriodMonth:
		return lang.L("this month")
	}
	return lang.L("today")
}

// Until writes a time left: "45 min", "5 h", "5 h 20 min" below a day, "2 d 3 h" above.
func Until(d time.Duration) string {
	m := int64(math.Ceil(d.Minutes()))
	switch {
	case m < 1:
		return lang.L("<1 min")
	case m < 60:
		return lang.L("{{.M}} min", map[string]any{"M": m})
	case m < 24*60 && m%60 == 0:
		return lang.L("{{.H}} h", map[string]any{"H": m / 60})
	case m < 24*60:
		return lang.L("{{.H}} h {{.M}} min", map[string]any{"H": m / 60, "M": m % 60})
	}
	h := (m + 59) / 60
	if h%24 == 0 {
		return lang.L("{{.D}} d", map[string]any{"D": h / 24})
	}
	return lang.L("{{.D}} d {{.H}} h", map[string]any{"D": h / 24, "H": h % 24})
}

// usedText is a used amount beside its limit: a count without its unit, which the limit carries
// ("600K of 750K tokens"), or dollars.
func usedText(m stats.Metric, n int64) string {
	if m == stats.MetricCost {
		return MoneyShort(stats.Money(n))
	}
	return Short(n)
}

// percentText is a limit's percent, rounded down so it never shows a threshold not yet reached.
func percentText(st stats.LimitStatus) string {
	return fmt.Sprintf("%d %%", int(math.Floor(st.Percent())))
}

// LimitSummary is one line for the tray tooltip: "work key: 82 % of $20 today, resets in 5 h".
func LimitSummary(st stats.LimitStatus, now time.Time) string {
	return lang.L("{{.Name}}: {{.Percent}} of {{.Limit}} {{.Period}}, resets in {{.Until}}", map[string]any{
		"Name": LimitName(st.Limit), "Percent": percentText(st), "Limit": LimitAmount(st.Metric, st.Amount),
		"Period": periodWord(st.Period), "Until": Until(st.ResetsAt.Sub(now))})
}

// LimitNotification is the title and text of the desktop notification for a limit crossing threshold.
func LimitNotification(st stats.LimitStatus, threshold int, now time.Time) (title, body string) {
	title = lang.L("Limit at {{.Threshold}} %", map[string]any{"Threshold": threshold})
	if threshold >= 100 {
		title = lang.L("Limit reached")
	}
	body = lang.L("{{.Name}}: {{.Used}} of {{.Limit}} {{.Period}} ({{.Percent}}), resets in {{.Until}}", map[string]any{
		"Name": LimitName(st.Limit), "Used": usedText(st.Metric, st.Used), "Limit": LimitAmount(st.Metric, st.Amount),
		"Period": periodWord(st.Period), "Percent": percentText(st), "Until": Until(st.ResetsAt.Sub(now))})
	return title, body
}

// limitsTick refreshes a window showing limits without new records, so "resets in" counts down and a
// period that ends starts its meter again.
const limitsTick = 30 * time.Second

// tickLimits asks for a refresh every limitsTick while the window is visible and shows limits.
func (d *Dashboard) tickLimits() {
	t := time.NewTicker(limitsTick)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		vis := d.visible
		d.mu.Unlock()
		if vis && d.limits.shown.Load() {
			d.askLive()
		}
	}
}

// limitsPanel is the Limits section of the window: one meter per limit, live like the cards, and a
// line while history is being re-priced. It is hidden when there is neither.
type limitsPanel struct {
	shown   atomic.Bool // the section is shown: for tickLimits, off the UI thread
	obj     *fyne.Container
	grid    *fyne.Container
	reprice *widget.Label
	meters  []*limitMeter
}

// limitMeter is one limit: its name, a bar (amber past the first threshold, red at 100 %) and
// "82 % · 820K of 1M tokens today · resets in 15 h".
type limitMeter struct {
	name *widget.Label
	text *widget.Label
	bar  *meterBar
	obj  fyne.CanvasObject
}

func newLimitsPanel() *limitsPanel {
	p := &limitsPanel{grid: container.NewGridWithColumns(3), reprice: widget.NewLabel("")}
	p.reprice.Importance = widget.LowImportance
	p.reprice.Hide()
	title := widget.NewLabelWithStyle(lang.L("Limits"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.obj = container.NewVBox(title, p.grid, p.reprice)
	p.obj.Hide()
	return p
}

// set shows the limits' statuses and the re-pricing progress, and reports whether the section's height
// changed (it appeared or went, or has more or fewer rows). UI thread only.
func (p *limitsPanel) set(sts []stats.LimitStatus, rp stats.Repricing, now time.Time) bool {
	before, visible, lines := p.obj.MinSize().Height, p.obj.Visible(), p.reprice.Visible()
	for len(p.meters) < len(sts) {
		m := &limitMeter{name: widget.NewLabel(""), text: widget.NewLabel(""), bar: newMeterBar()}
		m.name.Truncation = fyne.TextTruncateEllipsis
		m.name.TextStyle.Bold = true
		m.obj = container.NewVBox(m.name, m.bar, m.text)
		p.meters = append(p.meters, m)
	}
	objs := make([]fyne.CanvasObject, len(sts))
	for i, st := range sts {
		m := p.meters[i]
		m.name.SetText(LimitName(st.Limit))
		text := lang.L("{{.Percent}} · {{.Used}} of {{.Limit}} {{.Period}} · resets in {{.Until}}", map[string]any{
			"Percent": percentText(st), "Used": usedText(st.Metric, st.Used), "Limit": LimitAmount(st.Metric, st.Amount),
			"Period": periodWord(st.Period), "Until": Until(st.ResetsAt.Sub(now))})
		if st.Unpriced > 0 {
			text += " · " + lang.L("{{.Count}} requests unpriced", map[string]any{"Count": Exact(st.Unpriced)})
		}
		m.text.SetText(text)
		m.bar.set(st.Percent()/100, st.Level())
		objs[i] = m.obj
	}
	p.grid.Objects = objs
	p.grid.Refresh()
	if rp.Running() {
		pct := 0
		if rp.Total > 0 {
			pct = int(rp.Done * 100 / rp.Total)
		}
		p.reprice.SetText(lang.L("Prices changed: re-pricing history, {{.Percent}} % done", map[string]any{"Percent": pct}))
		p.reprice.Show()
	} else {
		p.reprice.Hide()
	}
	if len(sts) > 0 || rp.Running() {
		p.obj.Show()
	} else {
		p.obj.Hide()
	}
	p.shown.Store(p.obj.Visible())
	return visible != p.obj.Visible() || lines != p.reprice.Visible() || before != p.obj.MinSize().Height
}

// meterBar is a horizontal bar filled to a fraction, in the theme's primary colour, amber (the theme's
// warning colour) past a limit's first threshold and red (error) at 100 %.
type meterBar struct {
	widget.BaseWidget
	frac  float64
	level int
	bg    *canvas.Rectangle
	fill  *canvas.Rectangle
}

func newMeterBar() *meterBar {
	b := &meterBar{bg: canvas.NewRectangle(color.Transparent), fill: canvas.NewRectangle(color.Transparent)}
	b.ExtendBaseWidget(b)
	return b
}

func (b *meterBar) set(frac float64, level int) {
	b.frac, b.level = max(0, min(frac, 1)), level
	b.Refresh()
}

// colour is the fill's theme colour name.
func (b *meterBar) colour() fyne.ThemeColorName {
	switch b.level {
	case 2:
		return theme.ColorNameError
	case 1:
		return theme.ColorNameWarning
	}
	return theme.ColorNamePrimary
}

func (b *meterBar) CreateRenderer() fyne.WidgetRenderer { return &meterRenderer{b} }

type meterRenderer struct{ b *meterBar }

func (r *meterRenderer) Layout(s fyne.Size) {
	// Before the window is laid out a cell can be narrower than its padding: never a negative size, nor
	// a radius above half a side (the software painter fails on either).
	s = fyne.NewSize(max(0, s.Width), max(0, s.Height))
	w := s.Width * float32(r.b.frac)
	r.b.bg.CornerRadius = min(3, s.Width/2, s.Height/2)
	r.b.fill.CornerRadius = min(3, w/2, s.Height/2)
	r.b.bg.Resize(s)
	r.b.fill.Resize(fyne.NewSize(w, s.Height))
}

func (r *meterRenderer) MinSize() fyne.Size { return fyne.NewSize(120, 10) }

func (r *meterRenderer) Refresh() {
	r.b.bg.FillColor = theme.Color(theme.ColorNameInputBackground)
	r.b.fill.FillColor = theme.Color(r.b.colour())
	r.Layout(r.b.Size())
	r.b.bg.Refresh()
	r.b.fill.Refresh()
}

func (r *meterRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.b.bg, r.b.fill} }
func (r *meterRenderer) Destroy()                     {}
