package pricing_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

func embedded(t testing.TB) *pricing.Snapshot {
	t.Helper()
	s, err := pricing.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parseFile(t *testing.T, path string) *pricing.Snapshot {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := pricing.Parse(f)
	if err != nil {
		t.Fatalf("Parse(%s): %v", path, err)
	}
	return s
}

// usdPerM converts a published "$x / MTok" figure to a Rate.
func usdPerM(t *testing.T, s string) pricing.Rate {
	t.Helper()
	m, err := stats.MoneyFromUSD(mustFloat(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return pricing.Rate(m)
}

func sameSource(a, b pricing.Source) bool {
	return a.URL == b.URL && a.Commit == b.Commit && a.Date.Equal(b.Date)
}

func TestEmbeddedSource(t *testing.T) {
	s := embedded(t)
	src := s.Source()
	const commit = "667b9122e089a1972304540df6fd19f342b0e82a"
	if src.Commit != commit ||
		src.URL != "https://github.com/BerriAI/litellm/blob/"+commit+"/model_prices_and_context_window.json" ||
		!src.Date.Equal(time.Date(2026, 1, 25, 5, 21, 28, 0, time.UTC)) {
		t.Errorf("Source() = %+v", src)
	}
	if s.Len() < 1000 {
		t.Errorf("the embedded snapshot has %d entries; LiteLLM's table has well over a thousand", s.Len())
	}
	lic := pricing.License()
	if !strings.Contains(lic, "MIT License") || !strings.Contains(lic, "Copyright (c) 2023 Berri AI") {
		t.Errorf("License() does not hold LiteLLM's MIT notice:\n%s", lic)
	}
}

// TestEmbeddedListPrices checks the embedded snapshot against the providers' published list prices,
// in USD per million tokens, so a wrong snapshot or a wrong parser fails. Where each figure was read:
//   - OpenAI: developers.openai.com/api/docs/pricing, as reproduced on chatgptpricing-akr.pages.dev/api-pricing
//     and github.com/CommitBrief/commitbrief/wiki/Provider-OpenAI (gpt-4o $2.50 / cached $1.25 / $10),
//     and deploybase.ai/articles/openai-pricing (gpt-5 $1.25 / $10, o3 $2 / $8);
//   - Anthropic: docs.anthropic.com/en/docs/about-claude/pricing (as of 2025-11-15, via
//     aiwiki.dev/claude/docs/about-claude/pricing): Sonnet 4.5 $3 / 5m write $3.75 / hit $0.30 / $15,
//     Haiku 4.5 $1 / $1.25 / $0.10 / $5; long context above 200K input tokens $6 / $22.50; and
//     platform.claude.com/docs/en/about-claude/pricing: Opus 4.5 $5 / $6.25 / $0.50 / $25;
//   - Google: ai.google.dev/gemini-api/docs/pricing, as quoted by deploybase.ai/articles/gemini-api-pricing-2026
//     and govindhtech.com (2.5 Pro $1.25 / $10 for prompts ≤ 200k, $2.50 / $15 above) and
//     morphllm.com/gemini-api-pricing (2.5 Flash $0.30 / $2.50, output including thinking tokens).
func TestEmbeddedListPrices(t *testing.T) {
	table, err := pricing.NewTable(embedded(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		model, entry                            string
		input, output, cacheRead, cacheWrite    string // "" where no figure was checked
		above                                   int64
		tierInput, tierOutput, tierRead, tierWr string
	}{
		{model: "gpt-4o", entry: "gpt-4o", input: "2.50", output: "10", cacheRead: "1.25"},
		{model: "gpt-5", entry: "gpt-5", input: "1.25", output: "10"},
		{model: "o3", entry: "o3", input: "2", output: "8"},
		{model: "claude-sonnet-4-5", entry: "claude-sonnet-4-5", input: "3", output: "15", cacheRead: "0.30", cacheWrite: "3.75",
			above: 200_000, tierInput: "6", tierOutput: "22.50"},
		{model: "claude-sonnet-4-5-20250929", entry: "claude-sonnet-4-5-20250929", input: "3", output: "15", cacheRead: "0.30", cacheWrite: "3.75",
			above: 200_000, tierInput: "6", tierOutput: "22.50"},
		{model: "claude-haiku-4-5", entry: "claude-haiku-4-5", input: "1", output: "5", cacheRead: "0.10", cacheWrite: "1.25"},
		{model: "claude-opus-4-5", entry: "claude-opus-4-5", input: "5", output: "25", cacheRead: "0.50", cacheWrite: "6.25"},
		{model: "gemini-2.5-pro", entry: "gemini/gemini-2.5-pro", input: "1.25", output: "10",
			above: 200_000, tierInput: "2.50", tierOutput: "15"},
		{model: "gemini-2.5-flash", entry: "gemini/gemini-2.5-flash", input: "0.30", output: "2.50"},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			r, m, ok := table.Lookup(c.model)
			if !ok {
				t.Fatalf("%s is unpriced", c.model)
			}
			if m.Entry != c.entry || m.Origin != pricing.OriginSnapshot {
				t.Fatalf("%s matched %+v, want entry %s", c.model, m, c.entry)
			}
			check := func(what string, got pricing.Rate, want string) {
				if want != "" && got != usdPerM(t, want) {
					t.Errorf("%s %s = %s per million tokens, the published price is $%s", c.model, what, got.PerMTok(), want)
				}
			}
			check("input", r.Base.Input, c.input)
			check("output", r.Base.Output, c.output)
			check("cache read", r.Base.CacheRead, c.cacheRead)
			check("cache write", r.Base.CacheWrite, c.cacheWrite)
			// Every published output price here includes reasoning (thinking) tokens.
			check("reasoning", r.Base.Reasoning, c.output)
			if c.above == 0 {
				if len(r.Tiers) != 0 {
					t.Errorf("%s has tiers %+v; its published price has none", c.model, r.Tiers)
				}
				return
			}
			if len(r.Tiers) != 1 || r.Tiers[0].Above != c.above {
				t.Fatalf("%s tiers = %+v, want one above %d", c.model, r.Tiers, c.above)
			}
			check("input above the threshold", r.Tiers[0].Input, c.tierInput)
			check("output above the threshold", r.Tiers[0].Output, c.tierOutput)
		})
	}
}

// TestEmbeddedCosts prices whole requests with the embedded table, worked out by hand from the
// published prices of TestEmbeddedListPrices.
func TestEmbeddedCosts(t *testing.T) {
	table, err := pricing.NewTable(embedded(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		model string
		tok   pricing.Tokens
		want  string // USD
	}{
		// the OpenAI chat vector of docs/usage-normalization.md: 86 × 2.50 + 1920 × 1.25 + 300 × 10 = 5615 µ$
		{"gpt-4o-2024-08-06", pricing.Tokens{Input: 2006, Cached: 1920, Output: 300}, "0.005615"},
		// the Gemini CLI vector: 9000 × 0.30 + 1150 × 2.50 (800 of them thinking) = 5575 µ$
		{"gemini-2.5-flash", pricing.Tokens{Input: 9000, Output: 1150, Reasoning: 800}, "0.005575"},
		// 200,000 × 1.25 + 1000 × 10 = 260,000 µ$; one token more: 200,001 × 2.50 + 1000 × 15 = 515,002.5 µ$
		{"gemini-2.5-pro", pricing.Tokens{Input: 200_000, Output: 1000}, "0.26"},
		{"gemini-2.5-pro", pricing.Tokens{Input: 200_001, Output: 1000}, "0.5150025"},
		// the Anthropic vector, below 200K: 21 × 3 + 1000 × 0.30 + 188086 × 3.75 + 393 × 15 = 711,580.5 µ$
		{"claude-sonnet-4-5", pricing.Tokens{Input: 189107, Output: 393, Cached: 1000, CacheCreation: 188086}, "0.7115805"},
		// above 200K: 300,000 × 6 + 1000 × 22.50 = 1,822,500 µ$
		{"claude-sonnet-4-5-20250929", pricing.Tokens{Input: 300_000, Output: 1000}, "1.8225"},
	}
	for _, c := range cases {
		got, m, ok, err := table.Cost(c.model, c.tok)
		if err != nil || !ok {
			t.Errorf("Cost(%s, %+v) = %s, %+v, %v, %v", c.model, c.tok, got, m, ok, err)
			continue
		}
		want, _ := stats.MoneyFromUSD(mustFloat(t, c.want))
		if got != want {
			t.Errorf("Cost(%s, %+v) = %s, want $%s", c.model, c.tok, got, c.want)
		}
	}
}

func TestParseLiteLLMFile(t *testing.T) {
	s := parseFile(t, "testdata/litellm-small.json")
	if src := s.Source(); !sameSource(src, pricing.Source{}) {
		t.Errorf("a full LiteLLM file names no source, got %+v", src)
	}
	p := func(in, out, read, write, reason pricing.Rate) pricing.Prices {
		return pricing.Prices{Input: in, Output: out, CacheRead: read, CacheWrite: write, Reasoning: reason}
	}
	want := map[string]pricing.Rates{
		// batch prices and other fields are ignored; no cache write price: the input price
		"acme-chat": {Base: p(2000e6, 8000e6, 500e6, 2000e6, 8000e6)},
		// tiers: the 200k one has its own output and cache read; the 128k one falls back to the base ones
		"acme-tiered": {Base: p(1250e6, 10000e6, 125e6, 1250e6, 10000e6), Tiers: []pricing.Tier{
			{Above: 128_000, Prices: p(2000e6, 10000e6, 125e6, 2000e6, 10000e6)},
			{Above: 200_000, Prices: p(2500e6, 15000e6, 250e6, 2500e6, 15000e6)}}},
		"acme-reasoner": {Base: p(1100e6, 4400e6, 1100e6, 1100e6, 8800e6)},
		// the 1-hour cache write price is not used: a record does not say how long a cache lives
		"acme-writer": {Base: p(3000e6, 15000e6, 3000e6, 3750e6, 15000e6)},
		// 4.6875e-09 USD is 4,687,500 f$ exactly (it would be half a pico-dollar)
		"acme-old-flash": {Base: p(4_687_500, 18_750_000, 4_687_500, 4_687_500, 18_750_000)},
		// float noise in the file rounds to the decimal that was meant
		"acme-float-noise": {Base: p(150_010_000, 1_500_030_000, 150_010_000, 150_010_000, 1_500_030_000)},
		"acme-cache-hit":   {Base: p(280e6, 420e6, 28e6, 280e6, 420e6)},
		"acme-null-cache":  {Base: p(1000e6, 2000e6, 1000e6, 1000e6, 2000e6)},
		// an output tier without an input tier is ignored, as LiteLLM does
		"acme-orphan-tier": {Base: p(1000e6, 2000e6, 1000e6, 1000e6, 2000e6)},
		"acme-free":        {},
	}
	if s.Len() != len(want) {
		t.Errorf("Len() = %d, want %d (sample_spec, embedding, image, no-mode and output-only entries dropped)", s.Len(), len(want))
	}
	for name, w := range want {
		got, ok := s.Entry(name)
		if !ok {
			t.Errorf("%s was dropped", name)
			continue
		}
		if !got.Equal(w) {
			t.Errorf("%s = %+v, want %+v", name, got, w)
		}
	}
	for _, name := range []string{"sample_spec", "acme-video", "acme-embed", "acme-image", "acme-no-mode"} {
		if _, ok := s.Entry(name); ok {
			t.Errorf("%s was kept; it has no chat/completion/responses token price", name)
		}
	}
}

func TestWriteToRoundTrips(t *testing.T) {
	for _, s := range []*pricing.Snapshot{embedded(t), parseFile(t, "testdata/litellm-small.json")} {
		var first bytes.Buffer
		if _, err := s.WriteTo(&first); err != nil {
			t.Fatal(err)
		}
		again, err := pricing.Parse(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("Parse(WriteTo()): %v", err)
		}
		var second bytes.Buffer
		if _, err := again.WriteTo(&second); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) || again.Len() != s.Len() || !sameSource(again.Source(), s.Source()) {
			t.Errorf("WriteTo → Parse → WriteTo changed the snapshot (%d → %d entries, source %+v → %+v)",
				s.Len(), again.Len(), s.Source(), again.Source())
		}
	}
	// The trimmed form keeps the price fields as written, and the embedded snapshot is that form.
	var b bytes.Buffer
	if _, err := embedded(t).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if want := `"claude-sonnet-4-5": {"cache_creation_input_token_cost":3.75e-06,`; !strings.Contains(b.String(), want) {
		t.Errorf("the trimmed form has no line starting %s", want)
	}
}

func TestParseGzip(t *testing.T) {
	plain, err := os.ReadFile("testdata/litellm-small.json")
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(plain)
	zw.Close()
	s, err := pricing.Parse(&z)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := s.Entry("acme-chat"); !ok || r.Base.Input != 2*usd {
		t.Errorf("gzip-compressed file: acme-chat = %+v, %v", r, ok)
	}
}

func TestParseRefusesBadFiles(t *testing.T) {
	cases := []struct{ name, file, want string }{
		{"empty", "", "the price file is empty"},
		{"blank", " \n\t", "the price file is empty"},
		{"not JSON", "<html>404</html>", "not a LiteLLM price file: the file is not valid JSON"},
		{"an array", `[{"mode": "chat"}]`, "not a LiteLLM price file: the file is not a JSON object"},
		{"a number as entry", `{"gpt-4o": 1}`, `not a LiteLLM price file: "gpt-4o" is not an object`},
		{"an empty object", `{}`, "no chat, completion or responses model has an input and an output token price"},
		{"only sample_spec", `{"sample_spec": {"mode": "chat", "input_cost_per_token": 0, "output_cost_per_token": 0}}`,
			"no chat, completion or responses model"},
		{"only embeddings", `{"e": {"mode": "embedding", "input_cost_per_token": 1e-07, "output_cost_per_token": 0}}`,
			"no chat, completion or responses model"},
		{"negative price", `{"m": {"mode": "chat", "input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06}}`,
			`model "m": input_cost_per_token: must not be negative (it is -1e-06)`},
		{"negative tier", `{"m": {"mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "input_cost_per_token_above_200k_tokens": -2e-06}}`,
			`model "m": input_cost_per_token_above_200k_tokens: must not be negative`},
		{"price as a string", `{"m": {"mode": "chat", "input_cost_per_token": "3e-06", "output_cost_per_token": 1e-06}}`,
			`model "m": input_cost_per_token must be a number, not "3e-06"`},
		{"price above a dollar a token", `{"m": {"mode": "chat", "input_cost_per_token": 1.5, "output_cost_per_token": 1e-06}}`,
			`model "m": input_cost_per_token: 1.5 is above the highest price accepted`},
		{"price too small to hold", `{"m": {"mode": "chat", "input_cost_per_token": 1e-16, "output_cost_per_token": 1e-06}}`,
			"below the smallest price that can be held"},
		{"huge exponent", `{"m": {"mode": "chat", "input_cost_per_token": 1e-999999999, "output_cost_per_token": 1e-06}}`,
			"1e-999999999 is out of range"},
		{"two names for one tier", `{"m": {"mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "input_cost_per_token_above_200k_tokens": 2e-06, "input_cost_per_token_above_200000_tokens": 3e-06}}`,
			"name the same price"},
		{"unknown trimmed format", `{"format": "tokenstats-prices/9", "models": {}}`, `unknown price file format "tokenstats-prices/9"`},
		{"trimmed without models", `{"format": "tokenstats-prices/1", "source": {}}`, `"models" must be a JSON object`},
		{"trimmed with a bad date", `{"format": "tokenstats-prices/1", "source": {"date": "yesterday"}, "models": {}}`, "price file source date"},
		{"broken gzip", "\x1f\x8b\x08\x00garbage", "reading the gzip-compressed price file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := pricing.Parse(strings.NewReader(c.file))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse(%q) = %v, %v; want an error containing %q", c.file, s, err, c.want)
			}
		})
	}
}
