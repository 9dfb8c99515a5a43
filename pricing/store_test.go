package pricing_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// fixedPrices is a price table in LiteLLM's format whose every figure the test below works out by hand.
const fixedPrices = `{
 "fx-chat": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 2e-06,
   "output_cost_per_token": 8e-06, "cache_read_input_token_cost": 5e-07,
   "cache_creation_input_token_cost": 3.75e-06, "output_cost_per_reasoning_token": 1.2e-05},
 "fx-tiered": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 1.25e-06,
   "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-07,
   "input_cost_per_token_above_200k_tokens": 2.5e-06, "output_cost_per_token_above_200k_tokens": 1.5e-05,
   "cache_read_input_token_cost_above_200k_tokens": 2.5e-07},
 "fx-tiny": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 5e-10, "output_cost_per_token": 0}
}`

func waitRepriced(t *testing.T, st *stats.Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for st.Repricing().Running() {
		if time.Now().After(deadline) {
			t.Fatalf("re-pricing never ended: %+v", st.Repricing())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCostsThroughTheStore stores records priced by a fixed table (cached, cache creation and reasoning
// tokens, both sides of a tier's threshold, a sub-nano-dollar cost, a model without a price) and checks
// every view in money against figures worked out by hand: the summary, both breakdowns and the hourly
// and daily trends agree to the nano-dollar, and the unpriced model is counted as unpriced, never as $0.
// An override then re-prices history, and the views agree again.
func TestCostsThroughTheStore(t *testing.T) {
	snap, err := pricing.Parse(strings.NewReader(fixedPrices))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "c.db"), stats.Options{Location: time.UTC,
		Prices: pricing.Builder(snap)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	end := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return end.Add(-time.Duration(h)*time.Hour - 17*time.Minute) }
	type rc struct {
		r    stats.Record
		cost stats.Money // by hand; -1: unpriced
	}
	cases := []rc{
		// 5,000 × $2 + 4,000 × $0.50 + 1,000 × $3.75 + 1,500 × $8 + 500 × $12 per million = $0.03375
		{stats.Record{Time: at(1), Account: "a@example.com", Model: "fx-chat", InputTokens: 10000, CachedTokens: 4000,
			CacheCreationTokens: 1000, OutputTokens: 2000, ReasoningTokens: 500}, 33_750_000},
		// 200,000 input tokens is not above the threshold: 150,000 × $1.25 + 50,000 × $0.125 + 1,000 × $10
		{stats.Record{Time: at(3), Account: "a@example.com", Model: "fx-tiered", InputTokens: 200000,
			CachedTokens: 50000, OutputTokens: 1000}, 203_750_000},
		// one more is: the whole request at the tier, 150,001 × $2.50 + 50,000 × $0.25 + 1,000 × $15
		{stats.Record{Time: at(30), Account: "b@example.com", Model: "fx-tiered", InputTokens: 200001,
			CachedTokens: 50000, OutputTokens: 1000}, 402_502_500},
		// 1 × $2 + 1 × $8 per million
		{stats.Record{Time: at(30), Account: "b@example.com", Model: "fx-chat", InputTokens: 1, OutputTokens: 1}, 10_000},
		// half a nano-dollar rounds up, per record: three of them cost 3 nano-dollars, not 1.5
		{stats.Record{Time: at(2), Account: "b@example.com", Model: "fx-tiny", InputTokens: 1}, 1},
		{stats.Record{Time: at(2), Account: "b@example.com", Model: "fx-tiny", InputTokens: 1}, 1},
		{stats.Record{Time: at(50), Account: "a@example.com", Model: "fx-tiny", InputTokens: 1}, 1},
		// no price: unpriced, not free
		{stats.Record{Time: at(2), Account: "a@example.com", Model: "mystery-model", InputTokens: 1000, OutputTokens: 100}, -1},
	}
	var recs []stats.Record
	for _, c := range cases {
		recs = append(recs, c.r)
	}
	if _, err := st.Record(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	check := func(phase string, costOf func(c rc) stats.Money) {
		t.Helper()
		w := stats.LastHours(end, 72)
		var total stats.Money
		var unpriced int64
		byModel, byAccount := map[string]stats.Totals{}, map[string]stats.Totals{}
		for _, c := range cases {
			m, a := byModel[c.r.Model], byAccount[c.r.Account]
			if cost := costOf(c); cost < 0 {
				unpriced++
				m.Unpriced++
				a.Unpriced++
			} else {
				total += cost
				m.Cost += cost
				a.Cost += cost
			}
			byModel[c.r.Model], byAccount[c.r.Account] = m, a
		}
		sum, err := st.Summary(ctx, w, stats.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Cost != total || sum.Unpriced != unpriced || sum.Requests != int64(len(cases)) {
			t.Errorf("%s: summary %s with %d unpriced, want %s with %d", phase, sum.Cost, sum.Unpriced, total, unpriced)
		}
		for d, want := range map[stats.Dimension]map[string]stats.Totals{stats.ByModel: byModel, stats.ByAccount: byAccount} {
			rows, err := st.Breakdown(ctx, d, w, stats.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var rowSum stats.Money
			for _, r := range rows {
				if r.Cost != want[r.Name].Cost || r.Unpriced != want[r.Name].Unpriced {
					t.Errorf("%s: %s %s costs %s with %d unpriced, want %s with %d", phase, d, r.Name, r.Cost,
						r.Unpriced, want[r.Name].Cost, want[r.Name].Unpriced)
				}
				rowSum += r.Cost
			}
			if rowSum != sum.Cost {
				t.Errorf("%s: %s rows sum to %s, the summary says %s", phase, d, rowSum, sum.Cost)
			}
		}
		for _, g := range []stats.Granularity{stats.Hourly, stats.Daily} {
			for _, d := range []stats.Dimension{stats.ByModel, stats.ByAccount} {
				tr, err := st.Trend(ctx, stats.TrendQuery{Dimension: d, Granularity: g, End: end, Hours: 72, Metric: stats.MetricCost})
				if err != nil {
					t.Fatal(err)
				}
				var trSum int64
				for _, p := range tr.Periods {
					for _, v := range p.Values {
						trSum += v
					}
				}
				if stats.Money(trSum) != total {
					t.Errorf("%s: %s %s cost trend sums to %s, want %s", phase, g, d, stats.Money(trSum), total)
				}
			}
		}
	}
	check("snapshot prices", func(c rc) stats.Money { return c.cost })

	// Overrides for fx-chat ($1 in, $1 out, cache at the input price) and for the unknown model re-price
	// their history; the others keep theirs.
	for model, o := range map[string]pricing.Override{
		"fx-chat":       {InputPerMTok: 1, OutputPerMTok: 1},
		"mystery-model": {InputPerMTok: 0.5, OutputPerMTok: 2},
	} {
		so, err := o.Stored(model)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetPriceOverride(ctx, so); err != nil {
			t.Fatal(err)
		}
	}
	waitRepriced(t, st)
	check("with overrides", func(c rc) stats.Money {
		switch c.r.Model {
		case "fx-chat":
			return stats.Money((c.r.InputTokens + c.r.OutputTokens) * 1000) // $1 per million = 1,000 n$ a token
		case "mystery-model":
			return stats.Money(c.r.InputTokens*500 + c.r.OutputTokens*2000)
		}
		return c.cost
	})
}

// TestPricerKeys: the price key follows the rates, not where they came from, and is empty for a model
// without a price.
func TestPricerKeys(t *testing.T) {
	snap, err := pricing.Parse(strings.NewReader(fixedPrices))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := pricing.NewTable(snap, nil)
	same, _ := pricing.NewTable(snap, map[string]pricing.Override{"fx-tiny": {InputPerMTok: 0.0005, OutputPerMTok: 0}})
	other, _ := pricing.NewTable(snap, map[string]pricing.Override{"fx-chat": {InputPerMTok: 2, OutputPerMTok: 8}})
	a, b, c := pricing.NewPricer(plain), pricing.NewPricer(same), pricing.NewPricer(other)
	if a.PriceKey("nothing") != "" || a.PriceKey("fx-chat") == "" {
		t.Errorf("keys %q %q", a.PriceKey("nothing"), a.PriceKey("fx-chat"))
	}
	if a.PriceKey("fx-tiny") != b.PriceKey("fx-tiny") {
		t.Error("an override with the snapshot's own rates changed the key")
	}
	if a.PriceKey("fx-chat") == c.PriceKey("fx-chat") {
		t.Error("an override without the cache and reasoning prices kept the key")
	}
	if a.PriceKey("fx-chat") == a.PriceKey("fx-tiered") {
		t.Error("two models with different rates share a key")
	}
}

// TestStoredOverridesPriceAsTyped: an override kept by the store (Money per million tokens) prices
// exactly as the same override given to NewTable, for prices down to a nano-dollar per million tokens.
func TestStoredOverridesPriceAsTyped(t *testing.T) {
	snap, err := pricing.Parse(strings.NewReader(fixedPrices))
	if err != nil {
		t.Fatal(err)
	}
	cr, cw := 0.075, 999999.999999999
	typed := map[string]pricing.Override{
		"a": {InputPerMTok: 3, OutputPerMTok: 15, CacheReadPerMTok: &cr, CacheWritePerMTok: &cw},
		"b": {InputPerMTok: 1e-9, OutputPerMTok: 0.123456789},
	}
	var stored []stats.PriceOverride
	for m, o := range typed {
		so, err := o.Stored(m)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, so)
	}
	want, err := pricing.NewTable(snap, typed)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pricing.Builder(snap)(stored)
	if err != nil {
		t.Fatal(err)
	}
	got := p.(*pricing.Pricer).Table()
	for m := range typed {
		rw, mw, _ := want.Lookup(m)
		rg, mg, _ := got.Lookup(m)
		if !rw.Equal(rg) || mw != mg {
			t.Errorf("%s: stored %+v %+v, typed %+v %+v", m, rg, mg, rw, mw)
		}
	}
	if _, err := (pricing.Override{InputPerMTok: -1}).Stored("x"); err == nil {
		t.Error("a negative price was accepted")
	}
}
