package chart

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

func TestGranularity(t *testing.T) {
	for _, c := range []struct {
		hours int
		want  stats.Granularity
	}{{1, stats.Hourly}, {24, stats.Hourly}, {72, stats.Hourly}, {168, stats.Hourly}, {169, stats.Daily}, {stats.MaxHours, stats.Daily}} {
		if got := Granularity(c.hours); got != c.want {
			t.Errorf("Granularity(%d) = %v, want %v", c.hours, got, c.want)
		}
	}
	// Seven days can be drawn by hour (the default) or by day; a day only by hour, a month only by day.
	for _, c := range []struct {
		hours int
		want  []stats.Granularity
	}{
		{24, []stats.Granularity{stats.Hourly}}, {71, []stats.Granularity{stats.Hourly}},
		{72, []stats.Granularity{stats.Hourly, stats.Daily}}, {168, []stats.Granularity{stats.Hourly, stats.Daily}},
		{720, []stats.Granularity{stats.Daily}}, {stats.MaxHours, []stats.Granularity{stats.Daily}},
	} {
		if got := Granularities(c.hours); !slices.Equal(got, c.want) {
			t.Errorf("Granularities(%d) = %v, want %v", c.hours, got, c.want)
		}
	}
}

// The trend a chart reads honours a granularity the range offers and falls back to the default otherwise.
func TestTrendGranularityChoice(t *testing.T) {
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "s.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	end := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		hours int
		ask   stats.Granularity
		want  stats.Granularity
	}{{168, stats.Daily, stats.Daily}, {168, stats.Hourly, stats.Hourly}, {168, 0, stats.Hourly},
		{24, stats.Daily, stats.Hourly}, {720, stats.Hourly, stats.Daily}} {
		tr, err := Trend(context.Background(), st, stats.TrendQuery{Dimension: stats.ByModel, End: end, Hours: c.hours, Granularity: c.ask})
		if err != nil {
			t.Fatal(err)
		}
		if tr.Granularity != c.want {
			t.Errorf("%d h asking %v: drawn %v, want %v", c.hours, c.ask, tr.Granularity, c.want)
		}
	}
}

func TestTrimLeading(t *testing.T) {
	tr := stats.Trend{Periods: make([]stats.Period, 100)}
	tr.Periods[90].Values = map[string]int64{"m": 1}
	if got := trimLeading(tr, 7); len(got.Periods) != 10 {
		t.Errorf("trim keeps %d periods, want 10 (from the first with data)", len(got.Periods))
	}
	tr.Periods[90].Values = nil
	tr.Periods[98].Values = map[string]int64{"m": 1}
	if got := trimLeading(tr, 7); len(got.Periods) != 7 {
		t.Errorf("trim keeps %d periods, want the minimum 7", len(got.Periods))
	}
	if got := trimLeading(stats.Trend{Periods: make([]stats.Period, 3)}, 7); len(got.Periods) != 3 {
		t.Errorf("an empty trend shorter than the minimum keeps %d periods, want all 3", len(got.Periods))
	}
}
