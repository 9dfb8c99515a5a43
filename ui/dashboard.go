package ui

import (
	"context"
	"image"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// Deps is what the dashboard needs from the app.
type Deps struct {
	Store     *stats.Store  // queries run off the UI thread
	IngestURL string        // e.g. http://127.0.0.1:8788/usage
	Token     func() string // the current token
	Settings  Settings
	OnClose   func() // called when the user closes the window; nil = hide it
}

// Settings are the app's settings as the settings dialog sees them. A nil func hides its control.
type Settings struct {
	ListenAddr      func() string
	SetListenAddr   func(addr string) error // saved; applied on restart
	RegenerateToken func() (string, error)  // new token in effect at once (the dialog warns first)
	OpenDataFolder  func() error
	TimeZone        func() string // IANA name; "" = the system zone
	SetTimeZone     func(name string) error
	StartAtLogin    func() (bool, error)
	SetStartAtLogin func(on bool) error
	Language        func() string // "", "en" or "zh-Hans" ("" = follow the system)
	SetLanguage     func(tag string) error
	// UpdatePrices replaces the price snapshot; when set, the settings also show the price overrides and
	// the limits, which the store keeps (settings_money.go).
	UpdatePrices PriceUpdate
}

// minRefreshGap spaces refreshes: whatever the ingest rate, the window queries at most 4 times a second.
const minRefreshGap = 250 * time.Millisecond

// liveChartGap spaces chart redraws caused by new records: a chart costs 50–100 ms to draw, the cards and
// tables a few ms, so during a burst the numbers move four times a second and the chart once.
const liveChartGap = time.Second

// resizeDebounce is how long the chart waits after the last resize before it is drawn again.
const resizeDebounce = 150 * time.Millisecond

// Dashboard is the Token Stats window: summary cards, the trend chart and the two breakdown tables for a
// chosen time range, kept up to date as records arrive.
type Dashboard struct {
	deps Deps
	win  fyne.Window
	now  func() time.Time

	rangeSel *widget.Select
	refresh  *widget.Button
	status   *widget.Label
	cards    *cards
	models   *breakdownTable
	accounts *breakdownTable
	trend    *trendPanel
	limits   *limitsPanel
	onboard  *onboarding
	// loadMoney fills the settings' prices and limits once the dialog is shown (settings_money.go).
	loadMoney func()
	// applying makes results apply one at a time: fyne.Do runs them in turn on the UI thread, but the
	// test driver runs each on the goroutine that calls it.
	applying sync.Mutex
	tips     *tipLayer

	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{}

	mu         sync.Mutex
	rangeIdx   int
	dim        stats.Dimension
	size       fyne.Size // chart size in canvas units
	scale      float32
	wantData   bool // a full refresh is asked
	wantChart  bool // a chart redraw is asked by the user (range, toggle, resize, refresh)
	liveChart  bool // a chart redraw is due to new records: at most one per liveChartGap
	chartTimer bool // a timer will kick the worker for a deferred live redraw
	visible    bool
	stale      bool  // data changed while hidden
	pending    int   // background jobs not yet applied, for tests
	shown      int64 // records in the store at the last applied refresh, for tests
	debounce   *time.Timer
	cond       *sync.Cond
}

// NewDashboard builds the window (not shown) and starts following the store's changes.
func NewDashboard(a fyne.App, deps Deps) *Dashboard {
	if deps.Settings.Language != nil {
		if tag := deps.Settings.Language(); tag != "" {
			if err := UseLanguage(tag); err != nil {
				fyne.LogError("language", err)
			}
		}
	}
	if deps.Token == nil {
		deps.Token = func() string { return "" }
	}
	d := &Dashboard{deps: deps, now: time.Now, kick: make(chan struct{}, 1),
		rangeIdx: defaultRange, dim: stats.ByModel, scale: 1, stale: true}
	d.cond = sync.NewCond(&d.mu)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.win = a.NewWindow(lang.L("Token Stats"))
	d.build(a)
	d.win.Resize(fyne.NewSize(1240, 820))
	d.win.SetCloseIntercept(d.userClosed)
	a.Settings().AddListener(func(fyne.Settings) { d.askChart() }) // light/dark switch
	go d.worker()
	go d.follow()
	go d.tickLimits()
	return d
}

func (d *Dashboard) build(a fyne.App) {
	labels := make([]string, len(ranges))
	for i, r := range ranges {
		labels[i] = lang.L(r.Label)
	}
	d.rangeSel = widget.NewSelect(labels, nil)
	d.rangeSel.SetSelectedIndex(defaultRange)
	d.rangeSel.OnChanged = func(string) {
		d.mu.Lock()
		d.rangeIdx = d.rangeSel.SelectedIndex()
		d.mu.Unlock()
		d.ask(true)
	}
	d.refresh = widget.NewButtonWithIcon(lang.L("Refresh"), theme.ViewRefreshIcon(), func() { d.ask(true) })
	d.status = widget.NewLabel("")
	d.status.Importance = widget.LowImportance
	clearBtn := widget.NewButtonWithIcon(lang.L("Clear data…"), theme.DeleteIcon(), d.showClearDialog)
	clearBtn.Importance = widget.DangerImportance
	settingsBtn := widget.NewButtonWithIcon(lang.L("Settings"), theme.SettingsIcon(), d.showSettings)
	bar := container.NewBorder(nil, nil,
		container.NewHBox(widget.NewLabel(lang.L("Range")),
			container.NewGridWrap(fyne.NewSize(180, d.rangeSel.MinSize().Height), d.rangeSel), d.refresh),
		container.NewHBox(clearBtn, settingsBtn), d.status)

	d.tips = newTipLayer()
	d.cards = newCards(d.tips)
	d.models = newBreakdownTable("By model", d.tips)
	d.accounts = newBreakdownTable("By account", d.tips)
	d.trend = newTrendPanel(func(dim stats.Dimension) {
		d.mu.Lock()
		d.dim = dim
		d.mu.Unlock()
		d.askChart()
	}, d.chartResized)
	d.limits = newLimitsPanel()
	d.onboard = newOnboarding(d.deps.IngestURL, d.deps.Token, func(s string) { a.Clipboard().SetContent(s) })
	d.onboard.obj.Hide()

	tables := container.NewGridWithColumns(2, d.models.obj, d.accounts.obj)
	body := container.NewVSplit(d.trend.obj, tables)
	body.Offset = 0.45
	top := container.NewVBox(bar, d.onboard.obj, d.cards.box, d.limits.obj)
	d.win.SetContent(container.NewStack(container.NewBorder(top, nil, nil, nil, body), d.tips.layer))
}

// userClosed handles the window's close button: live updates pause until the window is shown again.
func (d *Dashboard) userClosed() {
	d.mu.Lock()
	d.visible = false
	d.mu.Unlock()
	if d.deps.OnClose != nil {
		d.deps.OnClose()
	} else {
		d.win.Hide()
	}
}

// Window is the dashboard's window.
func (d *Dashboard) Window() fyne.Window { return d.win }

// Show shows and focuses the window, refreshing it if data changed while it was hidden. It may be
// called from any goroutine.
func (d *Dashboard) Show() {
	fyne.Do(func() {
		d.win.Show()
		d.win.RequestFocus()
	})
	d.mu.Lock()
	d.visible = true
	stale := d.stale
	d.stale = false
	d.mu.Unlock()
	if stale {
		d.ask(true)
	}
}

// Close stops live updates; the window itself is the app's to close.
func (d *Dashboard) Close() {
	d.cancel()
	d.mu.Lock()
	if d.debounce != nil && d.debounce.Stop() {
		d.pending--
	}
	d.mu.Unlock()
}

// follow turns store changes into refreshes of a visible window, or marks a hidden one stale.
func (d *Dashboard) follow() {
	ch, stop := d.deps.Store.Changes()
	defer stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			d.mu.Lock()
			vis := d.visible
			if !vis {
				d.stale = true
				d.cond.Broadcast()
			}
			d.mu.Unlock()
			if vis {
				d.askLive()
			}
		}
	}
}

