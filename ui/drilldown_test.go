package ui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// cellOf is the name cell of a table row.
func cellOf(t *testing.T, b *breakdownTable, name string) *tableCell {
	t.Helper()
	var c *tableCell
	walk(b.table, func(o fyne.CanvasObject) {
		if x, ok := o.(*tableCell); ok && x.dot.Visible() && strings.TrimPrefix(x.text.Text(), "✓ ") == shownName(name) {
			c = x
		}
	})
	if c == nil {
		t.Fatalf("no row %q in the %s table (rows %v)", name, b.dim, b.names())
	}
	return c
}

// clickRow clicks a row the way a user does: on its name.
func clickRow(t *testing.T, d *Dashboard, b *breakdownTable, name string) {
	t.Helper()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(cellOf(t, b, name)).Add(fyne.NewPos(20, 10))
	test.TapCanvas(d.win.Canvas(), pos)
	idle(d)
}

// selectTab picks a tab by its text in every tab container of the window.
func selectTab(t *testing.T, d *Dashboard, text string) {
	t.Helper()
	found := false
	walk(d.win.Content(), func(o fyne.CanvasObject) {
		if tabs, ok := o.(*container.AppTabs); ok {
			for _, it := range tabs.Items {
				if it.Text == text {
					tabs.Select(it)
					found = true
				}
			}
		}
	})
	if !found {
		t.Fatalf("no tab %q", text)
	}
	idle(d)
}

// rowsOf is a table's rows as name → totals.
func rowsOf(b *breakdownTable) map[string]stats.Totals {
	out := map[string]stats.Totals{}
	for _, r := range b.rows {
		out[r.Name] = r.Totals
	}
	return out
}

func want(t *testing.T, st *stats.Store, d stats.Dimension, w stats.Window, f stats.Filter) map[string]stats.Totals {
	t.Helper()
	rows, err := st.Breakdown(context.Background(), d, w, f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]stats.Totals{}
	for _, r := range rows {
		out[r.Name] = r.Totals
	}
	return out
}

func sameTotals(a, b map[string]stats.Totals) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Clicking a row filters the whole window to it — cards, chart and the other tables — shown as a chip;
// a table keeps its own names so another can be added; filters combine; a chip's ✕ removes it; sources
// and credentials are one click away and filter too.
func TestRowClickFiltersTheWholeWindow(t *testing.T) {
	st := openStore(t)
	clock := newFakeClock(time.Now())
	var recs []stats.Record
	models := []string{"gemini-2.5-pro", "通义千问", "gpt-5"}
	accounts := []string{"alice.chen@example.com", "张伟@例子.cn"}
	for i := range 30 {
		recs = append(recs, stats.Record{Time: clock.Now().Add(-time.Duration(i*37) * time.Minute), Model: models[i%3],
			Account: accounts[(i/3)%2], Source: []string{"gcli2api", ""}[i%2], Credential: []string{"a.json", "b.json"}[(i/2)%2],
			InputTokens: int64(1000 + i*101), OutputTokens: int64(10 + i), CachedTokens: int64(i * 7)})
	}
	record(t, st, recs...)
	d := newDashboardWith(t, Deps{Store: st, Clock: clock})
	w := stats.LastHours(clock.Now(), 24)
	check := func(f stats.Filter, chips []string) {
		t.Helper()
		if got := d.chips.shown(); !slices.Equal(got, chips) {
			t.Errorf("chips %v, want %v", got, chips)
		}
		sum, err := st.Summary(context.Background(), w, f)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.cards.byCaption("Total tokens").text.Tip(); !strings.HasPrefix(got, Exact(sum.TotalTokens())+"\n") {
			t.Errorf("filter %+v: total card %q, the store says %d", f, got, sum.TotalTokens())
		}
		if got := d.cards.byCaption("Requests").text.Text(); got != Exact(sum.Requests) {
			t.Errorf("filter %+v: requests card %q, the store says %d", f, got, sum.Requests)
		}
		for _, dim := range dims {
			own := f // each table leaves out its own dimension
			own.Set(dim, nil)
			if got, exp := rowsOf(d.tables[dim]), want(t, st, dim, w, own); !sameTotals(got, exp) {
				t.Errorf("filter %+v: %s table %v, the store says %v", f, dim, got, exp)
			}
		}
		// The chart adds up to the filtered summary.
		var drawn float64
		for _, s := range d.shot.in.Series {
			for _, v := range s.Values {
				drawn += v
			}
		}
		if drawn != float64(sum.TotalTokens()) {
			t.Errorf("filter %+v: the chart draws %v tokens, the summary says %d", f, drawn, sum.TotalTokens())
		}
	}
	check(stats.Filter{}, nil)

	clickRow(t, d, d.tables[stats.ByModel], "通义千问")
	check(stats.Filter{Models: []string{"通义千问"}}, []string{"model:通义千问"})
	if got := cellOf(t, d.tables[stats.ByModel], "通义千问").text.Text(); got != "✓ 通义千问" {
		t.Errorf("the picked row reads %q", got)
	}
	if n := len(d.tables[stats.ByModel].view); n != 3 {
		t.Errorf("the model table shows %d models, want all 3 (it is not narrowed by its own filter)", n)
	}
	clickRow(t, d, d.tables[stats.ByModel], "gpt-5") // a second name of the same dimension: either one
	check(stats.Filter{Models: []string{"通义千问", "gpt-5"}}, []string{"model:通义千问", "model:gpt-5"})
	clickRow(t, d, d.tables[stats.ByAccount], "张伟@例子.cn") // another dimension: both
	check(stats.Filter{Models: []string{"通义千问", "gpt-5"}, Accounts: []string{"张伟@例子.cn"}},
		[]string{"model:通义千问", "model:gpt-5", "account:张伟@例子.cn"})
	clickRow(t, d, d.tables[stats.ByModel], "gpt-5") // clicking a picked row again removes it
	check(stats.Filter{Models: []string{"通义千问"}, Accounts: []string{"张伟@例子.cn"}}, []string{"model:通义千问", "account:张伟@例子.cn"})

	// The chip's ✕.
	var remove *widget.Button
	walk(d.chips.obj, func(o fyne.CanvasObject) {
		if c, ok := o.(*chip); ok && c.dim == stats.ByModel {
			remove = c.remove
		}
	})
	if remove == nil {
		t.Fatal("no model chip")
	}
	test.Tap(remove)
	idle(d)
	check(stats.Filter{Accounts: []string{"张伟@例子.cn"}}, []string{"account:张伟@例子.cn"})

	// Sources and credentials: one click on their tab, and their rows filter too ("" is "(none)").
	selectTab(t, d, "By source")
	clickRow(t, d, d.tables[stats.BySource], "")
	check(stats.Filter{Accounts: []string{"张伟@例子.cn"}, Sources: []string{""}}, []string{"account:张伟@例子.cn", "source:"})
	selectTab(t, d, "By credential")
	clickRow(t, d, d.tables[stats.ByCredential], "b.json")
	check(stats.Filter{Accounts: []string{"张伟@例子.cn"}, Sources: []string{""}, Credentials: []string{"b.json"}},
		[]string{"account:张伟@例子.cn", "source:", "credential:b.json"})
	test.Tap(button(t, d.chips.obj, "Clear filters"))
	idle(d)
	check(stats.Filter{}, nil)
	if d.chips.obj.Visible() {
		t.Error("the chip bar is shown without a filter")
	}
}

