package chart

import (
	"context"
	"slices"

	"github.com/tokenstats/tokenstats/stats"
)

// The chart policy: what the window and the browser tab draw for a range. Both call Trend and FromTrend,
// so the same range shows the same series in both.
const (
	// Top is how many series a chart names; the rest are summed into one OtherName series.
	Top = 8
	// HourlyMaxHours is the longest range drawn by hour (seven days, 169 bars); longer ranges are drawn by
	// day, so a daily chart has at most about 90 periods until "all time".
	HourlyMaxHours = 7 * 24
	// DailyMinHours is the shortest range that may also be drawn by day (three days); shorter ones would
	// be one or two bars.
	DailyMinHours = 72
	// minAllTimePeriods: "all time" starts at the first use, but shows at least this many periods, so a
	// few days of data read as a chart rather than one wide bar.
	minAllTimePeriods = 7
)

// Granularity is the width of the periods a range of hours is drawn in unless the user picks another.
func Granularity(hours int) stats.Granularity {
	if hours <= HourlyMaxHours {
		return stats.Hourly
	}
	return stats.Daily
}

// Granularities are the widths a range may be drawn in, the default first: by hour up to seven days,
// by day from three days.
func Granularities(hours int) []stats.Granularity {
	var out []stats.Granularity
	for _, g := range []stats.Granularity{Granularity(hours), stats.Hourly, stats.Daily} {
		ok := g == stats.Hourly && hours <= HourlyMaxHours || g == stats.Daily && hours >= DailyMinHours
		if ok && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// Trend reads the trend a chart of q.Hours before q.End draws: by the granularity q asks for when the
// range offers it (Granularities), else by Granularity; and for "all time" (stats.MaxHours, ten years)
// without the empty periods before the first use.
func Trend(ctx context.Context, st *stats.Store, q stats.TrendQuery) (stats.Trend, error) {
	q.Hours = min(max(q.Hours, 1), stats.MaxHours)
	if !slices.Contains(Granularities(q.Hours), q.Granularity) {
		q.Granularity = Granularity(q.Hours)
	}
	tr, err := st.Trend(ctx, q)
	if err != nil {
		return tr, err
	}
	if q.Hours >= stats.MaxHours {
		tr = trimLeading(tr, minAllTimePeriods)
	}
	return tr, nil
}

// trimLeading drops the periods without usage at the start of a trend, keeping at least keep periods.
func trimLeading(tr stats.Trend, keep int) stats.Trend {
	first := len(tr.Periods)
	for i, p := range tr.Periods {
		if len(p.Values) > 0 {
			first = i
			break
		}
	}
	first = min(first, max(len(tr.Periods)-keep, 0))
	tr.Periods = tr.Periods[first:]
	return tr
}
