package pricing

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/tokenstats/tokenstats/stats"
)

// Rate is a price per token in femto-dollars (10⁻¹⁵ USD). A femto-dollar per token is exactly a
// nano-dollar per million tokens, so a Rate read as stats.Money is the price of a million tokens.
// Every price in LiteLLM's table is a whole number of femto-dollars (docs/prices.md, "Units").
type Rate int64

// MaxRate is the highest rate a snapshot or an override may hold: 1 USD per token, a million dollars
// per million tokens. Anything above it is a mistake, and the bound keeps every product in Cost far
// inside 128 bits.
const MaxRate Rate = 1_000_000_000_000_000

// femtoPerNano is how many femto-dollars make a nano-dollar (one stats.Money unit).
const femtoPerNano = 1_000_000

// MaxCost bounds the cost of one record, the same bound stats.MoneyFromUSD puts on any one figure:
// a single request above a million dollars is a mistake, and the bound keeps sums of many inside int64.
const MaxCost = stats.Money(1_000_000 * stats.NanosPerUSD)

// PerMTok is the price of a million tokens at this rate.
func (r Rate) PerMTok() stats.Money { return stats.Money(r) }

// Prices are the five per-token prices that apply to one request.
type Prices struct {
	Input      Rate // input tokens that were neither read from nor written to a cache
	Output     Rate // output tokens other than reasoning tokens
	CacheRead  Rate // cached input tokens
	CacheWrite Rate // cache creation input tokens
	Reasoning  Rate // reasoning (thinking) tokens, part of the output
}

// Tier holds the prices for requests whose input tokens are above a threshold (LiteLLM's
// input_cost_per_token_above_200k_tokens and friends).
type Tier struct {
	Above int64 // the tier applies when a request's input tokens are strictly above this
	Prices
}

// Rates are the prices of one table entry: the base prices and the tiers, lowest threshold first.
// The whole request is priced at one tier's prices, chosen by its input tokens (docs/prices.md).
type Rates struct {
	Base  Prices
	Tiers []Tier
}

// Tokens are a record's token counts, as stats.Record holds them: Input includes Cached and
// CacheCreation, Output includes Reasoning.
type Tokens struct {
	Input, Output, Cached, Reasoning, CacheCreation int64
}

// TokensOf takes the token counts of a record.
func TokensOf(r stats.Record) Tokens {
	return Tokens{Input: r.InputTokens, Output: r.OutputTokens, Cached: r.CachedTokens,
		Reasoning: r.ReasoningTokens, CacheCreation: r.CacheCreationTokens}
}

// At returns the prices for a request with this many input tokens: those of the highest tier whose
// threshold it is above, or the base prices.
func (r Rates) At(input int64) Prices {
	for i := len(r.Tiers) - 1; i >= 0; i-- {
		if input > r.Tiers[i].Above {
			return r.Tiers[i].Prices
		}
	}
	return r.Base
}

// Equal reports whether two Rates price every request the same.
func (r Rates) Equal(o Rates) bool {
	return r.Base == o.Base && slices.Equal(r.Tiers, o.Tiers)
}

// Cost is what one request costs, rounded once, half up, to the nano-dollar:
//
//	(input − cached − cache creation) × Input + cached × CacheRead + cache creation × CacheWrite
//	+ (output − reasoning) × Output + reasoning × Reasoning
//
// at the prices At(input) picks. Negative or impossible counts (cached and cache creation above input,
// reasoning above output, any count above stats.MaxTokens) and a cost above MaxCost are errors.
func (r Rates) Cost(t Tokens) (stats.Money, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	p := r.At(t.Input)
	if err := p.check(); err != nil {
		return 0, err
	}
	// Every count is at most 2^40 and every rate at most 10^15 < 2^50, so each product is below 2^90
	// and the sum of five below 2^93: a 128-bit accumulator cannot overflow.
	var sum uint128
	sum.addMul(uint64(t.Input-t.Cached-t.CacheCreation), uint64(p.Input))
	sum.addMul(uint64(t.Cached), uint64(p.CacheRead))
	sum.addMul(uint64(t.CacheCreation), uint64(p.CacheWrite))
	sum.addMul(uint64(t.Output-t.Reasoning), uint64(p.Output))
	sum.addMul(uint64(t.Reasoning), uint64(p.Reasoning))
	sum.addMul(femtoPerNano/2, 1) // round half up
	nanos, ok := sum.div(femtoPerNano)
	if !ok || nanos > uint64(MaxCost) {
		return 0, fmt.Errorf("the request would cost more than %s, which no real request does", MaxCost)
	}
	return stats.Money(nanos), nil
}

func (t Tokens) check() error {
	for _, f := range []struct {
		name string
		n    int64
	}{
		{"input", t.Input}, {"output", t.Output}, {"cached", t.Cached},
		{"reasoning", t.Reasoning}, {"cache creation", t.CacheCreation},
	} {
		if f.n < 0 {
			return fmt.Errorf("%s tokens (%d) must not be negative", f.name, f.n)
		}
		if f.n > stats.MaxTokens {
			return fmt.Errorf("%s tokens (%d) must be at most %d", f.name, f.n, int64(stats.MaxTokens))
		}
	}
	if t.Cached+t.CacheCreation > t.Input {
		return fmt.Errorf("cached (%d) and cache creation (%d) tokens exceed input tokens (%d)",
			t.Cached, t.CacheCreation, t.Input)
	}
	if t.Reasoning > t.Output {
		return fmt.Errorf("reasoning tokens (%d) exceed output tokens (%d)", t.Reasoning, t.Output)
	}
	return nil
}

func (p Prices) check() error {
	for _, r := range []Rate{p.Input, p.Output, p.CacheRead, p.CacheWrite, p.Reasoning} {
		if r < 0 || r > MaxRate {
			return errors.New("rates must be between 0 and 1 USD per token")
		}
	}
	return nil
}

// uint128 is an unsigned 128-bit accumulator.
type uint128 struct{ hi, lo uint64 }

func (a *uint128) addMul(x, y uint64) {
	hi, lo := bits.Mul64(x, y)
	var carry uint64
	a.lo, carry = bits.Add64(a.lo, lo, 0)
	a.hi, _ = bits.Add64(a.hi, hi, carry)
}

// div returns a / d, rounded down, and whether the quotient fits in 64 bits.
func (a uint128) div(d uint64) (uint64, bool) {
	if a.hi >= d {
		return 0, false
	}
	q, _ := bits.Div64(a.hi, a.lo, d)
	return q, true
}
