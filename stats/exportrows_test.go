package stats

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// exportFixture is a store with records of several names, flags, costs and sources, some with request
// ids and some without, and an alias, beside the records it was given.
func exportFixture(t *testing.T, n int) (*Store, []Record, time.Time) {
	t.Helper()
	end := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	s, _, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{Location: mustLoad(t, "Asia/Kolkata"),
		Pricer: testPricer{}, Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rng := rand.New(rand.NewPCG(7, 7))
	accounts := []string{"a@example.com", "张伟@example.com", "b@example.com"}
	models := []string{"model-1", "model-2", "model-4", "模型-x"}
	var recs []Record
	for i := range n {
		in := int64(rng.IntN(5000) + 1)
		r := Record{
			Time:    end.Add(-time.Duration(rng.IntN(72*3600)) * time.Second),
			Account: accounts[rng.IntN(len(accounts))], Model: models[rng.IntN(len(models))],
			InputTokens: in, OutputTokens: int64(rng.IntN(900)), CachedTokens: in / 3, CacheCreationTokens: in / 5,
			IsAntigravity: i%4 != 0, Source: []string{"", "gcli2api", "claude-code"}[i%3],
			Credential: []string{"", "cred-1.json", "key …a1b2"}[i%3],
		}
		r.ReasoningTokens = r.OutputTokens / 2
		if i%2 == 0 {
			r.RequestID = fmt.Sprintf("req-%d", i)
		}
		if i%5 == 0 {
			r.AgentCost, r.HasAgentCost = Money(rng.IntN(1_000_000)), true
		}
		recs = append(recs, r)
	}
	mustRecord(t, s, recs...)
	if err := s.SetAlias(context.Background(), ByAccount, "b@example.com", "bob"); err != nil {
		t.Fatal(err)
	}
	return s, recs, end
}

func exportAll(t *testing.T, s *Store, w Window, f Filter) []ExportedRecord {
	t.Helper()
	var out []ExportedRecord
	err := s.Export(context.Background(), w, f, func(r *ExportedRecord) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// content is what a record holds, for comparing sets of records.
func content(r Record) string {
	return fmt.Sprintf("%d|%s|%s|%s|%s|%v|%d|%d|%d|%d|%d|%v|%d", r.Time.Unix(), r.Account, r.Model, r.Source,
		r.Credential, r.IsAntigravity, r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens,
		r.CacheCreationTokens, r.HasAgentCost, r.AgentCost)
}

// TestExportGivesEveryRecordOfTheWindow: an export holds exactly the records of the window that the
// filter keeps (a filter on an alias keeps the names carrying it), with their stored names, flags, token
// counts, agent cost and the cost the store priced them at, oldest first, each once — for filters that keep
// few combos and many, and none, and for chunks of the export's size.
func TestExportGivesEveryRecordOfTheWindow(t *testing.T) {
	s, recs, end := exportFixture(t, 3*exportChunk+100)
	bf := bruteForce{recs: recs, alias: map[string]string{"b@example.com": "bob"}}
	for _, tc := range []struct {
		name  string
		hours int
		f     Filter
	}{
		{"all", 72, Filter{}},
		{"edge", 30, Filter{}},
		{"alias", 72, Filter{Accounts: []string{"bob"}}},
		{"sparse", 48, Filter{Models: []string{"模型-x"}, Sources: []string{""}}},
		{"sparse, more than a chunk", 72, Filter{Accounts: []string{"a@example.com"}}},
		{"dense", 72, Filter{Models: []string{"model-1", "model-2", "model-4"}}},
		{"nothing", 72, Filter{Models: []string{"no-such-model"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := LastHours(end, tc.hours)
			got := exportAll(t, s, w, tc.f)
			var want, have []string
			var wantCost, haveCost Totals
			for _, r := range recs {
				if bf.keeps(&r, w, tc.f) {
					want = append(want, content(r))
					wantCost.Add(bf.totals(&r))
				}
			}
			for i, e := range got {
				if i > 0 && e.Row <= got[i-1].Row {
					t.Fatalf("record %d: row %d after %d: not in id order", i, e.Row, got[i-1].Row)
				}
				if e.Time.Unix() != e.Row>>seqBits {
					t.Fatalf("record %d: time %v, row %d", i, e.Time, e.Row)
				}
				have = append(have, content(e.Record))
				haveCost.Add(recordTotals(&e.Record, e.Cost, e.Priced))
			}
			slices.Sort(want)
			slices.Sort(have)
			if !slices.Equal(want, have) {
				t.Fatalf("exported %d records, want %d; they differ", len(have), len(want))
			}
			if haveCost != wantCost {
				t.Errorf("exported totals %+v, want %+v", haveCost, wantCost)
			}
			sum, err := s.Summary(context.Background(), w, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Totals != haveCost {
				t.Errorf("summary %+v, export sums %+v", sum.Totals, haveCost)
			}
		})
	}
}

// TestExportedRecordsImportOnce: records carrying their export ids add nothing to the store they were
// exported from; in a fresh store they add every record once, however often they are imported, and the
// views there equal the views of the origin; a record whose content no longer matches its export id
// is a new record.
func TestExportedRecordsImportOnce(t *testing.T) {
	ctx := context.Background()
	s, _, end := exportFixture(t, exportChunk+300)
	w := LastHours(end, 100)
	exp := exportAll(t, s, w, Filter{})
	recs := make([]Record, len(exp))
	for i, e := range exp {
		recs[i] = e.Record
		recs[i].Kind = KindImport
	}
	before, err := s.Summary(ctx, w, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if res := mustRecord(t, s, recs...); res.Accepted != 0 || res.Duplicates != len(recs) {
		t.Fatalf("re-import into the same store: %+v, want 0 accepted, %d duplicates", res, len(recs))
	}
	if after, _ := s.Summary(ctx, w, Filter{}); after != before {
		t.Fatalf("summary changed by a re-import: %+v, was %+v", after, before)
	}

	fresh, _, err := Open(filepath.Join(t.TempDir(), "fresh.db"), Options{Location: s.Location(),
		Pricer: testPricer{}, Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for round, want := range []Result{{Accepted: len(recs)}, {Duplicates: len(recs)}} {
		if res := mustRecord(t, fresh, recs...); res != want {
			t.Fatalf("import %d into a fresh store: %+v, want %+v", round+1, res, want)
		}
	}
	// The aliases belong to the first folder; without them the views must agree name for name.
	if err := s.SetAlias(ctx, ByAccount, "b@example.com", ""); err != nil {
		t.Fatal(err)
	}
	for _, d := range allDims {
		a, err := s.Breakdown(ctx, d, w, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := fresh.Breakdown(ctx, d, w, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Errorf("by %s: fresh store %+v, origin %+v", d, b, a)
		}
	}
	// A fresh export of the fresh store names its own rows; it also adds nothing back at the origin
	// when the rows got the same ids there, and never twice in the fresh store.
	again := exportAll(t, fresh, w, Filter{})
	if len(again) != len(exp) {
		t.Fatalf("fresh store exports %d records, want %d", len(again), len(exp))
	}
	back := make([]Record, len(again))
	for i, e := range again {
		back[i] = e.Record
	}
	if res := mustRecord(t, fresh, back...); res.Accepted != 0 {
		t.Fatalf("re-import of the fresh store's export into it: %+v", res)
	}

	// Changed content under an export id: the row no longer holds it, so it is new (once).
	changed := recs[0]
	changed.OutputTokens++
	changed.ReasoningTokens = 0
	for round, want := range []Result{{Accepted: 1}, {Duplicates: 1}} {
		if res := mustRecord(t, s, changed); res != want {
			t.Fatalf("changed record, import %d: %+v, want %+v", round+1, res, want)
		}
	}
}

func TestExportIDParses(t *testing.T) {
	r := Record{Time: time.Unix(1_770_000_000, 0), Account: "a", Model: "m", InputTokens: 5}
	id := ExportID(1_770_000_000<<seqBits|3, &r)
	row, fp, ok := parseExportID(id)
	if !ok || row != 1_770_000_000<<seqBits|3 || fp != fingerprint(&r) {
		t.Fatalf("parseExportID(%q) = %d, %x, %v", id, row, fp, ok)
	}
	if len(id) > MaxRequestIDLen {
		t.Fatalf("export id %q is longer than a request id may be", id)
	}
	for _, bad := range []string{"", "tokenstats:", "tokenstats:12", "tokenstats:x:0123456789abcdef",
		"tokenstats:-1:0123456789abcdef", "tokenstats:12:0123", "otlp:12:0123456789abcdef"} {
		if _, _, ok := parseExportID(bad); ok {
			t.Errorf("parseExportID(%q) accepted", bad)
		}
	}
}
