package ui

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
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
	BaseURL   string        // the listener, e.g. http://127.0.0.1:8788 ("" = IngestURL without /usage)
	Token     func() string // the current token
	Settings  Settings
	OnClose   func() // called when the user closes the window; nil = hide it
	// CacheSavings says what cached tokens saved in a window of the filtered records, against the input
	// price; false when it cannot say. nil shows no savings.
	CacheSavings func(ctx context.Context, w stats.Window, f stats.Filter) (stats.Money, bool)
	// Restart stops the app and starts it again (settings that apply on restart offer it); nil offers
	// no button.
	Restart func() error
	// Clock is the window's time; nil is the system clock. Tests move a clock of their own.
	Clock Clock
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
	// CLIProxyAPI is the address of the CLIProxyAPI whose usage queue is polled ("" = none) and whether
	// its management key is set; SetCLIProxyAPI saves both (key "" keeps the saved key), in effect at
	// the next poll.
	CLIProxyAPI    func() (url string, keySet bool)
	SetCLIProxyAPI func(url, key string) error
	// The pass-through: its upstreams (changes are in effect at once) and the Google account lookup.
	Upstreams      func() []Upstream
	SetUpstream    func(name, url string) error // adds or re-points one, in settings.json
	RemoveUpstream func(name string) error      // drops a saved one; a built-in one returns to its URL
	LookupEmail    func() bool
	SetLookupEmail func(on bool) error
	// Days of raw records to keep (0: all) and daily backups to keep (0: none); applied on restart.
	RetentionDays    func() int
	SetRetentionDays func(days int) error
	Backups          func() int
	SetBackups       func(n int) error
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

// Dashboard is the Token Stats window: summary cards, the trend chart and the breakdown tables for a
// chosen time range and filter, kept up to date as records arrive and as time passes.
type Dashboard struct {
	deps  Deps
	app   fyne.App
	win   fyne.Window
	clock Clock
	font  *chart.Font // nil: go-chart's own font (when the embedded one failed to load)

	rangeSel *widget.Select
	refresh  *widget.Button
	actions  *fyne.Container // toolbar buttons of other features (Export…), between Refresh and the status
	status   *widget.Label
	setupBtn *widget.Button
	chips    *chipBar
	cards    *cards
	tables   map[stats.Dimension]*breakdownTable
	trend    *trendPanel
	limits   *limitsPanel
	onboard  *onboarding
	sections *container.AppTabs // "Usage" and the sections other features add (AddSection)
	// loadMoney fills the settings' prices and limits once the dialog is shown (settings_money.go).
	loadMoney func()
	// applying makes results apply one at a time: fyne.Do runs them in turn on the UI thread, but the
	// test driver runs each on the goroutine that calls it.
	applying sync.Mutex
	tips     *tipLayer
	settings dialog.Dialog // open settings, for Escape
	sources  *sourcesView
	copied   *widget.Button // the Copy button of "Connect a tool…" that last copied

	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{}

	mu         sync.Mutex
	rangeIdx   int
	dim        stats.Dimension
	metric     stats.Metric
	gran       stats.Granularity // 0: the range's default
	filters    filterSet         // written on the UI thread under mu; the worker reads a clone
	cols       []column
	setupOpen  bool      // the user opened the first-run panel
	shot       chartShot // the chart on screen (UI thread)
	size       fyne.Size // chart size in canvas units
	scale      float32
	wantData   bool // a full refresh is asked
	wantChart  bool // a chart redraw is asked by the user (range, toggle, resize, refresh)
	liveChart  bool // a chart redraw is due to new records: at most one per liveChartGap
	chartTimer bool // a timer will kick the worker for a deferred live redraw
	visible    bool
	stale      bool   // data changed while hidden
	pending    int    // background jobs not yet applied, for tests
	shown      int64  // records in the store at the last applied refresh, for tests
	refreshes  int64  // data refreshes applied, for tests
	notice     string // said in the status line with each refresh until noticeEnd (UI thread)
	noticeEnd  time.Time
	slideStop  func() bool
	stops      []func() bool // pending later calls, stopped by Close
	debounce   *time.Timer
	cond       *sync.Cond
}