// A name keeps its colour in every range, when another dimension is charted and when a new name
// appears; its table dot has the chart's colour and pattern.
func TestColoursStayWithNames(t *testing.T) {
	st := openStore(t)
	clock := newFakeClock(time.Now())
	record(t, st,
		stats.Record{Time: clock.Now().Add(-time.Hour), Account: "a@x", Model: "gemini-2.5-pro", InputTokens: 900},
		stats.Record{Time: clock.Now().Add(-2 * time.Hour), Account: "a@x", Model: "claude-sonnet-4-5", InputTokens: 100},
		stats.Record{Time: clock.Now().Add(-5 * 24 * time.Hour), Account: "b@x", Model: "claude-sonnet-4-5", InputTokens: 90000},
	)
	d := newDashboardWith(t, Deps{Store: st, Clock: clock})
	swatch := func(name string) chart.Swatch {
		t.Helper()
		for i, s := range d.shot.in.Series {
			if s.Name == name {
				return d.shot.sw[i]
			}
		}
		t.Fatalf("%s is not in the chart (%v)", name, d.shot.in.Series)
		return chart.Swatch{}
	}
	day := map[string]chart.Swatch{"gemini-2.5-pro": swatch("gemini-2.5-pro"), "claude-sonnet-4-5": swatch("claude-sonnet-4-5")}
	if d.shot.in.Series[0].Name != "gemini-2.5-pro" {
		t.Fatalf("setup: gemini should lead the last day: %v", d.shot.in.Series)
	}
	d.rangeSel.SetSelectedIndex(4) // 7 days: claude leads now
	idle(d)
	if d.shot.in.Series[0].Name != "claude-sonnet-4-5" {
		t.Fatalf("setup: claude should lead the week: %v", d.shot.in.Series)
	}
	for name, sw := range day {
		if got := swatch(name); got != sw {
			t.Errorf("%s is %v over a day and %v over a week", name, sw, got)
		}
		if got := cellOf(t, d.tables[stats.ByModel], name).dot.sw; got != sw {
			t.Errorf("%s: table dot %v, chart %v", name, got, sw)
		}
	}
	record(t, st, stats.Record{Time: clock.Now(), Account: "c@x", Model: "kimi-k2", InputTokens: 5_000_000})
	waitShown(t, d, func(n int64) bool { return n == 4 })
	idle(d)
	for name, sw := range day {
		if got := swatch(name); got.Color != sw.Color {
			t.Errorf("%s changed colour from %s to %s when kimi-k2 appeared", name, sw.Color, got.Color)
		}
	}
	if got, want := swatch("kimi-k2").Color, chart.Palette[chart.ColorIndex("kimi-k2")]; got != want {
		t.Errorf("kimi-k2 is %s, its colour is %s", got, want)
	}
}
