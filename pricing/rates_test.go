package pricing_test

import (
	"math/big"
	"strings"
	"testing"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// usd is a Rate of one dollar per million tokens.
const usd pricing.Rate = 1_000_000_000

// sonnetLike is a hand-written entry shaped like Claude Sonnet 4.5: $3 / $15, cache read $0.30,
// cache write $3.75, and every price higher for requests above 200,000 input tokens.
var sonnetLike = pricing.Rates{
	Base: pricing.Prices{Input: 3 * usd, Output: 15 * usd, CacheRead: 3 * usd / 10, CacheWrite: 375 * usd / 100, Reasoning: 15 * usd},
	Tiers: []pricing.Tier{{Above: 200_000, Prices: pricing.Prices{
		Input: 6 * usd, Output: 2250 * usd / 100, CacheRead: 6 * usd / 10, CacheWrite: 750 * usd / 100, Reasoning: 2250 * usd / 100}}},
}

// reasonerLike prices reasoning tokens at twice the output price.
var reasonerLike = pricing.Rates{Base: pricing.Prices{
	Input: 11 * usd / 10, Output: 44 * usd / 10, CacheRead: 11 * usd / 10, CacheWrite: 11 * usd / 10, Reasoning: 88 * usd / 10}}

func flat(r pricing.Rate) pricing.Rates {
	return pricing.Rates{Base: pricing.Prices{Input: r, Output: r, CacheRead: r, CacheWrite: r, Reasoning: r}}
}

func TestCost(t *testing.T) {
	cases := []struct {
		name  string
		rates pricing.Rates
		tok   pricing.Tokens
		want  stats.Money // worked out by hand in the comment
	}{
		// 100,000 × $3/M = $0.30
		{"input tokens only", sonnetLike, pricing.Tokens{Input: 100_000}, 300_000_000},
		// the Anthropic test vector of docs/usage-normalization.md:
		// 21 × 3 + 1000 × 0.30 + 188086 × 3.75 + 393 × 15 = 711,580.5 µ$
		{"cached and cache creation", sonnetLike,
			pricing.Tokens{Input: 189107, Output: 393, Cached: 1000, CacheCreation: 188086}, 711_580_500},
		// 200,000 × 3 + 1000 × 15 = 615,000 µ$: at the threshold is not above it
		{"tier threshold exactly", sonnetLike, pricing.Tokens{Input: 200_000, Output: 1000}, 615_000_000},
		// 200,001 × 6 + 1000 × 22.50 = 1,222,506 µ$: the whole request at the tier's prices
		{"tier threshold plus one", sonnetLike, pricing.Tokens{Input: 200_001, Output: 1000}, 1_222_506_000},
		// 150,000 × 6 + 100,000 × 0.60 + 50,000 × 7.50 + 2000 × 22.50 = 1,380,000 µ$
		{"tier with cache", sonnetLike,
			pricing.Tokens{Input: 300_000, Cached: 100_000, CacheCreation: 50_000, Output: 2000}, 1_380_000_000},
		// 75 × 1.1 + (1186 − 1024) × 4.4 + 1024 × 8.8 = 82.5 + 712.8 + 9011.2 = 9806.5 µ$
		{"reasoning at its own price", reasonerLike, pricing.Tokens{Input: 75, Output: 1186, Reasoning: 1024}, 9_806_500},
		{"no tokens", sonnetLike, pricing.Tokens{}, 0},
		// 1 token × 500,000 f$ = 0.5 n$, rounded half up
		{"half a nano-dollar rounds up", flat(500_000), pricing.Tokens{Input: 1}, 1},
		{"just under half rounds down", flat(499_999), pricing.Tokens{Input: 1}, 0},
		// 0.4 n$ + 0.4 n$ = 0.8 n$ → 1: rounded once, not per part (which would give 0)
		{"rounded once", flat(400_000), pricing.Tokens{Input: 1, Output: 1}, 1},
		// 10^6 tokens × 10^15 f$ = 10^21 f$ = 10^15 n$ = MaxCost
		{"exactly the largest cost", flat(pricing.MaxRate), pricing.Tokens{Input: 1_000_000}, pricing.MaxCost},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.rates.Cost(c.tok)
			if err != nil {
				t.Fatalf("Cost(%+v): %v", c.tok, err)
			}
			if got != c.want {
				t.Errorf("Cost(%+v) = %s (%d n$), want %s (%d n$)", c.tok, got, int64(got), c.want, int64(c.want))
			}
		})
	}
}

func TestCostRefusesImpossibleInput(t *testing.T) {
	const maxTok = stats.MaxTokens
	cases := []struct {
		name  string
		rates pricing.Rates
		tok   pricing.Tokens
		want  string
	}{
		{"negative input", sonnetLike, pricing.Tokens{Input: -1}, "input tokens (-1) must not be negative"},
		{"negative cached", sonnetLike, pricing.Tokens{Input: 5, Cached: -1}, "cached tokens (-1) must not be negative"},
		{"cached above input", sonnetLike, pricing.Tokens{Input: 10, Cached: 11}, "exceed input tokens (10)"},
		{"cached and creation above input", sonnetLike, pricing.Tokens{Input: 10, Cached: 6, CacheCreation: 5}, "exceed input tokens (10)"},
		{"reasoning above output", sonnetLike, pricing.Tokens{Output: 3, Reasoning: 4}, "reasoning tokens (4) exceed output tokens (3)"},
		{"too many tokens", sonnetLike, pricing.Tokens{Output: maxTok + 1}, "must be at most 1099511627776"},
		{"one nano-dollar above the largest cost", flat(pricing.MaxRate), pricing.Tokens{Input: 1_000_001}, "would cost more than $1000000"},
		{"the most tokens at the highest rate", flat(pricing.MaxRate),
			pricing.Tokens{Input: maxTok, Output: maxTok, Cached: maxTok / 2, CacheCreation: maxTok / 2, Reasoning: maxTok},
			"would cost more than"},
		{"negative rate", flat(-1), pricing.Tokens{Input: 1}, "rates must be between 0 and 1 USD per token"},
		{"rate above the maximum", flat(pricing.MaxRate + 1), pricing.Tokens{Input: 1}, "rates must be between"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.rates.Cost(c.tok)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Cost(%+v) = %s, %v; want an error containing %q", c.tok, got, err, c.want)
			}
		})
	}
}

