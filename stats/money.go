package stats

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Money is an amount of US dollars in nano-dollars (10⁻⁹ USD). Sums of money are integer sums, so a
// month of costs adds up to exactly what its days add up to; a float is made only when a figure is shown.
// int64 nano-dollars hold up to about 9.2 billion dollars.
type Money int64

// NanosPerUSD is how many Money units make a dollar.
const NanosPerUSD = 1_000_000_000

// maxMoneyUSD bounds what MoneyFromUSD accepts: any one request or figure above it is a mistake, and the
// bound keeps sums of many far inside int64.
const maxMoneyUSD = 1_000_000

// MoneyFromUSD converts dollars to Money, rounding to the nearest nano-dollar. NaN, infinities, negative
// amounts and amounts above a million dollars are errors.
func MoneyFromUSD(usd float64) (Money, error) {
	switch {
	case math.IsNaN(usd) || math.IsInf(usd, 0):
		return 0, errors.New("must be a finite number")
	case usd < 0:
		return 0, errors.New("must not be negative")
	case usd > maxMoneyUSD:
		return 0, fmt.Errorf("must be at most %d USD", maxMoneyUSD)
	}
	return Money(math.Round(usd * NanosPerUSD)), nil
}

// USD is the amount in dollars, for display and JSON.
func (m Money) USD() float64 { return float64(m) / NanosPerUSD }

// String writes the amount with as many decimals as it needs, at most nine: "$0.0125", "$3", "-$1.5".
func (m Money) String() string {
	sign := ""
	n := int64(m)
	if n < 0 {
		sign, n = "-", -n
	}
	whole, frac := n/NanosPerUSD, n%NanosPerUSD
	s := sign + "$" + strconv.FormatInt(whole, 10)
	if frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%09d", frac), "0")
	}
	return s
}