// NewDashboard builds the window (not shown) and starts following the store's changes and the clock.
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
	if deps.Clock == nil {
		deps.Clock = realClock{}
	}
	d := &Dashboard{deps: deps, app: a, clock: deps.Clock, kick: make(chan struct{}, 1), rangeIdx: defaultRange,
		dim: stats.ByModel, scale: 1, stale: true, filters: filterSet{}, cols: loadColumns(a)}
	font, err := useFonts(a)
	if err != nil {
		fyne.LogError("embedded font; Chinese may not render", err)
	}
	d.font = font
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
		d.gran = 0 // the new range's default width
		d.mu.Unlock()
		d.ask(true)
	}
	d.refresh = widget.NewButtonWithIcon(lang.L("Refresh"), theme.ViewRefreshIcon(), func() { d.ask(true) })
	columnsBtn := widget.NewButtonWithIcon(lang.L("Columns…"), theme.ListIcon(), nil)
	columnsBtn.OnTapped = func() { d.showColumnsMenu(columnsBtn) }
	d.actions = container.NewHBox(d.exportButton())
	d.status = widget.NewLabel("") // default importance: readable in the light theme too
	d.status.Truncation = fyne.TextTruncateEllipsis
	d.setupBtn = widget.NewButtonWithIcon(lang.L("Ingest URL and token"), theme.InfoIcon(), d.toggleSetup)
	clearBtn := widget.NewButtonWithIcon(lang.L("Clear data…"), theme.DeleteIcon(), d.showClearDialog)
	clearBtn.Importance = widget.DangerImportance
	settingsBtn := widget.NewButtonWithIcon(lang.L("Settings"), theme.SettingsIcon(), d.showSettings)
	bar := container.NewBorder(nil, nil,
		container.NewHBox(widget.NewLabel(lang.L("Range")),
			container.NewGridWrap(fyne.NewSize(180, d.rangeSel.MinSize().Height), d.rangeSel), d.refresh, columnsBtn, d.actions),
		container.NewHBox(d.setupBtn, clearBtn, settingsBtn), d.status)

	d.tips = newTipLayer()
	d.chips = newChipBar(d.clearFilters)
	d.cards = newCards(d.tips)
	d.tables = map[stats.Dimension]*breakdownTable{}
	for _, dim := range dims {
		dim := dim
		d.tables[dim] = newBreakdownTable(dim, d.tips, d.cols,
			func(name string) bool { return d.filters.has(dim, name) },
			func(name string) { d.toggleFilter(dim, name) },
			func(name string) chart.Swatch { return d.swatchOf(dim, name) })
	}
	d.trend = newTrendPanel(d.tips, func(dim stats.Dimension) {
		d.mu.Lock()
		d.dim = dim
		d.mu.Unlock()
		d.askChart()
	}, func(m stats.Metric) {
		d.mu.Lock()
		d.metric = m
		d.mu.Unlock()
		d.askChart()
	}, func(g stats.Granularity) {
		d.mu.Lock()
		d.gran = g
		d.mu.Unlock()
		d.askChart()
	}, d.chartResized)
	d.limits = newLimitsPanel()
	d.onboard = newOnboarding(d.deps.IngestURL, d.deps.Token, func(s string) { a.Clipboard().SetContent(s) }, d.later, d.showConnect)
	d.onboard.obj.Hide()

	pane := func(a, b stats.Dimension) *container.AppTabs {
		return container.NewAppTabs(container.NewTabItem(lang.L(dimTable[a]), d.tables[a].obj),
			container.NewTabItem(lang.L(dimTable[b]), d.tables[b].obj))
	}
	tables := container.NewGridWithColumns(2, pane(stats.ByModel, stats.BySource), pane(stats.ByAccount, stats.ByCredential))
	body := container.NewVSplit(d.trend.obj, tables)
	body.Offset = 0.45
	d.sections = container.NewAppTabs(container.NewTabItem(lang.L("Usage"), body))
	top := container.NewVBox(bar, d.chips.obj, d.onboard.obj, d.cards.box, d.limits.obj)
	d.win.SetContent(container.NewStack(container.NewBorder(top, nil, nil, nil, d.sections), d.tips.layer))
	d.addSourcesSection()
}

