package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/tokenstats/tokenstats/stats"
)

// maxUSD is the largest amount one record may carry, as stats.Record.Validate has it.
const maxUSD = 1_000_000

// parseUSD reads an amount of US dollars written as a JSON number with at most nine decimals (0.0125,
// 3), exactly: the decimal text is read as nano-dollars, never through a float, so an amount written by
// an export comes back to the nano-dollar.
func parseUSD(raw json.RawMessage) (stats.Money, error) {
	raw = bytes.TrimSpace(raw)
	const want = "must be a JSON number of US dollars with at most 9 decimals, such as 0.0125"
	if len(raw) == 0 || raw[0] == '"' {
		return 0, errors.New(want)
	}
	if raw[0] == '-' {
		return 0, errors.New("must not be negative")
	}
	whole, frac, dot := bytes.Cut(raw, []byte("."))
	if !allDigits(whole) || dot && (!allDigits(frac) || len(frac) > 9) {
		return 0, errors.New(want)
	}
	if len(whole) > 7 {
		return 0, errors.New("is too large (at most 1000000 USD)")
	}
	w, _ := strconv.ParseInt(string(whole), 10, 64)
	var f int64
	if len(frac) > 0 {
		f, _ = strconv.ParseInt(string(frac)+"000000000"[len(frac):], 10, 64)
	}
	m := stats.Money(w*stats.NanosPerUSD + f)
	if m > maxUSD*stats.NanosPerUSD {
		return 0, errors.New("is too large (at most 1000000 USD)")
	}
	return m, nil
}
