package ui

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// openPricedStore is openStore with the prices of one model, fx-chat: $2 in, $8 out per million tokens.
func openPricedStore(t *testing.T) *stats.Store {
	t.Helper()
	snap, err := pricing.Parse(strings.NewReader(`{"fx-chat": {"litellm_provider": "acme", "mode": "chat",
		"input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06}}`))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "stats.db"), stats.Options{Location: time.UTC,
		Prices: pricing.Builder(snap)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// dashboardAt is newTestDashboard with the window's clock fixed at now.
func dashboardAt(t *testing.T, st *stats.Store, s Settings, now time.Time) *Dashboard {
	t.Helper()
	a := test.NewTempApp(t)
	d := NewDashboard(a, Deps{Store: st, IngestURL: testURL, Token: func() string { return testToken }, Settings: s,
		Clock: newFakeClock(now)})
	t.Cleanup(d.Close)
	hold(t, d)
	d.Show()
	idle(d)
	return d
}

// TestLimitsSectionIsLive: the Limits section appears with the first limit and shows one meter per
// limit (used of limit, percent, time until reset), its bar amber past the first threshold and red at
// 100 %; it follows new records like the cards, and says how many requests a cost limit leaves out.
func TestLimitsSectionIsLive(t *testing.T) {
	st := openPricedStore(t)
	now := time.Date(2026, 5, 20, 15, 0, 0, 0, time.UTC)
	at := now.Add(-time.Hour)
	ctx := context.Background()
	record(t, st, stats.Record{Time: at, Account: "a@example.com", Model: "fx-chat", InputTokens: 500000, OutputTokens: 100000})
	d := dashboardAt(t, st, Settings{}, now)
	if d.limits.obj.Visible() {
		t.Fatal("the Limits section is shown without limits")
	}
	for _, l := range []stats.Limit{
		{Scope: "account", Name: "a@example.com", Metric: stats.MetricTokens, Period: stats.PeriodDay, Amount: 750000},
		{Scope: stats.ScopeAll, Metric: stats.MetricCost, Period: stats.PeriodMonth, Amount: 2 * stats.NanosPerUSD},
		{Scope: "model", Name: "fx-chat", Metric: stats.MetricRequests, Period: stats.PeriodWeek, Amount: 1},
	} {
		l.Zone = "UTC"
		if _, err := st.AddLimit(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	waitShown(t, d, func(int64) bool { return len(d.limits.grid.Objects) == 3 })
	check := func(i int, name, text string, level int) {
		t.Helper()
		m := d.limits.meters[i]
		if m.name.Text != name || m.text.Text != text || m.bar.level != level {
			t.Errorf("meter %d: %q, %q, level %d; want %q, %q, level %d", i, m.name.Text, m.text.Text, m.bar.level, name, text, level)
		}
		if want := theme.Color([]fyne.ThemeColorName{theme.ColorNamePrimary, theme.ColorNameWarning, theme.ColorNameError}[level]); m.bar.fill.FillColor != want {
			t.Errorf("meter %d: bar colour %v, want %v", i, m.bar.fill.FillColor, want)
		}
	}
	if !d.limits.obj.Visible() {
		t.Fatal("the Limits section is hidden with three limits")
	}
	// It took its room below the cards: the layout moved what follows.
	drv := fyne.CurrentApp().Driver()
	cardsEnd := drv.AbsolutePositionForObject(d.cards.box).Y + d.cards.box.Size().Height
	if got := d.limits.obj.Size(); got.Height < d.limits.obj.MinSize().Height || got.Width < 300 ||
		drv.AbsolutePositionForObject(d.limits.obj).Y < cardsEnd {
		t.Errorf("the Limits section is %v at %v, the cards end at %v", got, drv.AbsolutePositionForObject(d.limits.obj), cardsEnd)
	}
	// 500,000 × $2 + 100,000 × $8 per million = $1.80 of $2.
	check(0, "a@example.com", "80 % · 600K of 750K tokens today · resets in 9 h", 1)
	check(1, "All usage", "90 % · $1.80 of $2.00 this month · resets in 11 d 9 h", 1)
	check(2, "fx-chat", "100 % · 1 of 1 requests this week · resets in 4 d 9 h", 2)

	// New records, one unpriced: the meters follow.
	record(t, st, stats.Record{Time: at, Account: "a@example.com", Model: "local-llama", InputTokens: 150000, OutputTokens: 1})
	waitShown(t, d, func(n int64) bool { return n == 2 })
	check(0, "a@example.com", "100 % · 750K of 750K tokens today · resets in 9 h", 2)
	check(1, "All usage", "90 % · $1.80 of $2.00 this month · resets in 11 d 9 h · 1 requests unpriced", 1)

	// Re-pricing shows its progress under the meters.
	d.limits.set(nil, stats.Repricing{Models: 2, Done: 250, Total: 1000}, now)
	if !d.limits.reprice.Visible() || d.limits.reprice.Text != "Prices changed: re-pricing history, 25 % done" || !d.limits.obj.Visible() {
		t.Errorf("re-pricing line %q (visible %v)", d.limits.reprice.Text, d.limits.reprice.Visible())
	}
	d.limits.set(nil, stats.Repricing{}, now)
	if d.limits.obj.Visible() {
		t.Error("the section stays after the last limit went and re-pricing ended")
	}
}

// TestWordsOfLimits pins the tray's and the notifications' sentences.
func TestWordsOfLimits(t *testing.T) {
	now := time.Date(2026, 5, 20, 15, 0, 0, 0, time.UTC)
	st := stats.LimitStatus{Limit: stats.Limit{Scope: "credential", Name: "work key", Metric: stats.MetricCost,
		Period: stats.PeriodDay, Amount: 20 * stats.NanosPerUSD, Thresholds: []int{80, 100}},
		Used: 16_400_000_000, ResetsAt: now.Add(5 * time.Hour)}
	if got := LimitSummary(st, now); got != "work key: 82 % of $20.00 today, resets in 5 h" {
		t.Errorf("summary %q", got)
	}
	title, body := LimitNotification(st, 80, now)
	if title != "Limit at 80 %" || body != "work key: $16.40 of $20.00 today (82 %), resets in 5 h" {
		t.Errorf("notification %q / %q", title, body)
	}
	if title, _ := LimitNotification(st, 100, now); title != "Limit reached" {
		t.Errorf("at 100 %%: %q", title)
	}
	for d, want := range map[time.Duration]string{20 * time.Second: "1 min", 0: "<1 min", 59 * time.Minute: "59 min",
		3*time.Hour + 20*time.Minute: "3 h 20 min", 49 * time.Hour: "2 d 1 h", 47*time.Hour + 30*time.Minute: "2 d",
		5 * time.Hour: "5 h"} {
		if got := Until(d); got != want {
			t.Errorf("Until(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestSettingsEditLimitsAndPrices: the settings add, edit and remove limits and price overrides in the
// store (an override re-prices history), and the price buttons call the app.
func TestSettingsEditLimitsAndPrices(t *testing.T) {
	st := openPricedStore(t)
	now := time.Date(2026, 5, 20, 15, 0, 0, 0, time.UTC)
	ctx := context.Background()
	record(t, st, stats.Record{Time: now.Add(-time.Hour), Account: "a@example.com", Model: "local-llama",
		InputTokens: 2000000, OutputTokens: 1000000})
	var updates []string
	d := dashboardAt(t, st, Settings{UpdatePrices: func(_ context.Context, r io.Reader, name string) error {
		if r == nil {
			name = "download"
		}
		updates = append(updates, name)
		return nil
	}}, now)
	test.Tap(button(t, d.win.Content(), "Settings"))
	idle(d)
	settings := top(t, d)
	full := findForm(t, settings)
	form := &widget.Form{}
	var items []string
	for _, it := range full.Items {
		if it.Text == "Prices" || it.Text == "Price overrides" || it.Text == "Limits" {
			form.Items = append(form.Items, it)
			items = append(items, it.Text)
		}
	}
	if want := []string{"Prices", "Price overrides", "Limits"}; !slices.Equal(items, want) {
		t.Fatalf("settings %v, want %v in that order", items, want)
	}
	if !contains(labels(form.Items[0].Widget), "LiteLLM prices of date unknown, from an unnamed file") {
		t.Errorf("snapshot line: %v", labels(form.Items[0].Widget))
	}
	test.Tap(button(t, form.Items[0].Widget, "Download latest"))
	idle(d)
	if !slices.Equal(updates, []string{"download"}) {
		t.Errorf("update calls %v", updates)
	}

	// A limit through its dialog.
	test.Tap(button(t, form.Items[2].Widget, "Add limit…"))
	dlg := top(t, d)
	f := findForm(t, dlg)
	sels, entries := selectsOf(f), textBoxes(f)
	sels[0].SetSelectedIndex(1) // an account
	sels[1].SetSelectedIndex(2) // cost
	sels[2].SetSelectedIndex(1) // a week
	entries[0].SetText("a@example.com")
	entries[1].SetText("America/Los_Angeles")
	entries[2].SetText("12.5")
	entries[3].SetText("50, 90%")
	entries[4].SetText("https://hooks.example.com/t")
	test.Tap(button(t, dlg, "Save"))
	idle(d)
	ls, err := st.Limits(ctx)
	want := stats.Limit{ID: 1, Scope: "account", Name: "a@example.com", Metric: stats.MetricCost, Period: stats.PeriodWeek,
		Zone: "America/Los_Angeles", Amount: 12_500_000_000, Thresholds: []int{50, 90}, Webhook: "https://hooks.example.com/t"}
	if err != nil || len(ls) != 1 || !equalLimits(ls[0], want) {
		t.Fatalf("stored %+v (%v), want %+v", ls, err, want)
	}
	// Edit it: a daily token quota for everything.
	var edit *widget.Button
	walk(settingsItem(t, settings, "Limits").Widget, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Icon == theme.DocumentCreateIcon() {
			edit = b
		}
	})
	if edit == nil {
		t.Fatal("no edit button next to the limit")
	}
	test.Tap(edit)
	dlg = top(t, d)
	f = findForm(t, dlg)
	sels, entries = selectsOf(f), textBoxes(f)
	if entries[2].Text != "12.5" || entries[3].Text != "50, 90" {
		t.Errorf("the edit dialog shows %q and %q", entries[2].Text, entries[3].Text)
	}
	sels[0].SetSelectedIndex(0)
	sels[1].SetSelectedIndex(0)
	sels[2].SetSelectedIndex(0)
	entries[2].SetText("1,000,000")
	test.Tap(button(t, dlg, "Save"))
	idle(d)
	want = stats.Limit{ID: 1, Scope: stats.ScopeAll, Metric: stats.MetricTokens, Period: stats.PeriodDay,
		Zone: "America/Los_Angeles", Amount: 1_000_000, Thresholds: []int{50, 90}, Webhook: "https://hooks.example.com/t"}
	if ls, _ = st.Limits(ctx); len(ls) != 1 || !equalLimits(ls[0], want) {
		t.Fatalf("edited %+v, want %+v", ls, want)
	}

	// A price override for the unpriced model: $0.50 in, $1.25 out per million; history is re-priced.
	test.Tap(button(t, settingsItem(t, settings, "Price overrides").Widget, "Add override…"))
	idle(d)
	dlg = top(t, d)
	entries = textBoxes(findForm(t, dlg))
	entries[0].SetText("local-llama")
	entries[1].SetText("0.5")
	entries[2].SetText("$1.25")
	test.Tap(button(t, dlg, "Save"))
	idle(d)
	for deadline := time.Now().Add(10 * time.Second); st.Repricing().Running() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	sum, err := st.Summary(ctx, stats.LastHours(now, 24), stats.Filter{})
	if err != nil || sum.Cost != 2_250_000_000 || sum.Unpriced != 0 {
		t.Errorf("after the override: %s with %d unpriced (%v), want $2.25", sum.Cost, sum.Unpriced, err)
	}
	if !contains(labels(settingsItem(t, settings, "Price overrides").Widget), "local-llama: $0.5 in, $1.25 out") {
		t.Errorf("overrides listed: %v", labels(settingsItem(t, settings, "Price overrides").Widget))
	}
	// A bad price is refused with a message, and nothing changes.
	test.Tap(button(t, settingsItem(t, settings, "Price overrides").Widget, "Add override…"))
	idle(d)
	dlg = top(t, d)
	entries = textBoxes(findForm(t, dlg))
	entries[0].SetText("fx-chat")
	entries[1].SetText("two")
	entries[2].SetText("1")
	test.Tap(button(t, dlg, "Save"))
	if msg := labels(top(t, d)); !contains(msg, "US dollars") {
		t.Errorf("a bad price: %v", msg)
	}
	closeTop(t, d)
	if ovs, _ := st.PriceOverrides(ctx); len(ovs) != 1 {
		t.Errorf("overrides %+v", ovs)
	}
}

func equalLimits(a, b stats.Limit) bool {
	return a.ID == b.ID && a.Scope == b.Scope && a.Name == b.Name && a.Metric == b.Metric && a.Period == b.Period &&
		a.Zone == b.Zone && a.Amount == b.Amount && slices.Equal(a.Thresholds, b.Thresholds) && a.Webhook == b.Webhook
}

func selectsOf(f *widget.Form) []*widget.Select {
	var out []*widget.Select
	for _, it := range f.Items {
		if s, ok := it.Widget.(*widget.Select); ok {
			out = append(out, s)
		}
	}
	return out
}

// textBoxes are a form's entries, select entries included, in order.
func textBoxes(f *widget.Form) []*widget.Entry {
	var out []*widget.Entry
	for _, it := range f.Items {
		switch w := it.Widget.(type) {
		case *widget.Entry:
			out = append(out, w)
		case *widget.SelectEntry:
			out = append(out, &w.Entry)
		}
	}
	return out
}

// settingsItem is the settings form's row labelled text.
func settingsItem(t *testing.T, settings fyne.CanvasObject, text string) *widget.FormItem {
	t.Helper()
	for _, it := range findForm(t, settings).Items {
		if it.Text == text {
			return it
		}
	}
	t.Fatalf("the settings have no %q row", text)
	return nil
}
