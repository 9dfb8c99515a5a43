// Package ui holds Token Stats' Fyne windows and widgets. It reads through the stats package and knows
// nothing of HTTP.
package ui

import (
	"fmt"

	"fyne.io/fyne/v2/lang"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// Short writes a count the way the cards and the tray show it: 999, 1.2K, 3.4M, 5.6B, 7.8T. One decimal,
// dropped when it is zero (1K, not 1.0K); rounding never shows 1000K, it moves to the next unit.
func Short(n int64) string { return chart.Short(float64(n)) }

// Exact writes a count with thousands separators: 1,234,567.
func Exact(n int64) string { return chart.Exact(n) }

// MoneyShort writes an amount the way the cards and tables show it: $0, $0.0042 (two significant
// digits under a cent), $1,234.56, $12.3K from ten thousand dollars. The browser tab's script has its
// twin, checked against this one in a test.
func MoneyShort(m stats.Money) string {
	n := int64(m)
	if n <= 0 {
		return "$0"
	}
	if n < 10_000_000 {
		p := int64(1)
		for q := n; q >= 100; q /= 10 {
			p *= 10
		}
		q := (n + p/2) / p * p
		if q < 10_000_000 {
			return stats.Money(q).String()
		}
		n = q
	}
	cents := (n + 5_000_000) / 10_000_000
	if cents >= 1_000_000 { // $10,000.00 and up
		return "$" + chart.Short(float64(n)/stats.NanosPerUSD)
	}
	return fmt.Sprintf("$%s.%02d", Exact(cents/100), cents%100)
}

// percent writes part of whole as 12.3%, "–" when whole is 0.
func percent(part, whole int64) string {
	if whole <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", float64(part)/float64(whole)*100)
}

// Plural translates the key for a count of one or for any other count, with Count filled in (Exact; data
// may set it otherwise) and the fields of data. English has two forms, Chinese one; both keys are
// translated, so "1 requests" never shows.
func Plural(n int64, one, other string, data ...map[string]any) string {
	d := map[string]any{"Count": Exact(n)}
	for _, m := range data {
		for k, v := range m {
			d[k] = v
		}
	}
	if n == 1 {
		return lang.L(one, d)
	}
	return lang.L(other, d)
}

// languageTag is the language the window speaks now, as the translations say of themselves.
func languageTag() string { return lang.X("lang.tag", "en") }

// shownName is how a name reads: records without a source or credential have the name "".
func shownName(name string) string {
	if name == "" {
		return lang.L("(none)")
	}
	return name
}

// translate is lang.L for a key that may be empty (no text).
func translate(key string) string {
	if key == "" {
		return ""
	}
	return lang.L(key)
}
