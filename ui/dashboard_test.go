package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

func TestCardsShowShortValuesAndExactOnHover(t *testing.T) {
	st := openStore(t)
	recs := []stats.Record{
		rec(time.Minute, "a@x.com", "gemini-2.5-pro", 1_234_567, 89_012, 400_000),
		rec(2*time.Hour, "b@x.com", "gemini-2.5-flash", 5_000, 700, 0),
		rec(3*time.Hour, "b@x.com", "gemini-2.5-pro", 61, 9, 1),
	}
	record(t, st, recs...)
	d := newTestDashboard(t, st, Settings{})

	var want stats.Summary
	accounts, models := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		want.Add(stats.Totals{Requests: 1, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CachedTokens: r.CachedTokens})
		accounts[r.Account], models[r.Model] = true, true
	}
	want.Accounts, want.Models = len(accounts), len(models)
	// Tokens are shortened on the card with the exact value first in the tooltip; counts of requests,
	// accounts and models are exact on the card.
	short := map[string]int64{
		"Total tokens": want.TotalTokens(), "Input tokens": want.InputTokens, "Output tokens": want.OutputTokens,
		"Cached tokens": want.CachedTokens,
	}
	exact := map[string]int64{"Requests": want.Requests, "Active accounts": int64(want.Accounts), "Models used": int64(want.Models)}
	if len(d.cards.all) != 8 {
		t.Fatalf("%d cards, want 8", len(d.cards.all))
	}
	for _, c := range d.cards.all {
		first := strings.SplitN(c.text.Tip(), "\n", 2)[0]
		if v, ok := short[c.caption]; ok && (c.text.Text() != Short(v) || first != Exact(v)) {
			t.Errorf("card %s shows %q (tip %q), want %q (tip %q)", c.caption, c.text.Text(), c.text.Tip(), Short(v), Exact(v))
		}
		if v, ok := exact[c.caption]; ok && (c.text.Text() != Exact(v) || first != Exact(v)) {
			t.Errorf("card %s shows %q (tip %q), want %q", c.caption, c.text.Text(), c.text.Tip(), Exact(v))
		}
	}
	if total := d.cards.all[0].text.Text(); total != "1.3M" {
		t.Errorf("total tokens card shows %q, want 1.3M", total)
	}

	// Hovering the total shows the exact value in a tooltip; moving away hides it.
	cv := d.win.Canvas()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(d.cards.all[0].text).Add(fyne.NewPos(4, 4))
	test.MoveMouse(cv, pos)
	if got := d.tips.shown(); !strings.HasPrefix(got, Exact(want.TotalTokens())+"\n") {
		t.Errorf("tooltip shows %q, want %s first", got, Exact(want.TotalTokens()))
	}
	if !slices.Contains(labels(d.win.Content()), d.tips.shown()) {
		t.Error("the tooltip is not rendered in the window")
	}
	// Moving within the value keeps the tip (it must not sit under the pointer and steal the hover).
	test.MoveMouse(cv, pos.Add(fyne.NewPos(6, 2)))
	if got := d.tips.shown(); !strings.HasPrefix(got, Exact(want.TotalTokens())) {
		t.Errorf("tooltip lost while moving over the value: %q", got)
	}
	test.MoveMouse(cv, fyne.NewPos(1, 1))
	if got := d.tips.shown(); got != "" {
		t.Errorf("tooltip still shown after the pointer left: %q", got)
	}
}

