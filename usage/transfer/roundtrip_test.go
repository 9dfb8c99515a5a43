package transfer

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
)

// TestCSVExportReadsBackInAStandardReader: the CSV export starts with a byte order mark and the header,
// encoding/csv reads every row with the header's field count, the names (Chinese, quoted, commas,
// formulas) come back exactly once the formula guard is removed, and the sums of every column equal the
// store's summary of the window, money to the nano-dollar.
func TestCSVExportReadsBackInAStandardReader(t *testing.T) {
	s, end := usageFixture(t, 3000)
	w := stats.LastHours(end, 14*24)
	path := filepath.Join(t.TempDir(), "export.csv")
	exportTo(t, s, w, CSV, path, true)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("\xEF\xBB\xBF")) || !utf8.Valid(raw) {
		t.Fatalf("the file does not start with the UTF-8 byte order mark or is not UTF-8: % x", raw[:8])
	}
	if !bytes.Contains(raw, []byte("\r\n")) {
		t.Error("rows do not end with CRLF (RFC 4180)")
	}
	cr := csv.NewReader(bytes.NewReader(raw[3:]))
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv: %v", err)
	}
	if !slices.Equal(rows[0], Columns) {
		t.Fatalf("header %q, want %q", rows[0], Columns)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	var got stats.Totals
	names := map[string]bool{}
	num := func(row []string, c string) int64 {
		n, err := strconv.ParseInt(row[col[c]], 10, 64)
		if err != nil {
			t.Fatalf("%s %q: %v", c, row[col[c]], err)
		}
		return n
	}
	usd := func(row []string, c string) (stats.Money, bool) {
		v := row[col[c]]
		if v == "" {
			return 0, false
		}
		whole, frac, _ := strings.Cut(v, ".")
		w, err1 := strconv.ParseInt(whole, 10, 64)
		f, err2 := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		if err1 != nil || err2 != nil || len(frac) > 9 {
			t.Fatalf("%s %q is not a decimal of dollars", c, v)
		}
		return stats.Money(w*stats.NanosPerUSD + f), true
	}
	for _, row := range rows[1:] {
		got.Requests++
		got.InputTokens += num(row, "input_tokens")
		got.OutputTokens += num(row, "output_tokens")
		got.CachedTokens += num(row, "cached_tokens")
		got.ReasoningTokens += num(row, "reasoning_tokens")
		got.CacheCreationTokens += num(row, "cache_creation_tokens")
		if num(row, "total_tokens") != num(row, "input_tokens")+num(row, "output_tokens") {
			t.Errorf("total_tokens %v is not input + output", row)
		}
		if m, ok := usd(row, "estimated_cost_usd"); ok {
			got.Cost += m
		} else {
			got.Unpriced++
		}
		if m, ok := usd(row, "agent_cost_usd"); ok {
			got.AgentCost += m
			got.AgentRequests++
		}
		names[uncell(row[col["account_email"]])] = true
		names[uncell(row[col["model"]])] = true
		if strings.HasPrefix(row[col["account_email"]], "=") || strings.HasPrefix(row[col["model"]], "-") {
			t.Errorf("a cell starts a formula: %q", row)
		}
	}
	sum, err := s.Summary(context.Background(), w, stats.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got != sum.Totals {
		t.Fatalf("CSV sums %+v, summary %+v", got, sum.Totals)
	}
	for _, n := range []string{"张伟@example.com", "模型-实验", `"quoted", with comma`, "=HYPERLINK(\"x\")",
		"'apostrophe", "-minus"} {
		if !names[n] {
			t.Errorf("name %q does not come back from the CSV", n)
		}
	}
}

// TestExportsRoundTripIntoAFreshFolder: a JSONL or CSV export imported into a fresh folder gives the
// same records and the same views (summary, every breakdown, hourly and daily trends in every metric);
// importing it again there, or into the folder it came from, adds nothing.
func TestExportsRoundTripIntoAFreshFolder(t *testing.T) {
	s, end := usageFixture(t, 2500)
	w := stats.LastHours(end, 60*24)
	before := contents(t, s, w)
	for _, f := range []Format{JSONL, CSV} {
		t.Run(string(f), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "export."+string(f))
			exportTo(t, s, w, f, path, true)
			fresh := openStore(t, end, s.Location())
			rep := importFile(t, path, into(fresh))
			if rep.Format != f || rep.Accepted != int64(len(before)) || rep.Skipped != 0 || rep.Duplicates != 0 {
				t.Fatalf("import into a fresh folder: %+v", rep)
			}
			if got := contents(t, fresh, w); !slices.Equal(got, before) {
				t.Fatalf("the fresh folder holds other records than the origin")
			}
			sameViews(t, s, fresh, end)
			if rep := importFile(t, path, into(fresh)); rep.Accepted != 0 || rep.Duplicates != int64(len(before)) {
				t.Fatalf("second import into the fresh folder: %+v", rep)
			}
			if rep := importFile(t, path, into(s)); rep.Accepted != 0 || rep.Duplicates != int64(len(before)) {
				t.Fatalf("import into the folder it came from: %+v", rep)
			}
			if got := contents(t, s, w); !slices.Equal(got, before) {
				t.Fatalf("re-import changed the origin folder")
			}
		})
	}
}

// sameViews compares what two stores show: the summary, every breakdown and trends, for windows up to
// the whole month.
func sameViews(t *testing.T, a, b *stats.Store, end time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, hours := range []int{1, 24, 24 * 7, 24 * 31} {
		w := stats.LastHours(end, hours)
		sa, err1 := a.Summary(ctx, w, stats.Filter{})
		sb, err2 := b.Summary(ctx, w, stats.Filter{})
		if err1 != nil || err2 != nil || sa != sb {
			t.Errorf("%d h summary: %+v vs %+v (%v, %v)", hours, sa, sb, err1, err2)
		}
		for _, d := range []stats.Dimension{stats.ByModel, stats.ByAccount, stats.BySource, stats.ByCredential} {
			ra, err1 := a.Breakdown(ctx, d, w, stats.Filter{})
			rb, err2 := b.Breakdown(ctx, d, w, stats.Filter{})
			if err1 != nil || err2 != nil || !slices.Equal(ra, rb) {
				t.Errorf("%d h by %s: %+v vs %+v (%v, %v)", hours, d, ra, rb, err1, err2)
			}
		}
		for _, g := range []stats.Granularity{stats.Hourly, stats.Daily} {
			for _, m := range []stats.Metric{stats.MetricTokens, stats.MetricCost, stats.MetricRequests} {
				q := stats.TrendQuery{Dimension: stats.ByModel, Granularity: g, End: end, Hours: hours, Metric: m}
				ta, err1 := a.Trend(ctx, q)
				tb, err2 := b.Trend(ctx, q)
				if err1 != nil || err2 != nil || !sameTrend(ta, tb) {
					t.Errorf("%d h %s %s trend differs (%v, %v)", hours, g, m, err1, err2)
				}
			}
		}
	}
}

func sameTrend(a, b stats.Trend) bool {
	if len(a.Periods) != len(b.Periods) {
		return false
	}
	for i := range a.Periods {
		pa, pb := a.Periods[i], b.Periods[i]
		if pa.Label != pb.Label || !pa.Start.Equal(pb.Start) || len(pa.Values) != len(pb.Values) {
			return false
		}
		for k, v := range pa.Values {
			if pb.Values[k] != v {
				return false
			}
		}
	}
	return true
}