// AddSection adds a section (a tab beside "Usage") to the window: the place for views of their own,
// such as sources or limits. UI thread only.
func (d *Dashboard) AddSection(title string, content fyne.CanvasObject) {
	d.sections.Append(container.NewTabItem(title, content))
}

// AddAction adds a button (or any object) to the toolbar, after Refresh: the place for actions such as
// Export…. UI thread only.
func (d *Dashboard) AddAction(o fyne.CanvasObject) {
	d.actions.Add(o)
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
	if d.slideStop != nil {
		d.slideStop()
	}
	for _, stop := range d.stops {
		stop()
	}
	d.stops = nil
	d.mu.Unlock()
}

// later calls f after a while on the window's clock, unless the window is closed first.
func (d *Dashboard) later(wait time.Duration, f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		return
	}
	d.stops = append(d.stops, d.clock.AfterFunc(wait, f))
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
			if d.markStaleIfHidden() {
				d.askLive()
			}
		}
	}
}

// markStaleIfHidden reports whether the window is visible, and marks it stale when it is not.
func (d *Dashboard) markStaleIfHidden() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.visible {
		d.stale = true
		d.cond.Broadcast()
	}
	return d.visible
}

// armSlide asks for a refresh when the window ending at end next has to move (each minute, hour and
// day boundary), so "last hour" slides and "today" turns over without new records.
func (d *Dashboard) armSlide(end time.Time) {
	wait := nextSlide(end, d.loc()).Sub(d.clock.Now())
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.slideStop != nil {
		d.slideStop()
	}
	if d.ctx.Err() != nil {
		return
	}
	d.slideStop = d.clock.AfterFunc(max(wait, 0), func() {
		if d.ctx.Err() == nil && d.markStaleIfHidden() {
			d.ask(true)
		}
	})
}

