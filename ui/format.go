// Package ui holds Token Stats' Fyne windows and widgets. It reads through the stats package and knows
// nothing of HTTP.
package ui

import (
	"strconv"
	"strings"

	"github.com/tokenstats/tokenstats/chart"
)

// Short writes a count the way the cards and the tray show it: 999, 1.2K, 3.4M, 5.6B, 7.8T. One decimal,
// dropped when it is zero (1K, not 1.0K); rounding never shows 1000K, it moves to the next unit.
func Short(n int64) string { return chart.Short(float64(n)) }

// Exact writes a count with thousands separators, for tooltips: 1,234,567.
func Exact(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
