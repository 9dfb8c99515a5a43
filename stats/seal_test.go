package stats

import (
	"testing"
	"time"
)

// A record that arrives for a bucket already sealed waits in cube until the next compaction merges it
// into the sealed rollups, and counts once before and after, in filtered and unfiltered views alike.
func TestLateRecordForASealedBucket(t *testing.T) {
	s := openTest(t, time.UTC)
	now := time.Now()
	old := now.Add(-72 * time.Hour).Truncate(time.Hour).Add(17 * time.Minute)
	mustRecord(t, s, rec(old, "a@x", "m1", 100, 10), rec(now.Add(-time.Minute), "a@x", "m1", 1, 1),
		rec(old, "b@x", "m2", 7, 7))
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	sealedRows(t, s, "after the first records")
	mustRecord(t, s, rec(old.Add(time.Minute), "a@x", "m1", 1000, 100)) // late, into the sealed hour
	hour := old.Truncate(time.Hour).Unix()
	rowsOf := func() (sealed, cube int) {
		s.rdb.QueryRow(`SELECT count(*) FROM cube_sealed WHERE level = ? AND bucket = ?`, int(levelHour), hour).Scan(&sealed)
		s.rdb.QueryRow(`SELECT count(*) FROM cube WHERE level = ? AND bucket = ?`, int(levelHour), hour).Scan(&cube)
		return
	}
	if sealed, cube := rowsOf(); sealed != 2 || cube != 1 {
		t.Fatalf("the late record's hour has %d sealed rows and %d in cube; want 2 and 1", sealed, cube)
	}
	checkSums(t, s, now, old, "before the merge")
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	if sealed, cube := rowsOf(); sealed != 2 || cube != 0 {
		t.Fatalf("after the merge the hour has %d sealed rows and %d in cube; want 2 and 0", sealed, cube)
	}
	checkSums(t, s, now, old, "after the merge")
}

// checkSums checks the late record's test store: a@x's input tokens, filtered and not, over a week and
// over the two hours around old, and m1's hourly trend.
func checkSums(t *testing.T, s *Store, now, old time.Time, what string) {
	t.Helper()
	for _, w := range []Window{LastHours(now, 24*7), {From: old.Add(-time.Hour), To: old.Add(time.Hour)}} {
		got, err := s.Summary(ctx, w, Filter{Accounts: []string{"a@x"}})
		if err != nil {
			t.Fatal(err)
		}
		want := int64(1100)
		if w.To.After(now.Add(-time.Hour)) {
			want++
		}
		if got.InputTokens != want || got.Models != 1 {
			t.Errorf("%s: account a@x over %v: %d input tokens, %d models; want %d, 1", what, w, got.InputTokens, got.Models, want)
		}
		all, err := s.Summary(ctx, w, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if all.InputTokens != want+7 {
			t.Errorf("%s: everything over %v: %d input tokens, want %d", what, w, all.InputTokens, want+7)
		}
	}
	tr, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, End: now, Hours: 96, Granularity: Hourly,
		Filter: Filter{Models: []string{"m1"}}, Metric: MetricTokens})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, p := range tr.Periods {
		sum += p.Values["m1"]
	}
	if sum != 1100+110+2 {
		t.Errorf("%s: the hourly trend of m1 adds up to %d tokens, want 1212", what, sum)
	}
}
