// Package ui holds Token Stats' Fyne windows and widgets. It reads through the stats package and knows
// nothing of HTTP.
package ui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
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

// Money writes an amount the way the window and the tray show it: cents from a dollar up ("$3.40",
// "$1,234.56"), four decimals below ("$0.0125"), "<$0.0001" for less; m.String() is the exact figure.
func Money(m stats.Money) string {
	n := int64(m)
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	switch {
	case n == 0:
		return "$0"
	case n >= stats.NanosPerUSD:
		cents := (n + 5_000_000) / 10_000_000
		return fmt.Sprintf("%s$%s.%02d", sign, Exact(cents/100), cents%100)
	case n < 50_000:
		return sign + "<$0.0001"
	}
	tenths := (n + 50_000) / 100_000 // of a cent: four decimals
	s := strings.TrimRight(fmt.Sprintf("%04d", tenths%10_000), "0")
	if tenths >= 10_000 {
		return sign + "$1.00"
	}
	if len(s) < 2 {
		s += strings.Repeat("0", 2-len(s))
	}
	return sign + "$0." + s
}
