package ui

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
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

// newTestDashboard builds a dashboard on the test driver, shows it and waits for its first refresh.
func newTestDashboard(t *testing.T, st *stats.Store, s Settings) *Dashboard {
	t.Helper()
	a := test.NewTempApp(t)
	d := NewDashboard(a, Deps{Store: st, IngestURL: testURL, Token: func() string { return testToken }, Settings: s})
	t.Cleanup(d.Close)
	d.Show()
	d.waitIdle()
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
		d.waitIdle()
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