func TestRatesAtPicksTheHighestTierCrossed(t *testing.T) {
	r := pricing.Rates{Base: pricing.Prices{Input: 1}, Tiers: []pricing.Tier{
		{Above: 128_000, Prices: pricing.Prices{Input: 2}}, {Above: 200_000, Prices: pricing.Prices{Input: 3}}}}
	for input, want := range map[int64]pricing.Rate{0: 1, 128_000: 1, 128_001: 2, 200_000: 2, 200_001: 3, 1 << 40: 3} {
		if got := r.At(input).Input; got != want {
			t.Errorf("At(%d).Input = %d, want %d", input, got, want)
		}
	}
}

func TestRatePerMTok(t *testing.T) {
	if got := (3 * usd).PerMTok(); got.String() != "$3" {
		t.Errorf("(3 USD/M).PerMTok() = %s, want $3", got)
	}
	if got := pricing.Rate(4_687_500).PerMTok(); got.String() != "$0.0046875" {
		t.Errorf("4,687,500 f$/token = %s per million, want $0.0046875", got)
	}
}

// referenceCost is Cost written again with math/big, straight from the formula in docs/prices.md.
func referenceCost(r pricing.Rates, t pricing.Tokens) (stats.Money, bool) {
	for _, n := range []int64{t.Input, t.Output, t.Cached, t.Reasoning, t.CacheCreation} {
		if n < 0 || n > stats.MaxTokens {
			return 0, false
		}
	}
	if t.Cached+t.CacheCreation > t.Input || t.Reasoning > t.Output {
		return 0, false
	}
	p := r.Base
	for _, tier := range r.Tiers {
		if t.Input > tier.Above {
			p = tier.Prices
		}
	}
	for _, rate := range []pricing.Rate{p.Input, p.Output, p.CacheRead, p.CacheWrite, p.Reasoning} {
		if rate < 0 || rate > pricing.MaxRate {
			return 0, false
		}
	}
	sum := new(big.Int)
	add := func(n int64, rate pricing.Rate) {
		sum.Add(sum, new(big.Int).Mul(big.NewInt(n), big.NewInt(int64(rate))))
	}
	add(t.Input-t.Cached-t.CacheCreation, p.Input)
	add(t.Cached, p.CacheRead)
	add(t.CacheCreation, p.CacheWrite)
	add(t.Output-t.Reasoning, p.Output)
	add(t.Reasoning, p.Reasoning)
	sum.Add(sum, big.NewInt(500_000))
	sum.Quo(sum, big.NewInt(1_000_000))
	if sum.Cmp(big.NewInt(int64(pricing.MaxCost))) > 0 {
		return 0, false
	}
	return stats.Money(sum.Int64()), true
}

func FuzzCost(f *testing.F) {
	f.Add(int64(189107), int64(393), int64(1000), int64(0), int64(188086), int64(3e9), int64(15e9), int64(3e8), int64(375e7), int64(15e9))
	f.Add(int64(200_001), int64(1000), int64(0), int64(0), int64(0), int64(3e9), int64(15e9), int64(3e8), int64(375e7), int64(15e9))
	f.Add(int64(1<<40), int64(1<<40), int64(1<<39), int64(1<<40), int64(1<<39), int64(1e15), int64(1e15), int64(1e15), int64(1e15), int64(1e15))
	f.Add(int64(-1), int64(2), int64(3), int64(4), int64(5), int64(-6), int64(7), int64(8), int64(9), int64(10))
	f.Add(int64(1), int64(1), int64(0), int64(0), int64(0), int64(500_000), int64(499_999), int64(0), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, in, out, cached, reasoning, creation, rIn, rOut, rRead, rWrite, rReason int64) {
		base := pricing.Prices{Input: pricing.Rate(rIn), Output: pricing.Rate(rOut), CacheRead: pricing.Rate(rRead),
			CacheWrite: pricing.Rate(rWrite), Reasoning: pricing.Rate(rReason)}
		double := pricing.Prices{Input: 2 * base.Input, Output: 2 * base.Output, CacheRead: 2 * base.CacheRead,
			CacheWrite: 2 * base.CacheWrite, Reasoning: 2 * base.Reasoning}
		r := pricing.Rates{Base: base, Tiers: []pricing.Tier{{Above: 200_000, Prices: double}}}
		tok := pricing.Tokens{Input: in, Output: out, Cached: cached, Reasoning: reasoning, CacheCreation: creation}
		got, err := r.Cost(tok)
		want, ok := referenceCost(r, tok)
		if ok != (err == nil) || got != want {
			t.Fatalf("Cost(%+v) with %+v = %d, %v; the reference says %d, ok=%v", tok, r, got, err, want, ok)
		}
	})
}