// ask asks the worker for a full refresh (data) or a chart redraw; requests made while it is busy merge.
func (d *Dashboard) ask(data bool) {
	d.mu.Lock()
	if data {
		d.wantData = true
	}
	d.wantChart = true
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Dashboard) askChart() { d.ask(false) }

// askLive asks for a refresh after new records: the numbers at once, the chart within liveChartGap.
func (d *Dashboard) askLive() {
	d.mu.Lock()
	d.wantData, d.liveChart = true, true
	d.mu.Unlock()
	d.kickWorker()
}

func (d *Dashboard) kickWorker() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// chartResized records the chart's new size and redraws it once resizing pauses.
func (d *Dashboard) chartResized(s fyne.Size, scale float32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.size, d.scale = s, scale
	if d.debounce != nil && d.debounce.Stop() {
		d.pending--
	}
	d.pending++
	d.debounce = time.AfterFunc(resizeDebounce, func() {
		d.askChart()
		d.mu.Lock()
		d.pending--
		d.cond.Broadcast()
		d.mu.Unlock()
	})
}

// snapshot is what one refresh read from the store.
type snapshot struct {
	summary  stats.Summary
	models   []stats.Row
	accounts []stats.Row
	records  int64
	limits   []stats.LimitStatus // limits.go
	reprice  stats.Repricing
	at       time.Time
	err      error
}

