package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

func rowsFor(names ...string) []stats.Row {
	var rows []stats.Row
	for i, n := range names {
		rows = append(rows, stats.Row{Name: n, Totals: stats.Totals{Requests: int64(len(names) - i), InputTokens: int64(i * 10), OutputTokens: 5}})
	}
	return rows
}

func names(rows []tableRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return out
}

func TestSortFilterShares(t *testing.T) {
	rows := withShares(rowsFor("b", "a", "c"))
	var sum float64
	for _, r := range rows {
		sum += r.Share
	}
	if sum < 0.9999 || sum > 1.0001 {
		t.Errorf("shares sum to %v", sum)
	}
	// c has the largest total (20+5 of 45).
	if rows[2].Share < 0.555 || rows[2].Share > 0.556 {
		t.Errorf("share of c = %v, want 25/45", rows[2].Share)
	}
	sortRows(rows, colName, false)
	if got := names(rows); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("by name: %v", got)
	}
	sortRows(rows, colRequests, true)
	if got := names(rows); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Errorf("by requests desc: %v", got)
	}
	sortRows(rows, colTotal, false)
	if got := names(rows); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Errorf("by total asc: %v", got)
	}
	if got := names(filterRows(rows, " A ")); !slices.Equal(got, []string{"a"}) {
		t.Errorf("filter: %v", got)
	}
	if got := filterRows(rows, ""); len(got) != 3 {
		t.Errorf("empty filter keeps %d", len(got))
	}
	if s := withShares(nil); len(s) != 0 {
		t.Error("shares of nothing")
	}
	z := withShares([]stats.Row{{Name: "zero"}})
	if z[0].Share != 0 {
		t.Errorf("share of an all-zero table: %v", z[0].Share)
	}
	if formatShare(0.00001) != "<0.1%" || formatShare(0.25) != "25.0%" || formatShare(0) != "0.0%" {
		t.Error("formatShare")
	}
}

func TestClearChoiceAndCommand(t *testing.T) {
	for _, s := range []string{"0", "-1", "x", "3651", ""} {
		if _, err := parseDays(s); err == nil {
			t.Errorf("parseDays(%q) accepted", s)
		}
	}
	if n, err := parseDays(" 30 "); err != nil || n != 30 {
		t.Errorf("parseDays(30) = %d, %v", n, err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if got := (clearChoice{Days: 30}).cutoff(now); !got.Equal(now.Add(-30 * 24 * time.Hour)) {
		t.Errorf("cutoff %v", got)
	}
	c := curlCommand("http://127.0.0.1:1/usage", "T")
	if !strings.Contains(c, "'Authorization: Bearer T'") || !strings.HasSuffix(c, " http://127.0.0.1:1/usage") {
		t.Errorf("curl: %s", c)
	}
	if m := maskToken("abcdefgh1234"); strings.Contains(m, "abcd") || !strings.HasSuffix(m, "1234") {
		t.Errorf("mask: %s", m)
	}
}

func TestMoneyShortAndCostText(t *testing.T) {
	for _, c := range []struct {
		nanos int64
		want  string
	}{
		{0, "$0"}, {1, "$0.000000001"}, {4_249_999, "$0.0042"}, {4_250_000, "$0.0043"}, {9_960_000, "$0.01"},
		{10_000_000, "$0.01"}, {12_345_678_901, "$12.35"}, {1_234_564_999_999, "$1,234.56"},
		{9_999_994_999_999, "$9,999.99"}, {9_999_995_000_000, "$10K"}, {12_345_000_000_000, "$12.3K"},
	} {
		if got := MoneyShort(stats.Money(c.nanos)); got != c.want {
			t.Errorf("MoneyShort(%d) = %q, want %q", c.nanos, got, c.want)
		}
	}
	// No price at all: "—", never $0; some requests unpriced: the estimate, and the tooltip says how many.
	if text, tip := costText(stats.Totals{Requests: 3, Unpriced: 3}); text != "—" || !strings.Contains(tip, "No price") {
		t.Errorf("unpriced: %q %q", text, tip)
	}
	text, tip := costText(stats.Totals{Requests: 3, Unpriced: 1, Cost: 1_500_000_000, AgentRequests: 2, AgentCost: 2_000_000_000})
	if text != "$1.50" || !strings.HasPrefix(tip, "$1.5\n") ||
		!strings.Contains(tip, "1 request unpriced") || !strings.Contains(tip, "reported $2.00 for 2 of these requests") {
		t.Errorf("priced: %q %q", text, tip)
	}
	rows := withShares([]stats.Row{{Name: "free", Totals: stats.Totals{Requests: 1, Unpriced: 1}},
		{Name: "cheap", Totals: stats.Totals{Requests: 1, Cost: 1}}, {Name: "dear", Totals: stats.Totals{Requests: 1, Cost: 9}}})
	sortRows(rows, colCost, true)
	if got := names(rows); !slices.Equal(got, []string{"dear", "cheap", "free"}) {
		t.Errorf("by cost: %v (an unpriced model sorts below every priced one)", got)
	}
}