func TestTablesSortByEveryColumnFilterAndEmptyState(t *testing.T) {
	st := openStore(t)
	// Three models whose order differs by column: requests (c,a,b), input (b,c,a), output (a,b,c), cached (c,b,a).
	record(t, st,
		rec(time.Minute, "u1@x.com", "model-a", 10, 900, 1),
		rec(time.Minute, "u1@x.com", "model-a", 10, 900, 1),
		rec(time.Minute, "u2@x.com", "model-b", 5000, 500, 20),
		rec(time.Minute, "u3@x.com", "model-c", 300, 10, 90),
		rec(time.Minute, "u3@x.com", "model-c", 300, 10, 90),
		rec(time.Minute, "u3@x.com", "model-c", 300, 10, 90),
	)
	d := newTestDashboard(t, st, Settings{})
	d.win.Resize(fyne.NewSize(2400, 900)) // every column in view
	idle(d)
	for c := colName; c < numColumns; c++ {
		if columnInfo[c].optional {
			d.setColumn(c, true)
		}
	}
	idle(d)
	tbl := d.tables[stats.ByModel]
	rows, err := st.Breakdown(context.Background(), stats.ByModel, stats.LastHours(time.Now(), 24), stats.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.cols) != int(numColumns) {
		t.Fatalf("%d columns shown after choosing them all", len(tbl.cols))
	}
	for c := colName; c < numColumns; c++ {
		for range 2 { // first click, then the reverse order
			test.Tap(header(t, tbl, c))
			idle(d)
			want := withShares(rows)
			sortRows(want, tbl.sortCol, tbl.desc)
			var names []string
			for i := range want {
				names = append(names, want[i].Name)
			}
			if got := renderedNames(tbl); !slices.Equal(got, names) {
				t.Errorf("sorted by %s (desc %v): table shows %v, want %v", columnInfo[c].title, tbl.desc, got, names)
			}
		}
	}
	// The orders really differ by column (the data above is meant to make them): check two of them.
	tbl.sortCol, tbl.desc = colRequests, true
	tbl.update()
	if got := renderedNames(tbl); !slices.Equal(got, []string{"model-c", "model-a", "model-b"}) {
		t.Errorf("by requests, largest first: %v", got)
	}
	tbl.sortCol, tbl.desc = colInput, true
	tbl.update()
	if got := renderedNames(tbl); !slices.Equal(got, []string{"model-b", "model-c", "model-a"}) {
		t.Errorf("by input, largest first: %v", got)
	}

	// Share column: the rendered shares of a table add up to 100%.
	var sum float64
	for _, r := range tbl.view {
		sum += r.Share
	}
	if sum < 0.9999 || sum > 1.0001 {
		t.Errorf("shares add up to %v", sum)
	}

	test.Type(tbl.filter, "-B")
	idle(d)
	if got := renderedNames(tbl); !slices.Equal(got, []string{"model-b"}) {
		t.Errorf("filter -B: table shows %v", got)
	}
	tbl.filter.SetText("nothing-like-this")
	if !emptyShown(tbl) || tbl.empty.Text != "No names match the filter" {
		t.Errorf("empty state after a filter matching nothing: shown %v, %q", emptyShown(tbl), tbl.empty.Text)
	}
	if got := renderedNames(tbl); len(got) != 0 {
		t.Errorf("table still shows %v", got)
	}
	tbl.filter.SetText("")

	// A range with no records: both tables show the empty state.
	d.rangeSel.SetSelectedIndex(0)
	idle(d)
	if st, _ := st.Summary(context.Background(), stats.LastHours(time.Now(), 1), stats.Filter{}); st.Requests != 6 {
		t.Fatalf("setup: %d records in the last hour", st.Requests)
	}
	if emptyShown(tbl) {
		t.Errorf("records one minute old are in the last hour, but the table is empty")
	}
	_, err = st.Clear(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitShown(t, d, func(n int64) bool { return n == 0 })
	for _, b := range d.tables {
		if !emptyShown(b) || b.empty.Text != "No data in this range" || len(renderedNames(b)) != 0 {
			t.Errorf("empty store: empty state shown %v %q, rows %v", emptyShown(b), b.empty.Text, renderedNames(b))
		}
	}
}

func TestLongNamesAreElidedWithTheFullNameOnHover(t *testing.T) {
	st := openStore(t)
	long := "a-very-long-model-name-" + strings.Repeat("x", 120)
	record(t, st, rec(time.Minute, "u@x.com", long, 10, 10, 0))
	d := newTestDashboard(t, st, Settings{})
	var cellW *hoverText
	walk(d.tables[stats.ByModel].table, func(o fyne.CanvasObject) {
		if h, ok := o.(*hoverText); ok && h.Text() == long && h.label.Truncation == fyne.TextTruncateEllipsis {
			cellW = h
		}
	})
	if cellW == nil {
		t.Fatal("the long name is not in the table")
	}
	if cellW.Size().Width >= cellW.label.MinSize().Width && cellW.label.Truncation == fyne.TextTruncateOff {
		t.Fatal("name is not elided")
	}
	if w := fyne.MeasureText(long, 14, fyne.TextStyle{}).Width; cellW.Size().Width >= w {
		t.Errorf("cell is %v wide, the full name needs %v: nothing to elide", cellW.Size().Width, w)
	}
	test.MoveMouse(d.win.Canvas(), fyne.CurrentApp().Driver().AbsolutePositionForObject(cellW).Add(fyne.NewPos(3, 3)))
	if got := d.tips.shown(); got != long {
		t.Errorf("hover shows %q, want the full name", got)
	}
}

func TestRangeSwitchingChangesTheNumbers(t *testing.T) {
	st := openStore(t)
	ages := []time.Duration{30 * time.Minute, 3 * time.Hour, 30 * time.Hour, 2 * 24 * time.Hour,
		10 * 24 * time.Hour, 60 * 24 * time.Hour, 400 * 24 * time.Hour}
	for i, a := range ages {
		record(t, st, rec(a, fmt.Sprintf("u%d@x.com", i), "m", int64(1000*(i+1)), 1, 0))
	}
	d := newTestDashboard(t, st, Settings{})
	if d.rangeSel.SelectedIndex() != defaultRange || ranges[defaultRange].Hours != 24 {
		t.Fatalf("default range is %q", d.rangeSel.Selected)
	}
	for i, r := range ranges {
		d.rangeSel.SetSelectedIndex(i)
		idle(d)
		var n, tokens int64
		for j, a := range ages {
			if a < time.Duration(r.Hours)*time.Hour {
				n++
				tokens += int64(1000*(j+1)) + 1
			}
		}
		if got := d.cards.all[4].text.Tip(); got != Exact(n) {
			t.Errorf("%s: requests card %s, want %d", r.Label, got, n)
		}
		if got := d.cards.all[0].text.Tip(); !strings.HasPrefix(got, Exact(tokens)+"\n") {
			t.Errorf("%s: total tokens card %s, want %d", r.Label, got, tokens)
		}
		if got := len(d.tables[stats.ByAccount].view); int64(got) != n {
			t.Errorf("%s: %d accounts in the table, want %d", r.Label, got, n)
		}
	}
}

func TestClearOlderThanKeepsNewerRecordsAndRefreshes(t *testing.T) {
	st := openStore(t)
	record(t, st,
		rec(24*time.Hour, "a@x.com", "m", 10, 1, 0),
		rec(5*24*time.Hour, "a@x.com", "m", 10, 1, 0),
		rec(40*24*time.Hour, "a@x.com", "m", 10, 1, 0),
		rec(50*24*time.Hour, "b@x.com", "m", 10, 1, 0),
		rec(51*24*time.Hour, "b@x.com", "m", 10, 1, 0),
		// Older than "all time" (ten years) shows, but Clear removes it too: the count must say so.
		rec(20*365*24*time.Hour, "c@x.com", "m", 10, 1, 0),
	)
	d := newTestDashboard(t, st, Settings{})
	d.rangeSel.SetSelectedIndex(len(ranges) - 1)
	idle(d)
	if got := d.cards.all[4].text.Tip(); got != "5" {
		t.Fatalf("all time shows %s requests", got)
	}

	test.Tap(button(t, d.win.Content(), "Clear data…"))
	dlg := top(t, d)
	var radio *widget.RadioGroup
	var days *widget.Entry
	walk(dlg, func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *widget.RadioGroup:
			radio = x
		case *widget.Entry:
			days = x
		}
	})
	if radio == nil || days == nil {
		t.Fatal("the clear dialog has no choice or no days box")
	}
	radio.SetSelected("Records older than N days")
	days.SetText("30")
	test.Tap(button(t, dlg, "Continue"))
	idle(d)
	confirm := top(t, d)
	msg := strings.Join(labels(confirm), " ")
	if !strings.Contains(msg, "4 usage records older than 30 days") || !strings.Contains(msg, "cannot be undone") {
		t.Fatalf("confirmation says %q", msg)
	}
	test.Tap(button(t, confirm, "Delete"))
	idle(d)
	waitShown(t, d, func(n int64) bool { return n == 2 })
	if got := d.cards.all[4].text.Tip(); got != "2" {
		t.Errorf("after clearing: %s requests shown, want 2", got)
	}
	if s, err := st.Summary(context.Background(), stats.LastHours(time.Now(), 30*24), stats.Filter{}); err != nil || s.Requests != 2 {
		t.Errorf("the two newer records are not all kept: %d, %v", s.Requests, err)
	}
	if d.onboard.obj.Visible() {
		t.Error("onboarding shown while records remain")
	}

	// Everything: the confirmation names all of them; afterwards the first-run panel is back.
	test.Tap(button(t, d.win.Content(), "Clear data…"))
	dlg = top(t, d)
	walk(dlg, func(o fyne.CanvasObject) {
		if x, ok := o.(*widget.RadioGroup); ok {
			x.SetSelected("Everything")
		}
	})
	test.Tap(button(t, dlg, "Continue"))
	idle(d)
	confirm = top(t, d)
	if msg := strings.Join(labels(confirm), " "); !strings.Contains(msg, "All 2 usage records will be deleted") {
		t.Fatalf("confirmation says %q", msg)
	}
	test.Tap(button(t, confirm, "Delete"))
	waitShown(t, d, func(n int64) bool { return n == 0 })
	if got := d.cards.all[4].text.Tip(); got != "0" {
		t.Errorf("after clearing everything: %s requests shown", got)
	}
	if !d.onboard.obj.Visible() {
		t.Error("onboarding not shown after clearing everything")
	}
}