// worker runs every query and chart rendering, one at a time, off the UI thread, and applies the results
// with fyne.Do. Refreshes start at least minRefreshGap apart, so bursts of records coalesce.
func (d *Dashboard) worker() {
	var last, lastChart time.Time
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.kick:
		}
		if wait := minRefreshGap - time.Since(last); wait > 0 {
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		d.mu.Lock()
		data, chart := d.wantData, d.wantChart
		d.wantData, d.wantChart = false, false
		if d.liveChart {
			if wait := liveChartGap - time.Since(lastChart); chart || wait <= 0 {
				chart, d.liveChart = true, false
			} else if !d.chartTimer {
				d.chartTimer = true
				time.AfterFunc(wait, func() {
					d.mu.Lock()
					d.chartTimer = false
					d.mu.Unlock()
					d.kickWorker()
				})
			}
		}
		hours, dim, size, scale := ranges[d.rangeIdx].Hours, d.dim, d.size, d.scale
		d.pending++
		d.mu.Unlock()

		end := d.now()
		var snap *snapshot
		if data {
			snap = d.load(end, hours)
		}
		var img image.Image
		var chartErr error
		if chart && size.Width >= 1 && size.Height >= 1 {
			img, chartErr = d.drawChart(end, hours, dim, size, scale)
			lastChart = time.Now()
		}
		fyne.Do(func() {
			d.applying.Lock()
			defer d.applying.Unlock()
			if snap != nil {
				d.apply(snap)
			}
			if img != nil {
				d.trend.img.set(img)
			}
			if chartErr != nil {
				d.setStatus(lang.L("Chart failed: {{.Error}}", map[string]any{"Error": chartErr.Error()}))
			}
		})
		d.done()
	}
}

// done marks one background job applied.
func (d *Dashboard) done() {
	d.mu.Lock()
	d.pending--
	d.cond.Broadcast()
	d.mu.Unlock()
}

// background runs work off the UI thread and applies the function it returns on the UI thread.
func (d *Dashboard) background(work func(ctx context.Context) func()) {
	d.mu.Lock()
	d.pending++
	d.mu.Unlock()
	go func() {
		defer d.done()
		apply := work(d.ctx)
		if apply != nil {
			fyne.Do(func() {
				d.applying.Lock()
				defer d.applying.Unlock()
				apply()
			})
		}
	}()
}

// load reads the cards and tables for the hours before end.
func (d *Dashboard) load(end time.Time, hours int) *snapshot {
	ctx, st := d.ctx, d.deps.Store
	w := stats.LastHours(end, hours)
	s := &snapshot{}
	if s.summary, s.err = st.Summary(ctx, w, stats.Filter{}); s.err != nil {
		return s
	}
	if s.models, s.err = st.Breakdown(ctx, stats.ByModel, w, stats.Filter{}); s.err != nil {
		return s
	}
	if s.accounts, s.err = st.Breakdown(ctx, stats.ByAccount, w, stats.Filter{}); s.err != nil {
		return s
	}
	if s.limits, s.err = st.LimitStatuses(ctx, end); s.err != nil {
		return s
	}
	s.reprice, s.at = st.Repricing(), end
	inf, err := st.Info(ctx)
	s.records, s.err = inf.Records, err
	return s
}

// drawChart queries the trend and renders it at the chart's size in pixels (canvas units × scale).
func (d *Dashboard) drawChart(end time.Time, hours int, dim stats.Dimension, size fyne.Size, scale float32) (image.Image, error) {
	tr, err := chart.Trend(d.ctx, d.deps.Store, stats.TrendQuery{Dimension: dim, End: end, Hours: hours})
	if err != nil {
		return nil, err
	}
	dark := isDark()
	return renderTrend(tr, size, scale, dark, lang.L("No data in this range"))
}

// apply shows a snapshot. UI thread only.
func (d *Dashboard) apply(s *snapshot) {
	if s.err != nil {
		d.setStatus(lang.L("Loading failed: {{.Error}}", map[string]any{"Error": s.err.Error()}))
		return
	}
	d.mu.Lock()
	d.shown = s.records
	d.mu.Unlock()
	d.cards.set(s.summary)
	d.models.setRows(s.models)
	d.accounts.setRows(s.accounts)
	if d.limits.set(s.limits, s.reprice, s.at) {
		d.win.Content().Refresh() // the section's height moves everything below it
	}
	if first := s.records == 0; first != d.onboard.obj.Visible() {
		if first {
			d.onboard.refresh()
			d.onboard.obj.Show()
		} else {
			d.onboard.obj.Hide()
		}
		d.win.Content().Refresh() // the panel's height moves everything below it
	}
	d.setStatus(lang.L("Updated {{.Time}}", map[string]any{"Time": d.now().In(d.loc()).Format("15:04:05")}))
}

func (d *Dashboard) setStatus(s string) { d.status.SetText(s) }

// loc is the zone times are shown in: the store's.
func (d *Dashboard) loc() *time.Location {
	if l := d.deps.Store.Location(); l != nil {
		return l
	}
	return time.Local
}

// waitIdle blocks until every asked refresh, redraw and background job has been applied (for tests).
func (d *Dashboard) waitIdle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.pending > 0 || d.wantData || d.wantChart || d.liveChart || len(d.kick) > 0 {
		d.cond.Wait()
	}
}

// isDark tells whether the theme in use has a dark background: the variant alone is not enough, since a
// theme may force one.
func isDark() bool {
	st := fyne.CurrentApp().Settings()
	r, g, b, _ := st.Theme().Color(theme.ColorNameBackground, st.ThemeVariant()).RGBA()
	return 299*r+587*g+114*b < 500*0xffff
}
