package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var ctx = context.Background()

func TestRecordAndQuery(t *testing.T) {
	s := openTest(t, time.UTC)
	now := time.Now().Truncate(time.Second)
	r1 := rec(now.Add(-time.Minute), "a@x", "m1", 100, 20)
	r1.CachedTokens, r1.ReasoningTokens, r1.CacheCreationTokens = 40, 5, 7
	res := mustRecord(t, s, r1, rec(now.Add(-2*time.Hour), "b@x", "m1", 10, 1), rec(now, "a@x", "m2", 3, 4))
	if res.Accepted != 3 || res.Duplicates != 0 {
		t.Fatalf("result %+v", res)
	}
	sum, err := s.Summary(ctx, LastHours(now, 24), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Totals: Totals{Requests: 3, InputTokens: 113, OutputTokens: 25, CachedTokens: 40,
		ReasoningTokens: 5, CacheCreationTokens: 7, Unpriced: 3}, Accounts: 2, Models: 2}
	if sum != want {
		t.Fatalf("summary %+v, want %+v", sum, want)
	}
	if sum.TotalTokens() != 138 {
		t.Fatalf("total %d", sum.TotalTokens())
	}
	rows, err := s.Breakdown(ctx, ByModel, LastHours(now, 1), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Name != "m1" || rows[0].TotalTokens() != 120 || rows[1].Name != "m2" || rows[1].Requests != 1 {
		t.Fatalf("by model, last hour: %+v", rows)
	}
	rows, err = s.Breakdown(ctx, ByAccount, LastHours(now, 24), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Name != "a@x" || rows[0].Requests != 2 || rows[1].Name != "b@x" || rows[1].TotalTokens() != 11 {
		t.Fatalf("by account: %+v", rows)
	}
	inf, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inf.Records != 3 || inf.SizeBytes <= 0 {
		t.Fatalf("info %+v", inf)
	}
}

func TestBreakdownOrderTiesByName(t *testing.T) {
	s := openTest(t, time.UTC)
	now := time.Now()
	mustRecord(t, s, rec(now, "a", "zeta", 5, 5), rec(now, "a", "alpha", 5, 5), rec(now, "a", "big", 50, 0))
	rows, err := s.Breakdown(ctx, ByModel, LastHours(now, 1), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "big,alpha,zeta" {
		t.Fatalf("order %s", got)
	}
}

func TestExactWindowEdges(t *testing.T) {
	s := openTest(t, time.UTC)
	end := time.Date(2026, 3, 10, 12, 34, 56, 0, time.UTC)
	// 1 hour window: (11:34:56, 12:34:56]
	mustRecord(t, s,
		rec(end.Add(-time.Hour), "a", "out-at-start", 1, 0), // excluded: exactly end−hours
		rec(end.Add(-time.Hour+time.Second), "a", "in-first-second", 2, 0),
		rec(end, "a", "in-last-second", 4, 0),
		rec(end.Add(time.Second), "a", "out-after-end", 8, 0),
	)
	sum, err := s.Summary(ctx, LastHours(end, 1), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests != 2 || sum.InputTokens != 6 {
		t.Fatalf("1-hour window holds %+v, want the two records inside", sum)
	}
	tr, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Hourly, End: end, Hours: 1})
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	var total int64
	for _, p := range tr.Periods {
		labels = append(labels, p.Label)
		for _, v := range p.Values {
			total += v
		}
	}
	if strings.Join(labels, "|") != "2026-03-10 11:00|2026-03-10 12:00" || total != 6 {
		t.Fatalf("trend %v total %d", labels, total)
	}
}

func TestIdempotentRequestIDs(t *testing.T) {
	s := openTest(t, time.UTC)
	now := time.Now()
	a := rec(now, "a", "m", 10, 10)
	a.RequestID = "req-1"
	b := rec(now, "a", "m", 10, 10)
	b.RequestID = "req-2"
	if res := mustRecord(t, s, a, b, a); res.Accepted != 2 || res.Duplicates != 1 {
		t.Fatalf("same id twice in a batch: %+v", res)
	}
	if res := mustRecord(t, s, a); res.Accepted != 0 || res.Duplicates != 1 {
		t.Fatalf("retry: %+v", res)
	}
	noID := rec(now, "a", "m", 1, 1)
	if res := mustRecord(t, s, noID, noID); res.Accepted != 2 {
		t.Fatalf("records without ids are never duplicates: %+v", res)
	}
	sum, _ := s.Summary(ctx, LastHours(now, 1), Filter{})
	if sum.Requests != 4 || sum.TotalTokens() != 44 {
		t.Fatalf("summary %+v", sum)
	}
	// Clearing everything forgets ids: a re-sent record after a full clear is new data.
	if _, err := s.Clear(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if res := mustRecord(t, s, a); res.Accepted != 1 {
		t.Fatalf("after clear: %+v", res)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, _, err := Open(path, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := rec(now, "a", "m", 7, 3)
	r.RequestID = "x"
	mustRecord(t, s, r, rec(now, "b", "m", 1, 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _, err = Open(path, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if res := mustRecord(t, s, r, rec(now, "a", "m2", 5, 5)); res.Accepted != 1 || res.Duplicates != 1 {
		t.Fatalf("after reopen: %+v", res)
	}
	sum, _ := s.Summary(ctx, LastHours(now, 1), Filter{})
	if sum.Requests != 3 || sum.TotalTokens() != 22 || sum.Accounts != 2 || sum.Models != 2 {
		t.Fatalf("summary after reopen %+v", sum)
	}
	inf, _ := s.Info(ctx)
	if inf.Records != 3 {
		t.Fatalf("records %d", inf.Records)
	}
}

func TestFileModeAndSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := func() *Store {
		s, _, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	mustRecord(t, s, rec(time.Now(), "a", "m", 1, 1))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("user_version %d, %v", v, err)
	}
	var mode string
	db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Fatalf("journal mode %q", mode)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.Exec("PRAGMA user_version = 99")
	db.Close()
	_, _, err = Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("want a clear refusal of a newer schema, got %v", err)
	}
}

func TestCorruptFileKeptAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	junk := []byte(strings.Repeat("this is not a database ", 400))
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	s, rec2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec2.CorruptFile == "" || !errors.Is(rec2.Cause, ErrCorrupt) {
		t.Fatalf("recovered %+v", rec2)
	}
	kept, err := os.ReadFile(rec2.CorruptFile)
	if err != nil || string(kept) != string(junk) {
		t.Fatalf("the corrupt file must be kept unchanged: %v", err)
	}
	mustRecord(t, s, rec(time.Now(), "a", "m", 1, 1))
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	s, _, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Record(ctx, rec(time.Now(), "a", "m", 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestChangesNotifyAfterCommit(t *testing.T) {
	s := openTest(t, time.UTC)
	ch, stop := s.Changes()
	defer stop()
	mustRecord(t, s, rec(time.Now(), "a", "m", 1, 1))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no change notification after a commit")
	}
	// A duplicate changes nothing and notifies nobody.
	r := rec(time.Now(), "a", "m", 1, 1)
	r.RequestID = "d"
	mustRecord(t, s, r)
	<-ch
	mustRecord(t, s, r)
	select {
	case <-ch:
		t.Fatal("notified for a duplicate")
	default:
	}
}

func TestZoneChangeRebuildsRollups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.db")
	utc, kol := time.UTC, mustLoad(t, "Asia/Kolkata")
	s, _, err := Open(path, Options{Location: utc})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 5, 20, 12, 0, 0, 0, utc)
	// 20:10 UTC on the 18th is 01:40 on the 19th in Kolkata: the day it counts in must follow the zone.
	mustRecord(t, s, rec(time.Date(2026, 5, 18, 20, 10, 0, 0, utc), "a", "m", 5, 5))
	s.Close()
	s, _, err = Open(path, Options{Location: kol})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: Daily, End: end, Hours: 24 * 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tr.Periods {
		if v := p.Values["m"]; v != 0 && p.Label != "2026-05-19" {
			t.Fatalf("record counted on %s in Kolkata, want 2026-05-19", p.Label)
		}
		if p.Label == "2026-05-19" && p.Values["m"] != 10 {
			t.Fatalf("2026-05-19 has %d", p.Values["m"])
		}
	}
}

// The store refuses what POST /usage refuses, whoever calls it, with the same field errors, and stores
// nothing of a call with one bad record.
func TestStoreValidatesWhatItStores(t *testing.T) {
	s := openTest(t, time.UTC)
	now := time.Now()
	bad := []struct {
		field string
		r     Record
	}{
		{"timestamp", Record{Account: "a", Model: "m", InputTokens: 1}},
		{"input_tokens", rec(now, "a", "m", -1, 0)},
		{"timestamp", rec(time.Unix(1<<40, 0), "a", "m", 1, 1)},
		{"cached_tokens", func() Record { r := rec(now, "a", "m", 5, 1); r.CachedTokens = 6; return r }()},
		{"reasoning_tokens", func() Record { r := rec(now, "a", "m", 5, 1); r.ReasoningTokens = 2; return r }()},
	}
	for _, c := range bad {
		_, err := s.Record(ctx, rec(now, "ok", "m", 1, 1), c.r)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Index != 1 {
			t.Errorf("%+v: got %v, want a field error on %s at index 1", c.r, err, c.field)
		}
	}
	if inf, err := s.Info(ctx); err != nil || inf.Records != 0 {
		t.Fatalf("records stored from refused calls: %d (%v)", inf.Records, err)
	}
}

// A rebuild of more keys than the rollup builder holds writes them out in parts, and counts nothing
// twice: the record count and every sum stay what they were.
func TestRebuildInPartsCountsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s, _, err := Open(path, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Truncate(time.Second)
	var recs []Record
	for i := range 600 {
		recs = append(recs, rec(end.Add(-time.Duration(i)*97*time.Minute), fmt.Sprintf("a%d", i%13), fmt.Sprintf("m%d", i%7), int64(i+1), 1))
	}
	mustRecord(t, s, recs...)
	w := LastHours(end, MaxHours)
	before, err := s.Summary(ctx, w, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	forgetZone(t, path)
	s, _, err = Open(path, Options{Location: time.UTC, rebuildKeys: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, err := s.Summary(ctx, w, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	inf, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before || inf.Records != 600 {
		t.Fatalf("after a rebuild in parts: %+v and %d records, before %+v and 600", after, inf.Records, before)
	}
	rows, err := s.Breakdown(ctx, ByAccount, w, Filter{Models: []string{"m3"}})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Requests
	}
	if n != 600/7+1 { // i%7 == 3 for i in 0…599
		t.Fatalf("filtered breakdown after the rebuild counts %d requests of m3, want %d", n, 600/7+1)
	}
}

// CountThrough counts what Clear removes, however old: the clear dialog shows it.
func TestCountThroughCountsWhatClearRemoves(t *testing.T) {
	s := openTest(t, time.UTC)
	now := time.Now().Truncate(time.Second)
	mustRecord(t, s, rec(time.Date(1971, 3, 1, 0, 0, 0, 0, time.UTC), "a", "m", 1, 1),
		rec(now.Add(-30*24*time.Hour), "a", "m", 1, 1), rec(now.Add(-time.Hour), "a", "m", 1, 1))
	cut := now.Add(-24 * time.Hour)
	n, err := s.CountThrough(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := s.Clear(ctx, &cut)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || removed != 2 {
		t.Fatalf("counted %d, removed %d; want 2 and 2 (one record is 55 years old)", n, removed)
	}
}

// A file written by the first schema (the landed 0.1 release) opens with every record, name and
// request id intact, its records unpriced until a pricer prices them.
func TestMigratesVersion1Files(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	ts := now.Add(-2 * time.Hour).Unix()
	stmts := []string{migrations[0], `PRAGMA user_version = 1`,
		`INSERT INTO names(id, kind, name) VALUES (1, 1, 'a@x'), (2, 2, 'gemini-2.5-pro'), (3, 3, 'cred.json'), (4, 4, 'gcli2api')`,
		fmt.Sprintf(`INSERT INTO usage VALUES (%d, 1, 2, 100, 20, 30, 5, 0, 1, 3, 4), (%d, 1, 2, 7, 3, 0, 0, 0, 0, NULL, NULL)`,
			ts<<seqBits, (ts+60)<<seqBits),
		fmt.Sprintf(`INSERT INTO request_ids(h) VALUES (%d)`, hashID("req-1")),
		`UPDATE meta SET value = 2 WHERE key = 'records'`}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, _, err := Open(path, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Summary(ctx, LastHours(now, 24), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := Totals{Requests: 2, InputTokens: 107, OutputTokens: 23, CachedTokens: 30, ReasoningTokens: 5, Unpriced: 2}
	if sum.Totals != want || sum.Accounts != 1 || sum.Models != 1 {
		t.Fatalf("migrated summary %+v, want %+v", sum, want)
	}
	rows, err := s.Breakdown(ctx, ByCredential, LastHours(now, 24), Filter{Sources: []string{"gcli2api"}})
	if err != nil || len(rows) != 1 || rows[0].Name != "cred.json" || rows[0].InputTokens != 100 {
		t.Fatalf("migrated source and credential: %+v, %v", rows, err)
	}
	res := mustRecord(t, s, Record{Time: now, Account: "a@x", Model: "m", InputTokens: 1, RequestID: "req-1"})
	if res.Duplicates != 1 {
		t.Fatalf("a request id stored by version 1 is not remembered: %+v", res)
	}
	srcs, err := s.Sources(ctx, LastHours(now, 24))
	if err != nil || len(srcs) != 2 {
		t.Fatalf("sources after migration: %+v, %v", srcs, err)
	}
}
