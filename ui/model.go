package ui

import (
	"fmt"
	"sort"
	"strings"

	"fyne.io/fyne/v2/lang"

	"github.com/tokenstats/tokenstats/stats"
)

// timeRange is one choice of the range control: a label key (translated when shown) and a length in hours.
type timeRange struct {
	Label string
	Hours int
}

// ranges are the choices of the range control, shortest first.
var ranges = []timeRange{
	{"Last 1 hour", 1},
	{"Last 6 hours", 6},
	{"Last 24 hours", 24},
	{"Last 3 days", 72},
	{"Last 7 days", 7 * 24},
	{"Last 30 days", 30 * 24},
	{"Last 90 days", 90 * 24},
	{"All time", stats.MaxHours},
}

// defaultRange is the index in ranges of "Last 24 hours".
const defaultRange = 2

// dims are the dimensions the tables, the chart and the filters know, in the order chips show them.
var dims = []stats.Dimension{stats.ByModel, stats.ByAccount, stats.BySource, stats.ByCredential}

// dimTitle is a dimension's name in a chip and a table header ("Model"); dimTable its table's title.
var dimTitle = map[stats.Dimension]string{stats.ByModel: "Model", stats.ByAccount: "Account",
	stats.BySource: "Source", stats.ByCredential: "Credential"}
var dimTable = map[stats.Dimension]string{stats.ByModel: "By model", stats.ByAccount: "By account",
	stats.BySource: "By source", stats.ByCredential: "By credential"}

// column is a column of the breakdown tables.
type column int

const (
	colName column = iota
	colRequests
	colInput
	colCached
	colCreation
	colOutput
	colReasoning
	colHitRate
	colTotal
	colCost
	colShare
	numColumns
)

// columnInfo are the columns' header keys (a title and a second, smaller line), whether the user may
// hide them and whether they are shown at first. Side by side at the default window size, two tables
// have room for a name with its domain and six numbers; the rest are a click away (Columns).
var columnInfo = [numColumns]struct {
	title, note     string
	optional, shown bool
}{
	colName:      {title: "Name", shown: true},
	colRequests:  {title: "Requests", shown: true},
	colInput:     {title: "Input", note: "incl. cached", shown: true},
	colCached:    {title: "Cached", optional: true},
	colCreation:  {title: "Cache creation", optional: true},
	colOutput:    {title: "Output", note: "incl. reasoning", shown: true},
	colReasoning: {title: "Reasoning", optional: true},
	colHitRate:   {title: "Hit rate", optional: true},
	colTotal:     {title: "Total", shown: true},
	colCost:      {title: "Cost", shown: true},
	colShare:     {title: "Share", optional: true},
}

// tableRow is a breakdown row with its share of the window's total tokens.
type tableRow struct {
	stats.Row
	Share float64 // 0..1
}

// withShares adds each row's share of the rows' summed total tokens.
func withShares(rows []stats.Row) []tableRow {
	var sum int64
	for _, r := range rows {
		sum += r.TotalTokens()
	}
	out := make([]tableRow, len(rows))
	for i, r := range rows {
		out[i].Row = r
		if sum > 0 {
			out[i].Share = float64(r.TotalTokens()) / float64(sum)
		}
	}
	return out
}

// filterRows keeps the rows whose name (as shown) contains q, case-insensitively; an empty q keeps all.
func filterRows(rows []tableRow, q string) []tableRow {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return rows
	}
	var out []tableRow
	for _, r := range rows {
		if strings.Contains(strings.ToLower(shownName(r.Name)), q) {
			out = append(out, r)
		}
	}
	return out
}

// unpriced tells whether none of a row's requests has a price: its cost is unknown, not $0.
func unpriced(t stats.Totals) bool { return t.Requests > 0 && t.Unpriced >= t.Requests }

// count is the number of a column that counts requests or tokens, false for the other columns.
func count(r tableRow, c column) (int64, bool) {
	switch c {
	case colRequests:
		return r.Requests, true
	case colInput:
		return r.InputTokens, true
	case colCached:
		return r.CachedTokens, true
	case colCreation:
		return r.CacheCreationTokens, true
	case colOutput:
		return r.OutputTokens, true
	case colReasoning:
		return r.ReasoningTokens, true
	case colTotal:
		return r.TotalTokens(), true
	}
	return 0, false
}

// sortKey is what a column sorts by; rows without a price sort below every priced one.
func sortKey(r tableRow, c column) float64 {
	if n, ok := count(r, c); ok {
		return float64(n)
	}
	switch c {
	case colHitRate:
		if r.InputTokens == 0 {
			return 0
		}
		return float64(r.CachedTokens) / float64(r.InputTokens)
	case colCost:
		if unpriced(r.Totals) {
			return -1
		}
		return float64(r.Cost)
	case colShare:
		return float64(r.TotalTokens())
	}
	return 0
}

// sortRows sorts in place by a column, ties broken by name so the order is stable between refreshes.
func sortRows(rows []tableRow, c column, desc bool) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if c != colName {
			if ka, kb := sortKey(a, c), sortKey(b, c); ka != kb {
				return (ka < kb) != desc
			}
			return a.Name < b.Name
		}
		if a.Name == b.Name {
			return false
		}
		return (a.Name < b.Name) != desc
	})
}

// cell is the text a table cell shows and the exact value its tooltip shows. Requests are exact in the
// cell too: they are few enough to read; tokens are shortened.
func cell(r tableRow, c column) (text, tip string) {
	if n, ok := count(r, c); ok {
		if c == colRequests {
			return Exact(n), Exact(n)
		}
		return Short(n), Exact(n)
	}
	switch c {
	case colName:
		return shownName(r.Name), shownName(r.Name)
	case colHitRate:
		p := percent(r.CachedTokens, r.InputTokens)
		return p, p
	case colCost:
		return costText(r.Totals)
	case colShare:
		s := formatShare(r.Share)
		return s, fmt.Sprintf("%.4f%%", r.Share*100)
	}
	return "", ""
}

// costText is a cost cell or card: the estimate, "—" without any price, and a tooltip with the exact
// amount, the unpriced requests and what the tools themselves reported.
func costText(t stats.Totals) (text, tip string) {
	var lines []string
	if unpriced(t) {
		text = "—"
		lines = append(lines, lang.L("No price for this model"))
	} else {
		text = MoneyShort(t.Cost)
		lines = append(lines, t.Cost.String())
		if t.Unpriced > 0 {
			lines = append(lines, Plural(t.Unpriced, "1 request unpriced", "{{.Count}} requests unpriced"))
		}
	}
	if t.AgentRequests > 0 {
		lines = append(lines, Plural(t.AgentRequests, "The tools reported {{.Amount}} for 1 of these requests",
			"The tools reported {{.Amount}} for {{.Count}} of these requests", map[string]any{"Amount": MoneyShort(t.AgentCost)}))
	}
	return text, strings.Join(lines, "\n")
}

// formatShare writes a share as a percentage with one decimal; tiny non-zero shares read "<0.1%".
func formatShare(s float64) string {
	if s > 0 && s < 0.0005 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", s*100)
}
