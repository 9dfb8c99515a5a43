package stats

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// strippedRows fails unless every span of the hour and day levels whose buckets are all sealed is
// stripped, and every strip of the stripped range holds exactly its combo's sealed rows of that span.
func strippedRows(t *testing.T, s *Store, what string) {
	t.Helper()
	s.minutes.mu.RLock()
	marks, sealed, cutoff := s.minutes.strips, s.minutes.sealed, s.minutes.retired
	s.minutes.mu.RUnlock()
	for _, l := range stripLevels {
		m := marks[l]
		var first sql.NullInt64
		if err := s.rdb.QueryRow(`SELECT min(bucket) FROM rollup WHERE level = ? AND dim = ?`, int(l), int(ByModel)).Scan(&first); err != nil {
			t.Fatal(err)
		}
		if l == levelHour {
			first.Int64 = max(first.Int64, cutoff, s.now().Unix()-stripHours*3600)
		}
		from := floorBoundary(spanOf(l), first.Int64, s.loc)
		if want := floorBoundary(spanOf(l), sealed[l], s.loc); first.Valid && (m.to != want || m.from != from) {
			t.Fatalf("%s: level %d stripped over [%s, %s), sealed to %s", what, l, time.Unix(m.from, 0),
				time.Unix(m.to, 0), time.Unix(sealed[l], 0))
		}
		type key struct{ combo, bucket int64 }
		want := map[key][3]int64{}
		rows, err := s.rdb.Query(`SELECT combo, bucket, input + output, cost, requests FROM cube_sealed
			WHERE level = ? AND bucket >= ? AND bucket < ?`, int(l), m.from, m.to)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k key
			var v [3]int64
			if err := rows.Scan(&k.combo, &k.bucket, &v[0], &v[1], &v[2]); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		}
		rows.Close()
		got := map[key][3]int64{}
		rows, err = s.rdb.Query(`SELECT combo, start, data FROM strips WHERE level = ? AND start >= ? AND start < ?`,
			int(l), m.from, m.to)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var combo, start int64
			var data []byte
			if err := rows.Scan(&combo, &start, &data); err != nil {
				t.Fatal(err)
			}
			if floorBoundary(spanOf(l), start, s.loc) != start {
				t.Fatalf("%s: a strip of level %d starts at %s, not at a span", what, l, time.Unix(start, 0))
			}
			err := eachStripEntry(data, start, func(b, tokens, cost, requests int64) {
				if _, end := span(spanOf(l), start, s.loc); b < start || b >= end {
					t.Fatalf("%s: the strip of %s holds bucket %s", what, time.Unix(start, 0), time.Unix(b, 0))
				}
				got[key{combo, b}] = [3]int64{tokens, cost, requests}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: level %d: strips hold %d buckets, the sealed rows %d, and they differ", what, l, len(got), len(want))
		}
	}
}