func TestOnboardingShowsUntilARecordArrives(t *testing.T) {
	st := openStore(t)
	d := newTestDashboard(t, st, Settings{})
	if !d.onboard.obj.Visible() {
		t.Fatal("no onboarding panel on an empty store")
	}
	texts := labels(d.onboard.obj)
	if !slices.Contains(texts, testURL) {
		t.Errorf("onboarding does not show the ingest URL: %q", texts)
	}
	if contains(texts, testToken) {
		t.Errorf("token shown in clear before asking: %q", texts)
	}
	curl := d.onboard.curlL.Text
	if !strings.HasPrefix(curl, "curl -H 'Authorization: Bearer ") || !strings.Contains(curl, sampleRecord) || !strings.HasSuffix(curl, testURL) {
		t.Errorf("curl command %q", curl)
	}
	test.Tap(button(t, d.onboard.obj, "Copy token"))
	if got := fyne.CurrentApp().Clipboard().Content(); got != testToken {
		t.Errorf("copied %q, want the token", got)
	}
	test.Tap(button(t, d.onboard.obj, "Copy command"))
	if got := fyne.CurrentApp().Clipboard().Content(); got != curlCommand(testURL, testToken) {
		t.Errorf("copied command %q", got)
	}
	test.Tap(button(t, d.onboard.obj, "Show"))
	if !contains(labels(d.onboard.obj), testToken) {
		t.Error("Show does not reveal the token")
	}

	// A record posted while the window is open: the live update path hides the panel and shows the data.
	record(t, st, rec(time.Second, "me@example.com", "gemini-2.5-pro", 1200, 340, 0))
	waitShown(t, d, func(n int64) bool { return n == 1 })
	if d.onboard.obj.Visible() {
		t.Error("onboarding still shown after a record arrived")
	}
	if got := d.cards.all[0].text.Tip(); !strings.HasPrefix(got, "1,540\n") {
		t.Errorf("total tokens %s after the live update, want 1,540", got)
	}
}

