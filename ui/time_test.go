package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/tokenstats/tokenstats/stats"
)

// "Last 1 hour" slides as the clock moves, without any new record: a record leaves the window a minute
// after it is an hour old, and the window is asked again at every minute, hour and day boundary.
func TestWindowSlidesWithTheClock(t *testing.T) {
	st := openStore(t)
	start := time.Now().Truncate(time.Minute).Add(20 * time.Second) // hh:mm:20
	clock := newFakeClock(start)
	record(t, st, stats.Record{Time: start.Add(-59*time.Minute - 30*time.Second), Account: "a", Model: "m", InputTokens: 7})
	d := newDashboardWith(t, Deps{Store: st, Clock: clock})
	d.rangeSel.SetSelectedIndex(0) // last 1 hour
	idle(d)
	requests := func() string { return d.cards.byCaption("Requests").text.Text() }
	if got := requests(); got != "1" {
		t.Fatalf("the record is 59.5 minutes old: %s requests shown", got)
	}
	// The next refresh is due at the next whole minute, 40 s away.
	n, due := clock.next()
	if n != 1 || !due.Equal(start.Add(40*time.Second)) {
		t.Fatalf("%d callbacks, the first at %v; want one at %v", n, due, start.Add(40*time.Second))
	}
	before := d.refreshes
	clock.Advance(39 * time.Second)
	idle(d)
	if d.refreshes != before || requests() != "1" {
		t.Fatalf("refreshed before the minute: %d refreshes, %s requests", d.refreshes-before, requests())
	}
	clock.Advance(time.Second) // hh:mm+1:00: the record is 60.5 minutes old
	idle(d)
	if got := requests(); got != "0" || d.refreshes != before+1 {
		t.Errorf("after the minute: %s requests shown (%d refreshes); the record left the last hour", got, d.refreshes-before)
	}
	// And it goes on: one refresh a minute, for an hour and a day's turn alike.
	for i := range 3 {
		_, due := clock.next()
		clock.Advance(due.Sub(clock.Now()))
		idle(d)
		if d.refreshes != before+2+int64(i) {
			t.Fatalf("minute %d: %d refreshes", i+2, d.refreshes-before)
		}
	}
	// A hidden window does not query; it catches up when shown.
	d.userClosed()
	_, due = clock.next()
	clock.Advance(due.Sub(clock.Now()))
	idle(d)
	if got := d.refreshes; got != before+4 {
		t.Errorf("a hidden window refreshed: %d", got-before)
	}
	d.Show()
	idle(d)
	if got := d.refreshes; got != before+5 {
		t.Errorf("shown again: %d refreshes, want one more", got-before)
	}
}

// The slide is due at the next whole minute, or earlier at an hour or day boundary of a zone whose
// offset is not whole minutes.
func TestNextSlide(t *testing.T) {
	utc := time.Date(2026, 3, 10, 23, 59, 50, 0, time.UTC)
	if got := nextSlide(utc, time.UTC); !got.Equal(time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("UTC: %v", got)
	}
	odd := time.FixedZone("LMT-0:44:30", -(44*60 + 30)) // Monrovia before 1972
	local := time.Date(1970, 6, 1, 10, 59, 45, 0, odd)  // 11:44:15 UTC
	if got := nextSlide(local, odd); !got.Equal(time.Date(1970, 6, 1, 11, 0, 0, 0, odd)) {
		t.Errorf("hour boundary 15 s away, before the next UTC minute: %v", got.In(odd))
	}
	midnight := time.Date(1970, 6, 1, 23, 59, 45, 0, odd)
	if got := nextSlide(midnight, odd); !got.Equal(time.Date(1970, 6, 2, 0, 0, 0, 0, odd)) {
		t.Errorf("day boundary: %v", got.In(odd))
	}
	if got := nextSlide(utc.Add(-30*time.Second), time.UTC); got.Sub(utc.Add(-30*time.Second)) > time.Minute {
		t.Errorf("more than a minute away: %v", got)
	}
}

// Hovering the chart shows the period's time and each series' exact value, top of the stack first.
func TestChartHoverShowsTimeAndValues(t *testing.T) {
	st := openStore(t)
	// Half past an hour, so the record a minute before "now" is in the current hour whenever the test
	// runs (at the real time it failed in the first minute of every hour).
	now := time.Now().Truncate(time.Hour).Add(-30 * time.Minute)
	clock := newFakeClock(now)
	hourAgo := now.Add(-90 * time.Minute)
	record(t, st,
		stats.Record{Time: hourAgo, Account: "a", Model: "model-a", InputTokens: 1_234_567},
		stats.Record{Time: hourAgo, Account: "a", Model: "model-b", InputTokens: 89},
		stats.Record{Time: now.Add(-time.Minute), Account: "a", Model: "model-a", InputTokens: 5},
	)
	d := newDashboardWith(t, Deps{Store: st, Clock: clock})
	lay, in := d.shot.lay, d.shot.in
	if lay.Periods != 25 {
		t.Fatalf("%d periods", lay.Periods)
	}
	img := d.trend.img
	size := img.Size()
	at := func(i int) fyne.Position {
		x := (float64(lay.Left) + (float64(i)+0.5)*float64(lay.Right-lay.Left)/float64(lay.Periods)) / float64(lay.Width) * float64(size.Width)
		y := float64(lay.Bottom-3) / float64(lay.Height) * float64(size.Height)
		return fyne.CurrentApp().Driver().AbsolutePositionForObject(img).Add(fyne.NewPos(float32(x), float32(y)))
	}
	// The period of the two records 90 minutes ago.
	p := -1
	for i, tm := range in.Times {
		if strings.Contains(tm, hourAgo.In(time.UTC).Truncate(time.Hour).Format("15:04")+"–") {
			p = i
		}
	}
	if p < 0 {
		t.Fatalf("no period for %v in %q", hourAgo, in.Times)
	}
	test.MoveMouse(d.win.Canvas(), at(p))
	want := in.Times[p] + "\nmodel-b: 89\nmodel-a: 1,234,567\nTotal: 1,234,656"
	if got := d.tips.shown(); got != want {
		t.Errorf("hover shows %q, want %q", got, want)
	}
	test.MoveMouse(d.win.Canvas(), at(lay.Periods-1))
	if got := d.tips.shown(); !strings.HasPrefix(got, in.Times[lay.Periods-1]+" · in progress\nmodel-a: 5\n") {
		t.Errorf("the current hour: %q", got)
	}
	test.MoveMouse(d.win.Canvas(), fyne.NewPos(2, 2))
	if got := d.tips.shown(); got != "" {
		t.Errorf("the tip stays after the pointer left: %q", got)
	}
}
