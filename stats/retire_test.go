package stats

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Records keep arriving (live ones, and late ones from before the cutoff) while retention deletes in
// chunks of 50 rows; afterwards every view agrees with the brute force under the retention rule, and
// nothing acknowledged was lost or counted twice.
func TestRetireWhileRecording(t *testing.T) {
	loc := mustLoad(t, "Europe/Berlin")
	end := time.Date(2026, 6, 20, 15, 0, 0, 0, loc)
	s, _, err := Open(filepath.Join(t.TempDir(), "r.db"), Options{Location: loc, Pricer: testPricer{},
		Now: func() time.Time { return end }, retireChunk: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	b := &bruteForce{}
	for range 3000 {
		b.recs = append(b.recs, randomRecord(rng, end.Add(-time.Duration(rng.Int64N(30*24*3600))*time.Second)))
	}
	mustRecord(t, s, b.recs...)
	retireAt := end.AddDate(0, 0, -12)
	cut := floorBoundary(levelDay, retireAt.Unix(), loc)

	var more []Record
	for range 400 {
		more = append(more, randomRecord(rng, end.Add(-time.Duration(rng.Int64N(30*24*3600))*time.Second)))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(more); i += 10 {
			if _, err := s.Record(ctx, more[i:i+10]...); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	res, err := s.Retire(ctx, retireAt)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Cutoff.Unix() != cut || res.Removed == 0 {
		t.Fatalf("retire: %+v", res)
	}
	// A second pass deletes what records arriving during the first left (none: late records add no row).
	if res2, err := s.Retire(ctx, retireAt); err != nil || res2.Removed != 0 {
		t.Fatalf("second pass: %+v, %v", res2, err)
	}
	b.recs = append(b.recs, more...)
	b.retireBefore(cut, loc)
	var raw int64
	for _, r := range b.recs {
		if r.Time.Unix() >= cut {
			raw++
		}
	}
	inf, err := s.Info(ctx)
	if err != nil || inf.Records != raw {
		t.Fatalf("info: %d records, want %d (%v)", inf.Records, raw, err)
	}
	for i := 0; i < 30; i++ {
		hours := []int{1, 24, 24 * 7, 24*12 + 5, 24 * 13, 24 * 20, 24 * 40, MaxHours}[i%8]
		e := end.Add(-time.Duration(rng.IntN(24*15)) * time.Hour)
		var f Filter
		if i%2 == 1 {
			f = randomFilter(rng, b)
		}
		what := fmt.Sprintf("window %d h ending %s, filter %+v", hours, e.Format(time.RFC3339), f)
		checkViews(t, s, b, LastHours(e, hours), f, what)
		q := TrendQuery{Dimension: ByAccount, Granularity: Daily, End: e, Hours: hours, Filter: f, Metric: Metric(i % 3)}
		checkTrend(t, s, b, q, loc, what)
		if hours <= MaxHourlyHours {
			q.Granularity = Hourly
			checkTrend(t, s, b, q, loc, what)
		}
	}
	// No hour or minute rollup is left before the cutoff: nothing reads them.
	var fine int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM rollup WHERE level IN (?, ?) AND bucket < ?`,
		int(levelMinute), int(levelHour), cut).Scan(&fine); err != nil || fine != 0 {
		t.Fatalf("%d hour and minute rollups before the cutoff (%v)", fine, err)
	}
}

// An hourly trend reaching past the cutoff shows each retired day's total in the hour its day starts
// with: the rule docs/retention.md gives, seen from the outside.
func TestRetiredDaysInAnHourlyTrend(t *testing.T) {
	loc := time.UTC
	end := time.Date(2026, 6, 20, 12, 0, 0, 0, loc)
	s, _, err := Open(filepath.Join(t.TempDir(), "h.db"), Options{Location: loc, Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustRecord(t, s, rec(time.Date(2026, 6, 17, 9, 30, 0, 0, loc), "a", "m", 10, 1),
		rec(time.Date(2026, 6, 17, 22, 0, 0, 0, loc), "a", "m", 20, 2),
		rec(time.Date(2026, 6, 19, 9, 30, 0, 0, loc), "a", "m", 40, 4))
	if _, err := s.Retire(ctx, time.Date(2026, 6, 19, 5, 0, 0, 0, loc)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Filter{{}, {Accounts: []string{"a"}}} {
		tr, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Hourly, End: end, Hours: 72, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, p := range tr.Periods {
			if v := p.Values["m"]; v != 0 {
				got[p.Label] = v
			}
		}
		// The window starts at 12:00 on the 17th: that day's start is outside it, so the day is not shown.
		if len(got) != 1 || got["2026-06-19 09:00"] != 44 {
			t.Fatalf("filter %+v: hourly trend %v, want only 2026-06-19 09:00: 44", f, got)
		}
		sum, err := s.Summary(ctx, LastHours(end, 24*4), f)
		if err != nil || sum.Requests != 3 {
			t.Fatalf("4 days: %+v, %v", sum, err)
		}
		tr, err = s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Hourly, End: end, Hours: 24 * 4, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range tr.Periods {
			if v := p.Values["m"]; v != 0 && !(p.Label == "2026-06-17 00:00" && v == 33 || p.Label == "2026-06-19 09:00" && v == 44) {
				t.Fatalf("filter %+v: %s has %d", f, p.Label, v)
			}
		}
	}
}

// The retention cutoff is a day boundary of the store's zone; opened in another zone, the retired days
// move to the new zone's day holding their start, the cutoff to the next day boundary there, and every
// view agrees with that rule; all-time totals do not change.
func TestRetentionAcrossZoneChange(t *testing.T) {
	utc, kol := time.UTC, mustLoad(t, "Asia/Kolkata")
	end := time.Date(2026, 6, 20, 12, 0, 0, 0, utc)
	now := func() time.Time { return end }
	path := filepath.Join(t.TempDir(), "z.db")
	s, _, err := Open(path, Options{Location: utc, Pricer: testPricer{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	b := &bruteForce{}
	for range 1500 {
		b.recs = append(b.recs, randomRecord(rng, end.Add(-time.Duration(rng.Int64N(10*24*3600))*time.Second)))
	}
	mustRecord(t, s, b.recs...)
	all := b.all()
	if _, err := s.Retire(ctx, end.AddDate(0, 0, -5)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, _, err = Open(path, Options{Location: kol, Pricer: testPricer{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	oldCut := floorBoundary(levelDay, end.AddDate(0, 0, -5).Unix(), utc)
	newCut := ceilBoundary(levelDay, oldCut, kol)
	b.at = func(ts int64) int64 {
		switch {
		case ts < oldCut:
			return floorBoundary(levelDay, floorBoundary(levelDay, ts, utc), kol)
		case ts < newCut:
			return floorBoundary(levelDay, ts, kol)
		}
		return ts
	}
	inf, err := s.Info(ctx)
	if err != nil || inf.Cutoff.Unix() != newCut {
		t.Fatalf("cutoff in Kolkata %s, want %s (%v)", inf.Cutoff, time.Unix(newCut, 0).In(kol), err)
	}
	sum, err := s.Summary(ctx, LastHours(end, MaxHours), Filter{})
	if err != nil || sum.Totals != all {
		t.Fatalf("all time in Kolkata %+v, want %+v (%v)", sum.Totals, all, err)
	}
	for i := 0; i < 20; i++ {
		hours := 1 + rng.IntN(24*9)
		e := end.Add(-time.Duration(rng.IntN(24*6*3600)) * time.Second)
		var f Filter
		if i%2 == 1 {
			f = randomFilter(rng, b)
		}
		what := fmt.Sprintf("Kolkata, window %d h ending %s, filter %+v", hours, e.In(kol).Format(time.RFC3339), f)
		checkViews(t, s, b, LastHours(e, hours), f, what)
		checkTrend(t, s, b, TrendQuery{Dimension: ByModel, Granularity: Daily, End: e, Hours: hours, Filter: f}, kol, what)
	}
}

// Removed rows give their space back: a file created by this version keeps the incremental-vacuum map,
// and Retire returns free pages and checkpoints, so the database file shrinks. The sizes are logged for
// docs/retention.md (go test -run TestRetireGivesSpaceBack -v ./stats/).
func TestRetireGivesSpaceBack(t *testing.T) {
	end := time.Date(2026, 6, 20, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "v.db")
	s, _, err := Open(path, Options{Location: time.UTC, Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 60000
	var recs []Record
	for i := range n {
		r := randomRecord(rng, end.Add(-time.Duration(i)*60*time.Second)) // one a minute: 41.7 days
		r.RequestID = fmt.Sprintf("req-%d", i)
		recs = append(recs, r)
	}
	for lo := 0; lo < n; lo += 5000 {
		mustRecord(t, s, recs[lo:lo+5000]...)
	}
	checkpoint := func() {
		if err := s.w.submit(ctx, &writeReq{bare: true, op: func(ctx2 context.Context, w *writer) (bool, error) {
			_, err := w.conn.ExecContext(ctx2, "PRAGMA wal_checkpoint(TRUNCATE)")
			return false, err
		}}); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint()
	before, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Retire(ctx, end.AddDate(0, 0, -7))
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dbSize := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	afterDB := dbSize()
	checkpoint()
	truncated, _ := s.Info(ctx)
	t.Logf("%d records over 41.7 days, 7 days kept (%d raw rows removed):", n, res.Removed)
	t.Logf("  before: %d bytes (file + WAL, WAL checkpointed and truncated)", before.SizeBytes)
	t.Logf("  after Retire: %d bytes in db-info, of which the file %d and the WAL %d", after.SizeBytes, afterDB, after.SizeBytes-afterDB)
	t.Logf("  after a TRUNCATE checkpoint: %d bytes", truncated.SizeBytes)
	if afterDB*2 > before.SizeBytes {
		t.Fatalf("the file kept %d of %d bytes after 5/6 of its rows went", afterDB, before.SizeBytes)
	}
	var free int64
	if err := s.rdb.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil || free != 0 {
		t.Fatalf("%d free pages left (%v)", free, err)
	}
}

// A file written before retention existed (no auto-vacuum map) is rewritten once when opened with
// RetentionDays, and then retention runs in the background from the open on.
func TestOldFileConvertedForRetention(t *testing.T) {
	end := time.Date(2026, 6, 20, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	db.Close()
	now := func() time.Time { return end }
	s, _, err := Open(path, Options{Location: time.UTC, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	mustRecord(t, s, rec(end.AddDate(0, 0, -20), "a", "m", 1, 1), rec(end.AddDate(0, 0, -1), "a", "m", 2, 2))
	s.Close()
	s, _, err = Open(path, Options{Location: time.UTC, Now: now, RetentionDays: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode int
	if err := s.rdb.QueryRow(`PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != autoVacuumIncremental {
		t.Fatalf("auto_vacuum %d after opening with retention (%v)", mode, err)
	}
	// The background pass runs at open; its end shows as the row count.
	deadline := time.Now().Add(30 * time.Second)
	for {
		inf, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if inf.Records == 1 && inf.Cutoff.Equal(time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not run at open: %+v", inf)
		}
		time.Sleep(10 * time.Millisecond)
	}
	sum, err := s.Summary(ctx, LastHours(end, MaxHours), Filter{})
	if err != nil || sum.Requests != 2 || sum.TotalTokens() != 6 {
		t.Fatalf("all time after retention: %+v, %v", sum, err)
	}
}

func TestRetireRefusesTheFuture(t *testing.T) {
	s := openTest(t, time.UTC)
	if _, err := s.Retire(ctx, time.Now().Add(time.Hour)); err == nil {
		t.Fatal("a cutoff in the future was accepted")
	}
}

// A record removed by retention is still known by its request id: a proxy replaying it later is told
// it is a duplicate, and the day totals do not count it twice.
func TestRetiredRequestIDsStayDuplicates(t *testing.T) {
	end := time.Date(2026, 6, 20, 12, 0, 0, 0, time.UTC)
	s, _, err := Open(filepath.Join(t.TempDir(), "d.db"), Options{Location: time.UTC, Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := rec(end.AddDate(0, 0, -20), "a", "m", 5, 5)
	old.RequestID = "replayed-later"
	mustRecord(t, s, old)
	if res, err := s.Retire(ctx, end.AddDate(0, 0, -7)); err != nil || res.Removed != 1 {
		t.Fatalf("retire: %+v, %v", res, err)
	}
	if res := mustRecord(t, s, old); res.Duplicates != 1 || res.Accepted != 0 {
		t.Fatalf("the replay: %+v", res)
	}
	if sum, err := s.Summary(ctx, LastHours(end, MaxHours), Filter{}); err != nil || sum.Requests != 1 {
		t.Fatalf("all time: %+v, %v", sum, err)
	}
}
