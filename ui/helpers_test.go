package ui

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

const testToken = "tok-0123456789abcdef"
const testURL = "http://127.0.0.1:8788/usage"

// openStore opens a real store in a temporary folder.
func openStore(t *testing.T) *stats.Store {
	t.Helper()
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "stats.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// rec is a record at an age before now.
func rec(age time.Duration, account, model string, in, out, cached int64) stats.Record {
	return stats.Record{Time: time.Now().Add(-age), Account: account, Model: model,
		InputTokens: in, OutputTokens: out, CachedTokens: cached}
}

func record(t *testing.T, st *stats.Store, recs ...stats.Record) {
	t.Helper()
	if _, err := st.Record(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

// hold makes the test goroutine the dashboard's UI thread. Under the test driver fyne.Do runs each result
// on the goroutine that asks, and d.applying keeps those apart; the test holds it while it acts and lets
// results in only while it waits (idle), as the UI thread takes queued work only when it is free. It is
// released before the dashboard closes.
func hold(t testing.TB, d *Dashboard) {
	d.applying.Lock()
	t.Cleanup(d.applying.Unlock)
}

// idle lets the asked refreshes and background jobs run and apply, and returns once they have.
func idle(d *Dashboard) {
	d.applying.Unlock()
	defer d.applying.Lock()
	d.waitIdle()
}

// newTestDashboard builds a dashboard on the test driver, shows it and waits for its first refresh.
func newTestDashboard(t *testing.T, st *stats.Store, s Settings) *Dashboard {
	t.Helper()
	return newDashboardWith(t, Deps{Store: st, Settings: s})
}

// newDashboardWith is newTestDashboard with the dependencies the test chooses (URL and token filled in).
func newDashboardWith(t *testing.T, deps Deps) *Dashboard {
	t.Helper()
	a := test.NewTempApp(t)
	deps.IngestURL, deps.Token = testURL, func() string { return testToken }
	d := NewDashboard(a, deps)
	t.Cleanup(d.Close)
	hold(t, d)
	d.Show()
	idle(d)
	return d
}

// walk visits o and everything it renders that is visible.
func walk(o fyne.CanvasObject, fn func(fyne.CanvasObject)) {
	if o == nil || !o.Visible() {
		return
	}
	fn(o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			walk(c, fn)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			walk(c, fn)
		}
	}
}

// top is the topmost overlay (a dialog or a tooltip), failing the test if there is none.
func top(t *testing.T, d *Dashboard) fyne.CanvasObject {
	t.Helper()
	o := d.win.Canvas().Overlays().Top()
	if o == nil {
		t.Fatal("no dialog or popup is shown")
	}
	return o
}

// labels are the texts of the visible labels under o.
func labels(o fyne.CanvasObject) []string {
	var out []string
	walk(o, func(c fyne.CanvasObject) {
		if l, ok := c.(*widget.Label); ok {
			out = append(out, l.Text)
		}
	})
	return out
}

// button finds a visible button by its text.
func button(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	var b *widget.Button
	walk(o, func(c fyne.CanvasObject) {
		if x, ok := c.(*widget.Button); ok && x.Text == text {
			b = x
		}
	})
	if b == nil {
		t.Fatalf("no button %q", text)
	}
	return b
}

// renderedNames are the name cells the table renders, top to bottom.
func renderedNames(b *breakdownTable) []string {
	type at struct {
		y    float32
		text string
	}
	seen := map[at]bool{}
	var cells []at
	drv := fyne.CurrentApp().Driver()
	walk(b.table, func(c fyne.CanvasObject) {
		h, ok := c.(*hoverText)
		if !ok || h.label.Truncation != fyne.TextTruncateEllipsis || h.Text() == "" {
			return
		}
		a := at{drv.AbsolutePositionForObject(h).Y, h.Text()}
		if !seen[a] {
			seen[a] = true
			cells = append(cells, a)
		}
	})
	sort.Slice(cells, func(i, j int) bool { return cells[i].y < cells[j].y })
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = c.text
	}
	return out
}

// waitShown waits (at most 10 s) until a refresh has shown a store holding the condition's records.
func waitShown(t *testing.T, d *Dashboard, cond func(records int64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		idle(d)
		d.mu.Lock()
		n := d.shown
		d.mu.Unlock()
		if cond(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the window still shows %d records", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// fakeClock is a Clock the test moves by hand; callbacks due run inside Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves the clock and runs the callbacks that fall due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

// pending is how many callbacks wait, and the earliest time one is due.
func (c *fakeClock) next() (int, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, first := 0, time.Time{}
	for _, t := range c.timers {
		if !t.stopped {
			n++
			if first.IsZero() || t.at.Before(first) {
				first = t.at
			}
		}
	}
	return n, first
}

// header is the header cell of column c of a table.
func header(t *testing.T, b *breakdownTable, c column) *headerCell {
	t.Helper()
	var h *headerCell
	want := b.headerText(c)
	walk(b.table, func(o fyne.CanvasObject) {
		if x, ok := o.(*headerCell); ok && x.title.Text+"|"+x.note.Text == want {
			h = x
		}
	})
	if h == nil {
		t.Fatalf("no header %q", want)
	}
	return h
}

// emptyShown tells whether a table shows its empty state instead of its rows.
func emptyShown(b *breakdownTable) bool { return b.emptyBg.Visible() && !b.table.Visible() }
