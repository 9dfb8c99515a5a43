package app

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2/lang"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/ui"
)

// liveTotals are what the tray shows, and what the alerts are decided on: today, the last hour, and
// every limit's current period, read at At.
type liveTotals struct {
	Today, LastHour stats.Totals
	Limits          []stats.LimitStatus
	At              time.Time
}

// todayWindow is today in the store's zone, from local midnight to the end of the day (records stamped
// a little ahead of the clock still count).
func todayWindow(now time.Time, loc *time.Location) stats.Window {
	n := now.In(loc)
	midnight := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc)
	next := time.Date(n.Year(), n.Month(), n.Day()+1, 0, 0, 0, 0, loc)
	// A Window is From < ts ≤ To, exact to the second.
	return stats.Window{From: midnight.Add(-time.Second), To: next.Add(-time.Second)}
}

func queryLiveTotals(ctx context.Context, st *stats.Store, now time.Time) (liveTotals, error) {
	today, err := st.Summary(ctx, todayWindow(now, st.Location()), stats.Filter{})
	if err != nil {
		return liveTotals{}, fmt.Errorf("today's totals: %w", err)
	}
	hour, err := st.Summary(ctx, stats.LastHours(now, 1), stats.Filter{})
	if err != nil {
		return liveTotals{}, fmt.Errorf("last hour's totals: %w", err)
	}
	limits, err := st.LimitStatuses(ctx, now)
	if err != nil {
		return liveTotals{}, fmt.Errorf("limits: %w", err)
	}
	return liveTotals{Today: today.Totals, LastHour: hour.Totals, Limits: limits, At: now}, nil
}

// tooltipText is the tray tooltip, e.g. "Token Stats — today 1.2M tokens ($3.40) · 1,345 requests · last
// hour 56K tokens", followed by the limit closest to its end: "· work key: 82 % of $20 today, resets in 5 h".
func tooltipText(t liveTotals) string {
	s := lang.L("Token Stats — today {{.Today}} tokens ({{.Cost}}) · {{.Requests}} · last hour {{.LastHour}} tokens",
		map[string]any{
			"Today":    ui.Short(t.Today.TotalTokens()),
			"Cost":     costText(t.Today),
			"Requests": requestsText(t.Today.Requests),
			"LastHour": ui.Short(t.LastHour.TotalTokens()),
		})
	if c, ok := closestLimit(t.Limits); ok {
		s += " · " + ui.LimitSummary(c, t.At)
	}
	return s
}

// costText is the estimate of some totals, never a silent $0: "$3.40", "$3.40 + 5 unpriced",
// "unpriced" when no request has a price.
func costText(t stats.Totals) string {
	switch {
	case t.Unpriced == 0:
		return ui.MoneyShort(t.Cost)
	case t.Unpriced == t.Requests:
		return lang.L("unpriced")
	}
	return lang.L("{{.Cost}} + {{.Count}} unpriced", map[string]any{"Cost": ui.MoneyShort(t.Cost), "Count": ui.Short(t.Unpriced)})
}

// closestLimit is the limit nearest its end (the highest percent; the first of equals).
func closestLimit(sts []stats.LimitStatus) (stats.LimitStatus, bool) {
	var best stats.LimitStatus
	for i, st := range sts {
		if i == 0 || st.Percent() > best.Percent() {
			best = st
		}
	}
	return best, len(sts) > 0
}

// trayLevel is the tray icon's state: 0 normal, 1 a limit past its first threshold, 2 a limit at 100 %.
func trayLevel(sts []stats.LimitStatus) int {
	level := 0
	for _, st := range sts {
		level = max(level, st.Level())
	}
	return level
}

// requestsText is "1 request" or "12,345 requests": request counts are exact everywhere.
func requestsText(n int64) string { return ui.Plural(n, "1 request", "{{.Count}} requests") }

const (
	// liveMinGap coalesces bursts: after a query, the next waits at least this long, so the tray costs
	// at most 1/liveMinGap queries a second whatever the ingest rate, and lags a record by at most this
	// plus one query.
	liveMinGap = 250 * time.Millisecond
	// liveTick re-queries without new records: "last hour" slides and "today" restarts at midnight.
	liveTick = 30 * time.Second
)

// watchLiveTotals calls show with fresh totals at start, after every store change (coalesced) and every
// liveTick, until ctx ends. Queries run on this goroutine, never on the UI thread.
func watchLiveTotals(ctx context.Context, st *stats.Store, now func() time.Time, show func(liveTotals), onErr func(error)) {
	changes, stop := st.Changes()
	defer stop()
	tick := time.NewTicker(liveTick)
	defer tick.Stop()
	for {
		t, err := queryLiveTotals(ctx, st, now())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			onErr(err)
		} else {
			show(t)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(liveMinGap):
		}
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return // the store closed
			}
		case <-tick.C:
		}
	}
}
