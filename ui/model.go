package ui

import (
	"fmt"
	"sort"
	"strings"

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

// column is a column of the breakdown tables.
type column int

const (
	colName column = iota
	colRequests
	colInput
	colOutput
	colCached
	colTotal
	colShare
	numColumns
)

// columnTitles are the header keys, translated when shown.
var columnTitles = [numColumns]string{"Name", "Requests", "Input", "Output", "Cached", "Total", "Share"}

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

// filterRows keeps the rows whose name contains q, case-insensitively; an empty q keeps all.
func filterRows(rows []tableRow, q string) []tableRow {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return rows
	}
	var out []tableRow
	for _, r := range rows {
		if strings.Contains(strings.ToLower(r.Name), q) {
			out = append(out, r)
		}
	}
	return out
}

// sortRows sorts in place by a column, ties broken by name so the order is stable between refreshes.
func sortRows(rows []tableRow, c column, desc bool) {
	key := func(r tableRow) int64 {
		switch c {
		case colRequests:
			return r.Requests
		case colInput:
			return r.InputTokens
		case colOutput:
			return r.OutputTokens
		case colCached:
			return r.CachedTokens
		case colTotal, colShare:
			return r.TotalTokens()
		}
		return 0
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if c != colName {
			if ka, kb := key(a), key(b); ka != kb {
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

// cell is the text a table cell shows and the exact value its tooltip shows.
func cell(r tableRow, c column) (text, tip string) {
	num := func(n int64) (string, string) { return Short(n), Exact(n) }
	switch c {
	case colName:
		return r.Name, r.Name
	case colRequests:
		return num(r.Requests)
	case colInput:
		return num(r.InputTokens)
	case colOutput:
		return num(r.OutputTokens)
	case colCached:
		return num(r.CachedTokens)
	case colTotal:
		return num(r.TotalTokens())
	case colShare:
		s := formatShare(r.Share)
		return s, fmt.Sprintf("%.4f%%", r.Share*100)
	}
	return "", ""
}

// formatShare writes a share as a percentage with one decimal; tiny non-zero shares read "<0.1%".
func formatShare(s float64) string {
	if s > 0 && s < 0.0005 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", s*100)
}