func TestLiveUpdatesCoalesceAndSkipHiddenWindow(t *testing.T) {
	st := openStore(t)
	d := newTestDashboard(t, st, Settings{})
	idle(d)
	// One refresh reads one summary, and one chart redraw one trend: the store's counts tell them apart.
	before := st.QueryCounts()
	start := time.Now()
	const n = 300
	for i := range n {
		record(t, st, rec(time.Second, "a@x.com", "m", int64(i+1), 0, 0))
	}
	waitShown(t, d, func(got int64) bool { return got == n })
	elapsed := time.Since(start)
	idle(d)
	after := st.QueryCounts()
	loads, charts := int(after.Summaries-before.Summaries), int(after.Trends-before.Trends)
	if limit := int(elapsed/liveChartGap) + 2; charts > limit {
		t.Errorf("%d records in %v caused %d chart redraws, want at most %d", n, elapsed, charts, limit)
	}
	if charts < 1 {
		t.Error("the chart was not redrawn after new records")
	}
	// At most one refresh per minRefreshGap, plus the one that may start at once.
	if limit := int(elapsed/minRefreshGap) + 2; loads > limit {
		t.Errorf("%d records in %v caused %d refreshes, want at most %d", n, elapsed, loads, limit)
	}
	if loads >= n {
		t.Errorf("one refresh per record (%d)", loads)
	}
	if got := d.cards.all[4].text.Tip(); got != Exact(n) {
		t.Errorf("requests card %s, want %d", got, n)
	}

	// Hidden: records arriving cause no query; showing the window again brings it up to date.
	d.userClosed() // what the close button does
	idle(d)
	before = st.QueryCounts()
	record(t, st, rec(time.Second, "b@x.com", "m", 5, 0, 0))
	// The window has taken the change once it marks itself stale; only then is "no query" a proof.
	d.mu.Lock()
	for !d.stale {
		d.cond.Wait()
	}
	d.mu.Unlock()
	idle(d)
	if got := st.QueryCounts(); got != before {
		t.Errorf("hidden window queried the store after a change: %+v, before %+v", got, before)
	}
	d.Show()
	waitShown(t, d, func(got int64) bool { return got == n+1 })
}
