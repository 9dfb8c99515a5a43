package stats

import (
	"testing"
	"time"
)

// A record that arrives for a bucket already sealed is stored in the sealed rollups and counted once, in
// filtered and unfiltered views alike; the buckets still open are untouched by sealing.
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
	var inSealed, inCube int
	s.rdb.QueryRow(`SELECT count(*) FROM cube_sealed WHERE level = ? AND bucket = ?`, int(levelHour), old.Truncate(time.Hour).Unix()).Scan(&inSealed)
	s.rdb.QueryRow(`SELECT count(*) FROM cube WHERE level = ? AND bucket = ?`, int(levelHour), old.Truncate(time.Hour).Unix()).Scan(&inCube)
	if inSealed != 2 || inCube != 0 {
		t.Fatalf("the late record's hour has %d sealed rows and %d in cube; want 2 and 0", inSealed, inCube)
	}
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
			t.Errorf("account a@x over %v: %d input tokens, %d models; want %d, 1", w, got.InputTokens, got.Models, want)
		}
		all, err := s.Summary(ctx, w, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if all.InputTokens != want+7 {
			t.Errorf("everything over %v: %d input tokens, want %d", w, all.InputTokens, want+7)
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
		t.Errorf("the hourly trend of m1 adds up to %d tokens, want 1212", sum)
	}
}