// ask asks the worker for a full refresh (data) or a chart redraw; requests made while it is busy merge.
func (d *Dashboard) ask(data bool) {
	d.mu.Lock()
	if data {
		d.wantData = true
	}
	d.wantChart = true
	d.mu.Unlock()
	d.kickWorker()
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

// toggleFilter adds a name to the filter or removes it (a row click, a chip's ✕), and refreshes every view.
func (d *Dashboard) toggleFilter(dim stats.Dimension, name string) {
	d.mu.Lock()
	d.filters.toggle(dim, name)
	d.mu.Unlock()
	d.showFilters()
	d.ask(true)
}

func (d *Dashboard) clearFilters() {
	d.mu.Lock()
	d.filters = filterSet{}
	d.mu.Unlock()
	d.showFilters()
	d.ask(true)
}

func (d *Dashboard) showFilters() {
	d.chips.set(d.filters, d.toggleFilter)
	for _, t := range d.tables {
		t.table.Refresh() // the ✓ of picked rows
	}
}

// swatchOf is how a name of dim is painted: as in the chart when the chart shows dim and the name (its
// pattern included), else as a chart of the table's top names would, else in its own colour. UI thread.
func (d *Dashboard) swatchOf(dim stats.Dimension, name string) chart.Swatch {
	if d.shot.in.Periods() > 0 && d.shot.dim == dim {
		for i, s := range d.shot.in.Series {
			if !s.Other && s.Name == name {
				return d.shot.sw[i]
			}
		}
	}
	if sw, ok := d.tables[dim].paint[name]; ok {
		return sw
	}
	return chart.Swatch{Color: chart.Palette[chart.ColorIndex(name)]}
}

// snapshot is what one refresh read from the store.
type snapshot struct {
	cards   cardData
	rows    map[stats.Dimension][]stats.Row
	records int64
	limits  []stats.LimitStatus // limits.go
	reprice stats.Repricing
	at      time.Time
	err     error
}

// view is what the worker reads for one refresh.
type view struct {
	end     time.Time
	hours   int
	dim     stats.Dimension
	metric  stats.Metric
	gran    stats.Granularity
	filters filterSet
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
		data, draw := d.wantData, d.wantChart
		d.wantData, d.wantChart = false, false
		if d.liveChart {
			if wait := liveChartGap - time.Since(lastChart); draw || wait <= 0 {
				draw, d.liveChart = true, false
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
		v := view{end: d.clock.Now(), hours: ranges[d.rangeIdx].Hours, dim: d.dim, metric: d.metric, gran: d.gran,
			filters: d.filters.clone()}
		size, scale := d.size, d.scale
		d.pending++
		d.mu.Unlock()

		var snap *snapshot
		var srcs *sourcesRead
		if data {
			snap = d.load(v)
			srcs = d.sources.read(d.ctx, v.end)
			d.armSlide(v.end)
		}
		var shot chartShot
		var tr stats.Trend
		var chartErr error
		drawn := draw && size.Width >= 1 && size.Height >= 1
		if drawn {
			shot, tr, chartErr = d.drawChart(v, size, scale)
			lastChart = time.Now()
		}
		d.do(func() {
			if snap != nil {
				d.apply(snap)
			}
			if srcs != nil {
				d.sources.apply(srcs)
			}
			if drawn && chartErr == nil {
				d.shot = shot
				d.trend.img.set(shot)
				d.trend.offer(chart.Granularities(v.hours), tr.Granularity)
				for _, t := range d.tables {
					t.table.Refresh() // the dots follow the chart's patterns
				}
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

// do runs f on the UI thread, one result at a time (see applying).
func (d *Dashboard) do(f func()) {
	fyne.Do(func() {
		d.applying.Lock()
		defer d.applying.Unlock()
		f()
	})
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
			d.do(apply)
		}
	}()
}

// load reads the cards and the four tables for the hours before end. The cards read the whole filter;
// each table the filter without its own dimension.
func (d *Dashboard) load(v view) *snapshot {
	ctx, st := d.ctx, d.deps.Store
	w := stats.LastHours(v.end, v.hours)
	s := &snapshot{rows: map[stats.Dimension][]stats.Row{}}
	f := v.filters.stats(0)
	if s.cards.Summary, s.err = st.Summary(ctx, w, f); s.err != nil {
		return s
	}
	for _, dim := range dims {
		if s.rows[dim], s.err = st.Breakdown(ctx, dim, w, v.filters.stats(dim)); s.err != nil {
			return s
		}
	}
	if d.deps.CacheSavings != nil {
		s.cards.saved, s.cards.hasSaved = d.deps.CacheSavings(ctx, w, f)
	}
	if s.limits, s.err = st.LimitStatuses(ctx, v.end); s.err != nil {
		return s
	}
	s.reprice, s.at = st.Repricing(), v.end
	inf, err := st.Info(ctx)
	s.records, s.err = inf.Records, err
	return s
}

// drawChart queries the trend and renders it at the chart's size in pixels (canvas units × scale).
func (d *Dashboard) drawChart(v view, size fyne.Size, scale float32) (chartShot, stats.Trend, error) {
	tr, err := chart.Trend(d.ctx, d.deps.Store, stats.TrendQuery{Dimension: v.dim, End: v.end, Hours: v.hours,
		Metric: v.metric, Granularity: v.gran, Filter: v.filters.stats(0)})
	if err != nil {
		return chartShot{}, tr, err
	}
	shot, err := renderTrend(tr, v.end, size, scale, isDark(), d.font)
	shot.dim = v.dim
	return shot, tr, err
}

// apply shows a snapshot. UI thread only.
func (d *Dashboard) apply(s *snapshot) {
	if s.err != nil {
		d.setStatus(lang.L("Loading failed: {{.Error}}", map[string]any{"Error": s.err.Error()}))
		return
	}
	d.mu.Lock()
	d.shown = s.records
	d.refreshes++
	d.mu.Unlock()
	d.cards.set(s.cards)
	for dim, t := range d.tables {
		t.setRows(s.rows[dim])
	}
	if d.limits.set(s.limits, s.reprice, s.at) {
		d.win.Content().Refresh() // the section's height moves everything below it
	}
	d.showSetup(s.records == 0 || d.setupOpen)
	status := lang.L("Updated {{.Time}}", map[string]any{"Time": d.clock.Now().In(d.loc()).Format("15:04:05")})
	if d.notice != "" && d.clock.Now().Before(d.noticeEnd) {
		status = d.notice + " · " + status
	}
	d.setStatus(status)
}

// showSetup shows or hides the first-run panel: shown while nothing is recorded, and whenever the user
// opens it from the toolbar.
func (d *Dashboard) showSetup(on bool) {
	if on == d.onboard.obj.Visible() {
		return
	}
	if on {
		d.onboard.refresh()
		d.onboard.obj.Show()
	} else {
		d.onboard.obj.Hide()
	}
	d.win.Content().Refresh() // the panel's height moves everything below it
}

func (d *Dashboard) toggleSetup() {
	d.mu.Lock()
	d.setupOpen = !d.onboard.obj.Visible()
	shown := d.shown
	d.mu.Unlock()
	d.showSetup(d.setupOpen || shown == 0)
}

func (d *Dashboard) setStatus(s string) { d.status.SetText(s) }

// noticeFor is how long a notice ("Deleted 12 records.") stays in the status line.
const noticeFor = 10 * time.Second

// notify says s in the status line, and keeps saying it beside "Updated …" for a while.
func (d *Dashboard) notify(s string) {
	d.notice, d.noticeEnd = s, d.clock.Now().Add(noticeFor)
	d.setStatus(s)
}

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

// columnsKey is the preference that keeps the chosen optional columns.
const columnsKey = "table.columns"

// loadColumns are the columns shown: the default ones and the optional ones the user chose.
func loadColumns(a fyne.App) []column {
	chosen := map[column]bool{}
	if v := a.Preferences().StringWithFallback(columnsKey, "-"); v != "-" {
		for _, f := range strings.Fields(v) {
			if n, err := strconv.Atoi(f); err == nil && n >= 0 && n < int(numColumns) {
				chosen[column(n)] = true
			}
		}
	} else {
		for c := colName; c < numColumns; c++ {
			chosen[c] = columnInfo[c].shown
		}
	}
	var out []column
	for c := colName; c < numColumns; c++ {
		if !columnInfo[c].optional || chosen[c] {
			out = append(out, c)
		}
	}
	return out
}

// setColumn shows or hides an optional column in every table and remembers the choice.
func (d *Dashboard) setColumn(c column, on bool) {
	var out []column
	var keep []string
	for k := colName; k < numColumns; k++ {
		if k == c && on || k != c && slices.Contains(d.cols, k) {
			out = append(out, k)
			if columnInfo[k].optional {
				keep = append(keep, strconv.Itoa(int(k)))
			}
		}
	}
	d.cols = out
	d.app.Preferences().SetString(columnsKey, strings.Join(keep, " ")+" ")
	for _, t := range d.tables {
		t.setColumns(out)
	}
}

// showColumnsMenu offers the optional columns as checked menu items under the button.
func (d *Dashboard) showColumnsMenu(from fyne.CanvasObject) {
	var items []*fyne.MenuItem
	for c := colName; c < numColumns; c++ {
		if !columnInfo[c].optional {
			continue
		}
		c := c
		item := fyne.NewMenuItem(lang.L(columnInfo[c].title), func() { d.setColumn(c, !slices.Contains(d.cols, c)) })
		item.Checked = slices.Contains(d.cols, c)
		items = append(items, item)
	}
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(from).Add(fyne.NewPos(0, from.Size().Height))
	widget.ShowPopUpMenuAtPosition(fyne.NewMenu("", items...), d.win.Canvas(), pos)
}
