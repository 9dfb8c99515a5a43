package ui

import (
	"context"
	"image/color"
	"math"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// priceAll prices every model but "free-model" at 2 micro-dollars a token: a fixed table for tests.
type priceAll struct{}

func (priceAll) Price(r *stats.Record) (stats.Money, bool) {
	if r.Model == "free-model" {
		return 0, false
	}
	return stats.Money(2000 * (r.InputTokens + r.OutputTokens)), true
}

// Every stored number is visible: cost with its unpriced requests and the tools' own figure, cache
// savings from the app, hit rate, and reasoning and cache-creation tokens in the card hovers and in
// columns the user can show.
func TestEveryNumberIsVisible(t *testing.T) {
	dir := t.TempDir()
	st, _, err := stats.Open(dir+"/s.db", stats.Options{Location: time.UTC, Pricer: priceAll{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	record(t, st,
		stats.Record{Time: now.Add(-time.Minute), Account: "a", Model: "paid", InputTokens: 1_000_000, OutputTokens: 250_000,
			CachedTokens: 400_000, CacheCreationTokens: 30_000, ReasoningTokens: 70_000, AgentCost: 3_000_000_000, HasAgentCost: true},
		stats.Record{Time: now.Add(-time.Minute), Account: "a", Model: "free-model", InputTokens: 10, OutputTokens: 5},
	)
	var savedFor stats.Filter
	d := newDashboardWith(t, Deps{Store: st, CacheSavings: func(_ context.Context, _ stats.Window, f stats.Filter) (stats.Money, bool) {
		savedFor = f
		return 1_200_000_000, true
	}})
	card := func(c string) *card {
		cd := d.cards.byCaption(c)
		if cd == nil {
			t.Fatalf("no card %q", c)
		}
		return cd
	}
	cost := card("Estimated cost")
	if cost.text.Text() != "$2.50" || cost.note.Text != "1 request unpriced" ||
		!strings.Contains(cost.text.Tip(), "$2.5\n") || !strings.Contains(cost.text.Tip(), "reported $3.00 for 1 of these requests") {
		t.Errorf("cost card %q, note %q, tip %q", cost.text.Text(), cost.note.Text, cost.text.Tip())
	}
	cached := card("Cached tokens")
	if cached.note.Text != "40.0% hit rate\nsaved $1.20" {
		t.Errorf("cached card note %q", cached.note.Text)
	}
	if tip := card("Input tokens").text.Tip(); !strings.Contains(tip, "includes 400,000 cached and 30,000 cache-creation tokens") {
		t.Errorf("input card tip %q", tip)
	}
	if tip := card("Output tokens").text.Tip(); !strings.Contains(tip, "includes 70,000 reasoning tokens") {
		t.Errorf("output card tip %q", tip)
	}
	// The savings follow the filter.
	d.toggleFilter(stats.ByModel, "paid")
	idle(d)
	if len(savedFor.Models) != 1 || savedFor.Models[0] != "paid" {
		t.Errorf("cache savings asked for %+v", savedFor)
	}
	// Cost per row; an unpriced model is "—", never $0.
	tbl := d.tables[stats.ByModel]
	for name, want := range map[string]string{"paid": "$2.50", "free-model": "—"} {
		for _, r := range tbl.rows {
			if r.Name == name {
				if got, _ := cell(r, colCost); got != want {
					t.Errorf("%s costs %q, want %q", name, got, want)
				}
			}
		}
	}
	// Headers say what input and output include; hidden columns can be shown.
	if h := tbl.headerText(colInput); h != "Input|incl. cached" {
		t.Errorf("input header %q", h)
	}
	if h := tbl.headerText(colOutput); h != "Output|incl. reasoning" {
		t.Errorf("output header %q", h)
	}
	for _, c := range []column{colCreation, colReasoning, colHitRate} {
		d.setColumn(c, true)
		idle(d)
		header(t, tbl, c)
	}
	for _, r := range tbl.rows {
		if r.Name == "paid" {
			if got, _ := cell(r, colReasoning); got != "70K" {
				t.Errorf("reasoning cell %q", got)
			}
			if got, _ := cell(r, colCreation); got != "30K" {
				t.Errorf("cache creation cell %q", got)
			}
			if got, _ := cell(r, colHitRate); got != "40.0%" {
				t.Errorf("hit rate cell %q", got)
			}
		}
	}
	// The choice is remembered for the next window.
	if cols := loadColumns(d.app); len(cols) != len(tbl.cols) {
		t.Errorf("remembered %d columns, shown %d", len(cols), len(tbl.cols))
	}
	// Request counts are exact.
	many := []stats.Record{}
	for range 1234 {
		many = append(many, stats.Record{Time: now.Add(-time.Minute), Account: "b", Model: "paid", InputTokens: 1})
	}
	record(t, st, many...)
	waitShown(t, d, func(n int64) bool { return n == 1236 })
	if got := card("Requests").text.Text(); got != "1,235" { // the model filter is still on
		t.Errorf("requests card %q, want 1,235", got)
	}
}

// At the default size, a long account keeps its domain: the number columns take only what they need.
func TestAccountsKeepTheirDomainAtDefaultSize(t *testing.T) {
	st := openStore(t)
	const name = "alice.chen@example.com"
	record(t, st, rec(time.Minute, name, "gemini-2.5-pro", 123_456_789, 9_876_543, 1_000_000))
	d := newTestDashboard(t, st, Settings{})
	if s := d.win.Canvas().Size(); s.Width != 1240 || s.Height != 820 {
		t.Fatalf("window %v", s)
	}
	c := cellOf(t, d.tables[stats.ByAccount], name)
	need := fyne.MeasureText(name, theme.TextSize(), fyne.TextStyle{}).Width + 2*theme.InnerPadding()
	if got := c.text.Size().Width; got < need {
		t.Errorf("the name has %v of the %v it needs: cut", got, need)
	}
}

// Copy buttons say they copied; Escape closes the settings (from a text box too); a language change
// offers to restart; the first-run panel can be opened from the toolbar once records exist; the status
// line is readable in the light theme.
func TestSmallThings(t *testing.T) {
	st := openStore(t)
	restarted := 0
	clock := newFakeClock(time.Now())
	d := newDashboardWith(t, Deps{Store: st, Clock: clock, Restart: func() error { restarted++; return nil },
		Settings: Settings{Language: func() string { return "" }, SetLanguage: func(string) error { return nil },
			ListenAddr: func() string { return "" }, SetListenAddr: func(string) error { return nil }}})
	copyBtn := button(t, d.onboard.obj, "Copy token")
	test.Tap(copyBtn)
	if copyBtn.Text != "Copied" || fyne.CurrentApp().Clipboard().Content() != testToken {
		t.Errorf("after copying the button says %q", copyBtn.Text)
	}
	clock.Advance(copiedFor)
	if copyBtn.Text != "Copy token" {
		t.Errorf("%v after copying the button still says %q", copiedFor, copyBtn.Text)
	}

	// Escape with nothing focused, and with the listen address box focused.
	for _, inEntry := range []bool{false, true} {
		test.Tap(button(t, d.win.Content(), "Settings"))
		if d.settings == nil || d.win.Canvas().Overlays().Top() == nil {
			t.Fatal("settings not open")
		}
		if inEntry {
			var e *escEntry
			walk(d.win.Canvas().Overlays().Top(), func(o fyne.CanvasObject) {
				if x, ok := o.(*escEntry); ok {
					e = x
				}
			})
			d.win.Canvas().Focus(e)
			e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
		} else {
			d.win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEscape})
		}
		if d.settings != nil || d.win.Canvas().Overlays().Top() != nil {
			t.Errorf("Escape (in a text box: %v) did not close the settings", inEntry)
		}
	}

	// Language: saved, then "Restart now".
	test.Tap(button(t, d.win.Content(), "Settings"))
	var pick *widget.Select
	walk(d.win.Canvas().Overlays().Top(), func(o fyne.CanvasObject) {
		if x, ok := o.(*widget.Select); ok {
			pick = x
		}
	})
	pick.SetSelectedIndex(2)
	test.Tap(button(t, top(t, d), "Restart now"))
	if restarted != 1 {
		t.Errorf("restart asked %d times", restarted)
	}

	// The first-run panel: shown on an empty store; with records it hides, and the toolbar opens it.
	record(t, st, stats.Record{Time: clock.Now().Add(-time.Second), Account: "a", Model: "m", InputTokens: 1, OutputTokens: 1})
	waitShown(t, d, func(n int64) bool { return n == 1 })
	if d.onboard.obj.Visible() {
		t.Fatal("the first-run panel stays with records")
	}
	test.Tap(button(t, d.win.Content(), "Ingest URL and token"))
	if !d.onboard.obj.Visible() {
		t.Error("the toolbar does not open the first-run panel")
	}
	d.ask(true)
	idle(d)
	if !d.onboard.obj.Visible() {
		t.Error("a refresh closed the panel the user opened")
	}
	test.Tap(button(t, d.win.Content(), "Ingest URL and token"))
	if d.onboard.obj.Visible() {
		t.Error("the toolbar does not close the panel again")
	}

	// The "Updated …" line: the theme's text colour (medium importance) on the light background.
	if d.status.Importance != widget.MediumImportance {
		t.Errorf("status importance %v", d.status.Importance)
	}
	light := theme.LightTheme()
	col := func(n fyne.ThemeColorName) color.Color { return light.Color(n, theme.VariantLight) }
	if r := contrast(col(theme.ColorNameForeground), col(theme.ColorNameBackground)); r < 7 {
		t.Errorf("status contrast %.1f:1 in the light theme", r)
	}
}

// contrast is the WCAG contrast ratio of two colours.
func contrast(a, b color.Color) float64 {
	lum := func(c color.Color) float64 {
		r, g, bl, _ := c.RGBA()
		ch := func(v uint32) float64 {
			x := float64(v) / 0xffff
			if x <= 0.03928 {
				return x / 12.92
			}
			return math.Pow((x+0.055)/1.055, 2.4)
		}
		return 0.2126*ch(r) + 0.7152*ch(g) + 0.0722*ch(bl)
	}
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// The clear dialog says "1 record", not "1 records", and offers no Delete when there is nothing to delete.
func TestClearDialogCountsAndNothingToDelete(t *testing.T) {
	st := openStore(t)
	record(t, st, rec(time.Minute, "a", "m", 1, 1, 0))
	d := newTestDashboard(t, st, Settings{})
	open := func(choice string) fyne.CanvasObject {
		t.Helper()
		test.Tap(button(t, d.win.Content(), "Clear data…"))
		dlg := top(t, d)
		walk(dlg, func(o fyne.CanvasObject) {
			if x, ok := o.(*widget.RadioGroup); ok {
				x.SetSelected(choice)
			}
		})
		test.Tap(button(t, dlg, "Continue"))
		idle(d)
		return top(t, d)
	}
	confirm := open("Records older than N days")
	msg := strings.Join(labels(confirm), " ")
	if !strings.Contains(msg, "No usage record is older than 30 days") {
		t.Errorf("nothing older than 30 days: %q", msg)
	}
	var del *widget.Button
	walk(confirm, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Delete" {
			del = b
		}
	})
	if del != nil {
		t.Error("a Delete button for nothing to delete")
	}
	test.Tap(button(t, confirm, "OK"))
	confirm = open("Everything")
	if msg := strings.Join(labels(confirm), " "); !strings.Contains(msg, "The only usage record will be deleted") {
		t.Errorf("one record: %q", msg)
	}
	test.Tap(button(t, confirm, "Delete"))
	waitShown(t, d, func(n int64) bool { return n == 0 })
	if !strings.HasPrefix(d.status.Text, "Deleted 1 record. · Updated ") {
		t.Errorf("status %q", d.status.Text)
	}
	confirm = open("Everything")
	if msg := strings.Join(labels(confirm), " "); !strings.Contains(msg, "There are no usage records to delete.") {
		t.Errorf("empty store: %q", msg)
	}
}
