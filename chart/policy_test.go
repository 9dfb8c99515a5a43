package chart

import (
	"testing"

	"github.com/tokenstats/tokenstats/stats"
)

func TestGranularity(t *testing.T) {
	for _, c := range []struct {
		hours int
		want  stats.Granularity
	}{{1, stats.Hourly}, {24, stats.Hourly}, {72, stats.Hourly}, {73, stats.Daily}, {stats.MaxHours, stats.Daily}} {
		if got := Granularity(c.hours); got != c.want {
			t.Errorf("Granularity(%d) = %v, want %v", c.hours, got, c.want)
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