// Strips stay exact through what changes sealed rows: late records into one stripped span and into
// many, a re-pricing, a clear that ends inside a span, and retention; filtered trends, which read them,
// agree with the brute force throughout.
func TestStripsFollowEveryChange(t *testing.T) {
	loc := mustLoad(t, "America/New_York") // a DST change inside the data: a day of 23 hours
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, loc)
	end := base.Add(75 * 24 * time.Hour)
	var clock atomic.Int64
	clock.Store(end.Unix())
	s, _, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{Location: loc, Pricer: pricesA,
		Now: func() time.Time { return time.Unix(clock.Load(), 0) }, sealChunk: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := &bruteForce{alias: map[string]string{}, pricer: pricesA}
	add := func(recs ...Record) {
		t.Helper()
		mustRecord(t, s, recs...)
		b.recs = append(b.recs, recs...)
	}
	accounts, models := []string{"a@x", "b@x", "c@x"}, []string{"model-1", "model-2", "model-3"}
	var recs []Record
	for i := 0; i < 3000; i++ {
		at := base.Add(time.Duration(int64(i)*75*24*3600/3000+int64(i%7)*60) * time.Second)
		recs = append(recs, rec(at, accounts[i%3], models[(i/3)%3], int64(100+i%50), int64(10+i%9)))
	}
	add(recs...)
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	var strips int
	s.rdb.QueryRow(`SELECT count(*) FROM strips`).Scan(&strips)
	// The hour level is stripped for the last stripHours (33 days), the day level whole.
	if strips < 31*9+2*9 || strips > 34*9+2*9 {
		t.Fatalf("%d strips after sealing 75 days of 9 combos", strips)
	}
	check := func(what string) {
		t.Helper()
		strippedRows(t, s, what)
		for _, f := range []Filter{{Models: []string{"model-2"}}, {Accounts: []string{"b@x", "c@x"}}} {
			for _, q := range []TrendQuery{
				{Dimension: ByAccount, Granularity: Daily, Hours: 24 * 90, Metric: MetricTokens},
				{Dimension: ByModel, Granularity: Daily, Hours: 24 * 80, Metric: MetricCost},
				{Dimension: ByAccount, Granularity: Hourly, Hours: MaxHourlyHours, Metric: MetricRequests},
				{Dimension: ByCredential, Granularity: Hourly, Hours: 200, Metric: MetricTokens},
			} {
				q.End, q.Filter = end.Add(-7*time.Hour-13*time.Minute), f
				checkTrend(t, s, b, q, loc, fmt.Sprintf("%s: %+v", what, q))
			}
		}
	}
	check("sealed")
	// One late record into a stripped day: counted from cube until the merge, then from its strip.
	add(rec(base.Add(60*24*time.Hour+5*time.Hour), "b@x", "model-2", 5000, 500))
	check("late, before the merge")
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("late, merged")
	// Late records into many spans: `to` moves back and the spans are stripped again.
	var late []Record
	for d := 3; d < 60; d += 4 {
		late = append(late, rec(base.Add(time.Duration(d)*24*time.Hour+time.Hour), "c@x", "model-2", 70, 7))
	}
	add(late...)
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("many late, merged")
	// Records older than any before: the stripped range grows back to them.
	add(rec(base.Add(-40*24*time.Hour), "a@x", "model-2", 9, 9), rec(base.Add(-3*24*time.Hour), "b@x", "model-1", 8, 8))
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("older records, merged")
	// A re-pricing changes the cost of every sealed row.
	b.pricer = pricesB
	if err := s.SetPricer(ctx, pricesB); err != nil {
		t.Fatal(err)
	}
	waitRepriced(t, s)
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("re-priced")
	// A clear that ends in the middle of a day and of a month.
	cut := base.Add(45*24*time.Hour + 14*time.Hour + 30*time.Minute)
	if _, err := s.Clear(ctx, &cut); err != nil {
		t.Fatal(err)
	}
	b.without(cut)
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("cleared to the middle of a day")
	// Retention: hour rollups before the cutoff go, and their strips with them.
	retire := base.Add(50 * 24 * time.Hour)
	if _, err := s.Retire(ctx, retire); err != nil {
		t.Fatal(err)
	}
	b.retireBefore(floorBoundary(levelDay, retire.Unix(), loc), loc)
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	var old int
	s.rdb.QueryRow(`SELECT count(*) FROM strips WHERE level = ? AND start < ?`, int(levelHour),
		floorBoundary(levelDay, retire.Unix(), loc)).Scan(&old)
	if old != 0 {
		t.Fatalf("%d hour strips left before the retention cutoff", old)
	}
	check("retired")
	// Days later the oldest hour strips have gone.
	clock.Store(end.Add(6 * 24 * time.Hour).Unix())
	end = end.Add(6 * 24 * time.Hour)
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("six days later")
	// Everything cleared: nothing is stripped until records come again.
	if _, err := s.Clear(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b.recs, b.at = nil, nil // the retention cutoff goes with everything
	s.rdb.QueryRow(`SELECT count(*) FROM strips`).Scan(&strips)
	if strips != 0 {
		t.Fatalf("%d strips after clearing everything", strips)
	}
	add(recs[:500]...)
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("recorded again")
}

// A strip reads back what was written, negative sums included, and a cut one is an error, not numbers.
func TestStripEntriesRoundTrip(t *testing.T) {
	var data []byte
	want := [][4]int64{{1000, 5, 7, 1}, {1000 + 3600, 1 << 40, -3, 2}, {1000 + 7200, 0, 0, 0}}
	prev := int64(1000)
	for _, e := range want {
		data = appendStripEntry(data, e[0]-prev, e[1], e[2], e[3])
		prev = e[0]
	}
	var got [][4]int64
	if err := eachStripEntry(data, 1000, func(b, tokens, cost, requests int64) {
		got = append(got, [4]int64{b, tokens, cost, requests})
	}); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read back %v, %v; want %v", got, err, want)
	}
	if err := eachStripEntry(data[:len(data)-1], 1000, func(int64, int64, int64, int64) {}); err != errBadStrip {
		t.Fatalf("a cut strip read with %v, want errBadStrip", err)
	}
}
