package stats

import (
	"strings"
	"testing"
	"time"
)

func labelsOf(tr Trend) []string {
	var out []string
	for _, p := range tr.Periods {
		out = append(out, p.Label)
	}
	return out
}

func valueAt(t *testing.T, tr Trend, label, name string) int64 {
	t.Helper()
	for _, p := range tr.Periods {
		if p.Label == label {
			return p.Values[name]
		}
	}
	t.Fatalf("no period %s in %v", label, labelsOf(tr))
	return 0
}

func TestHalfAndQuarterHourZones(t *testing.T) {
	cases := []struct {
		zone       string
		at         time.Time // UTC
		hour, day  string    // local labels the record must count under
		prevSecond string    // hour label of the second before
		dayTotal   int64     // the day holds the second before too, unless it is the previous day
	}{
		// Kolkata is UTC+5:30: 10:30 UTC is 16:00 local.
		{"Asia/Kolkata", time.Date(2026, 6, 1, 10, 30, 0, 0, time.UTC), "2026-06-01 16:00", "2026-06-01", "2026-06-01 15:00", 11},
		// Kathmandu is UTC+5:45: 18:15 UTC is midnight local, the next day.
		{"Asia/Kathmandu", time.Date(2026, 6, 1, 18, 15, 0, 0, time.UTC), "2026-06-02 00:00", "2026-06-02", "2026-06-01 23:00", 10},
	}
	for _, c := range cases {
		t.Run(c.zone, func(t *testing.T) {
			loc := mustLoad(t, c.zone)
			s := openTest(t, loc)
			mustRecord(t, s, rec(c.at, "a", "m", 5, 5), rec(c.at.Add(-time.Second), "a", "m", 1, 0))
			end := c.at.Add(3 * time.Hour)
			tr, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Hourly, End: end, Hours: 6})
			if err != nil {
				t.Fatal(err)
			}
			if got := valueAt(t, tr, c.hour, "m"); got != 10 {
				t.Errorf("hour %s holds %d, want 10", c.hour, got)
			}
			if got := valueAt(t, tr, c.prevSecond, "m"); got != 1 {
				t.Errorf("hour %s holds %d, want 1", c.prevSecond, got)
			}
			for _, l := range labelsOf(tr) {
				if !strings.HasSuffix(l, ":00") {
					t.Errorf("label %q is not a clock hour", l)
				}
			}
			dt, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Daily, End: end.Add(48 * time.Hour), Hours: 96})
			if err != nil {
				t.Fatal(err)
			}
			if got := valueAt(t, dt, c.day, "m"); got != c.dayTotal {
				t.Errorf("day %s holds %d, want %d", c.day, got, c.dayTotal)
			}
		})
	}
}

func TestNewYorkDSTDays(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	s := openTest(t, ny)
	// Fall back on 2026-11-01: 01:00–01:59 happens twice (EDT, then EST).
	firstOne := time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)  // 01:30 EDT
	secondOne := time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC) // 01:30 EST
	// Spring forward on 2026-03-08: 02:00 EST jumps to 03:00 EDT.
	beforeJump := time.Date(2026, 3, 8, 6, 59, 59, 0, time.UTC) // 01:59:59 EST
	afterJump := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)    // 03:00:00 EDT
	mustRecord(t, s, rec(firstOne, "a", "m", 1, 0), rec(secondOne, "a", "m", 2, 0),
		rec(beforeJump, "a", "m", 4, 0), rec(afterJump, "a", "m", 8, 0),
		rec(time.Date(2026, 11, 2, 4, 59, 0, 0, time.UTC), "a", "m", 16, 0)) // 23:59 EST on Nov 1

	fall, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Hourly, End: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), Hours: 12})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range labelsOf(fall) {
		if l == "2026-11-01 01:00" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the repeated hour must be one period, got %d in %v", n, labelsOf(fall))
	}
	if got := valueAt(t, fall, "2026-11-01 01:00", "m"); got != 3 {
		t.Errorf("repeated 01:00 holds %d, want both records (3)", got)
	}
	// 12 hours back from 07:00 EST on Nov 1 reach 20:00 EDT on Oct 31: 12 real hours, 11 clock-hour labels.
	if len(fall.Periods) != 12 {
		t.Errorf("want 12 periods (00:00 counted once per label, the partial first hour included), got %d: %v", len(fall.Periods), labelsOf(fall))
	}

	spring, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Hourly, End: time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC), Hours: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range labelsOf(spring) {
		if l == "2026-03-08 02:00" {
			t.Fatalf("02:00 does not exist on 2026-03-08 in New York: %v", labelsOf(spring))
		}
	}
	if valueAt(t, spring, "2026-03-08 01:00", "m") != 4 || valueAt(t, spring, "2026-03-08 03:00", "m") != 8 {
		t.Errorf("spring-forward hours: %v", spring.Periods)
	}

	// The 25-hour day holds everything from its local midnight to the next, 16 included.
	daily, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Daily, End: time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC), Hours: 24 * 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := valueAt(t, daily, "2026-11-01", "m"); got != 19 {
		t.Errorf("2026-11-01 (25 hours) holds %d, want 19", got)
	}
	sum, err := s.Summary(ctx, Window{From: time.Date(2026, 11, 1, 0, 0, 0, 0, ny).Add(-time.Second),
		To: time.Date(2026, 11, 2, 0, 0, 0, 0, ny).Add(-time.Second)}, Filter{})
	if err != nil || sum.InputTokens != 19 {
		t.Errorf("summary of the local day: %+v %v", sum, err)
	}
}

func TestHourlyLimit(t *testing.T) {
	s := openTest(t, time.UTC)
	if _, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Hourly, End: time.Now(), Hours: MaxHourlyHours + 1}); err == nil || !strings.Contains(err.Error(), "daily") {
		t.Fatalf("want an error suggesting daily, got %v", err)
	}
	if _, err := s.Summary(ctx, LastHours(time.Now(), MaxHours+1), Filter{}); err == nil {
		t.Fatal("a window longer than MaxHours must be refused")
	}
}

func TestDailyTrendCoversWholeDays(t *testing.T) {
	s := openTest(t, time.UTC)
	end := time.Date(2026, 1, 10, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		hours int
		want  []string
	}{
		{1, []string{"2026-01-09", "2026-01-10"}},  // max(1, 0) = 1 day back
		{47, []string{"2026-01-09", "2026-01-10"}}, // 47/24 = 1
		{48, []string{"2026-01-08", "2026-01-09", "2026-01-10"}},
	} {
		tr, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Daily, End: end, Hours: c.hours})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(labelsOf(tr), ","); got != strings.Join(c.want, ",") {
			t.Errorf("hours=%d: periods %s, want %v", c.hours, got, c.want)
		}
	}
}
