package pricing_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tokenstats/tokenstats/pricing"
)

func mustFloat(t testing.TB, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func embeddedTable(t testing.TB, overrides map[string]pricing.Override) *pricing.Table {
	t.Helper()
	table, err := pricing.NewTable(embedded(t), overrides)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// TestMatchRealNames matches model names as proxies and agents send them against the embedded snapshot.
func TestMatchRealNames(t *testing.T) {
	snap := embedded(t)
	table, err := pricing.NewTable(snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ model, entry, provider, how string }{
		// names that are entries: the model maker's own entry wins over clouds and resellers
		{"gpt-4o", "gpt-4o", "openai", "exact"},
		{"gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "openai", "exact"},
		{"claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic", "exact"}, // not azure_ai/ or vertex_ai/
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", "anthropic", "exact"},
		{"gemini-2.5-pro", "gemini/gemini-2.5-pro", "gemini", "exact"}, // not the Vertex AI entry "gemini-2.5-pro"
		{"gemini-2.5-flash", "gemini/gemini-2.5-flash", "gemini", "exact"},
		{"deepseek-chat", "deepseek-chat", "deepseek", "exact"},
		{"chatgpt-4o-latest", "chatgpt-4o-latest", "openai", "exact"}, // its own entry, not gpt-4o
		{"claude-3-5-sonnet-latest", "claude-3-5-sonnet-latest", "anthropic", "exact"},
		{"gemini-2.5-flash-preview-05-20", "gemini/gemini-2.5-flash-preview-05-20", "gemini", "exact"},
		{"gpt-5.1-codex-max", "gpt-5.1-codex-max", "openai", "exact"},
		// a LiteLLM route names its entry
		{"gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro", "gemini", "exact"},
		{"vertex_ai/claude-sonnet-4-5", "vertex_ai/claude-sonnet-4-5", "vertex_ai-anthropic_models", "exact"},
		{"openrouter/openai/gpt-4o", "openrouter/openai/gpt-4o", "openrouter", "exact"},
		{"claude-sonnet-4-5@20250929", "vertex_ai/claude-sonnet-4-5@20250929", "vertex_ai-anthropic_models", "exact"},
		// prefixes
		{"models/gemini-2.5-pro", "gemini/gemini-2.5-pro", "gemini", "normalised"},
		{"anthropic/claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic", "normalised"},
		{"openai/gpt-4o", "gpt-4o", "openai", "normalised"},
		{"假流式/gemini-2.5-pro", "gemini/gemini-2.5-pro", "gemini", "normalised"}, // gcli2api's fake-streaming prefix
		{"GPT-4o", "gpt-4o", "openai", "normalised"},
		// suffixes
		{"gemini-2.5-pro-thinking", "gemini/gemini-2.5-pro", "gemini", "normalised"},
		{"claude-sonnet-4-5-thinking", "claude-sonnet-4-5", "anthropic", "normalised"},
		{"claude-opus-4-5-thinking", "claude-opus-4-5", "anthropic", "normalised"},
		{"gemini-2.5-flash-maxthinking", "gemini/gemini-2.5-flash", "gemini", "normalised"},
		{"流式抗截断/gemini-2.5-flash-nothinking-search", "gemini/gemini-2.5-flash", "gemini", "normalised"},
		{"gpt-5-high", "gpt-5", "openai", "normalised"},
		{"claude-opus-4-5-latest", "claude-opus-4-5", "anthropic", "normalised"},
		{"claude-sonnet-4-5-20991231", "claude-sonnet-4-5", "anthropic", "normalised"},
		{"gpt-4.1-2099-01-01", "gpt-4.1", "openai", "normalised"},
		{"claude-opus-4-5@20991231", "claude-opus-4-5", "anthropic", "normalised"},
		{"gemini-3-pro-preview-11-18", "gemini/gemini-3-pro-preview", "gemini", "normalised"},
		{"gemini-3-pro-preview-11-2025", "gemini/gemini-3-pro-preview", "gemini", "normalised"},
		// a preview the model maker lists beats a reseller's entry under the plain name
		{"gemini-3-pro", "gemini/gemini-3-pro-preview", "gemini", "normalised"}, // not replicate/google/gemini-3-pro
		{"gemini-3-pro-high", "gemini/gemini-3-pro-preview", "gemini", "normalised"},
		{"gemini-3-flash", "gemini/gemini-3-flash-preview", "gemini", "normalised"},
	}
	for _, c := range cases {
		r, m, ok := table.Lookup(c.model)
		want := pricing.Match{Entry: c.entry, Provider: c.provider, Origin: pricing.OriginSnapshot, How: c.how}
		if !ok || m != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", c.model, m, ok, want)
			continue
		}
		if e, _ := snap.Entry(c.entry); !r.Equal(e) {
			t.Errorf("Lookup(%q) returned rates %+v, not those of %s", c.model, r, c.entry)
		}
	}
}

func TestUnpriced(t *testing.T) {
	table := embeddedTable(t, nil)
	for _, model := range []string{
		"my-local-model", "", "gpt-4o/", "claude-sonnet-9",
		"text-embedding-3-small",        // an embedding model: not priced per chat token
		"dall-e-3",                      // priced per image
		"twelvelabs.pegasus-1-2-v1:0",   // has an output price but no input price
		"gemini-2.5-pro-preview-99-99x", // a suffix that is not a date
	} {
		if r, m, ok := table.Lookup(model); ok {
			t.Errorf("Lookup(%q) = %+v, %+v; want unpriced", model, r, m)
		}
		c, m, ok, err := table.Cost(model, pricing.Tokens{Input: 1000, Output: 10})
		if ok || err != nil || c != 0 || m != (pricing.Match{}) {
			t.Errorf("Cost(%q) = %s, %+v, ok=%v, %v; want unpriced (ok=false), never $0 as a price", model, c, m, ok, err)
		}
	}
}

func TestOverrideWins(t *testing.T) {
	read := 0.075
	table := embeddedTable(t, map[string]pricing.Override{
		"gpt-4o":         {InputPerMTok: 1, OutputPerMTok: 2, CacheReadPerMTok: &read},
		"my-local-model": {InputPerMTok: 0.5, OutputPerMTok: 1.5},
	})
	r, m, ok := table.Lookup("gpt-4o")
	if !ok || m != (pricing.Match{Entry: "gpt-4o", Origin: pricing.OriginOverride, How: pricing.HowExact}) {
		t.Fatalf("Lookup(gpt-4o) = %+v, %v; want the override", m, ok)
	}
	want := pricing.Prices{Input: usd, Output: 2 * usd, CacheRead: 75_000_000, CacheWrite: usd, Reasoning: 2 * usd}
	if !r.Equal(pricing.Rates{Base: want}) {
		t.Errorf("override rates = %+v, want %+v (0.075 converted exactly, cache write = input, reasoning = output)", r, want)
	}
	// 1000 × 1 + 1000 × 0.075 + 500 × 2 = 2075 µ$
	c, _, ok, err := table.Cost("gpt-4o", pricing.Tokens{Input: 2000, Cached: 1000, Output: 500})
	if err != nil || !ok || c != 2_075_000 {
		t.Errorf("Cost with the override = %s, %v, %v; want $0.002075", c, ok, err)
	}
	// The override is for that exact name only.
	if _, m, _ := table.Lookup("gpt-4o-2024-08-06"); m.Origin != pricing.OriginSnapshot {
		t.Errorf("gpt-4o-2024-08-06 matched %+v; an override of gpt-4o must not reach it", m)
	}
	if _, m, _ := table.Lookup("openai/gpt-4o"); m.Origin != pricing.OriginSnapshot {
		t.Errorf("openai/gpt-4o matched %+v; an override applies to its exact name only", m)
	}
	// An override prices a model the snapshot does not know.
	if _, m, ok := table.Lookup("my-local-model"); !ok || m.Origin != pricing.OriginOverride {
		t.Errorf("my-local-model = %+v, %v; want the override", m, ok)
	}
}

func TestOverrideValidation(t *testing.T) {
	neg := -0.1
	cases := []struct {
		model string
		o     pricing.Override
		want  string
	}{
		{"m", pricing.Override{InputPerMTok: math.NaN()}, `price override for "m": input_per_mtok must be a finite number`},
		{"m", pricing.Override{OutputPerMTok: math.Inf(1)}, "output_per_mtok must be a finite number"},
		{"m", pricing.Override{InputPerMTok: -1}, "input_per_mtok must not be negative"},
		{"m", pricing.Override{CacheReadPerMTok: &neg}, "cache_read_per_mtok must not be negative"},
		{"m", pricing.Override{CacheWritePerMTok: &neg}, "cache_write_per_mtok must not be negative"},
		{"m", pricing.Override{OutputPerMTok: 1_000_001}, "output_per_mtok must be at most 1000000 USD per million tokens"},
		{"m", pricing.Override{InputPerMTok: 1e-12}, "below the smallest price that can be held"},
		{"", pricing.Override{InputPerMTok: 1}, "the model name must be 1 to 256 bytes long"},
		{strings.Repeat("m", 257), pricing.Override{InputPerMTok: 1}, "the model name must be 1 to 256 bytes long"},
	}
	for _, c := range cases {
		_, err := pricing.NewTable(embedded(t), map[string]pricing.Override{c.model: c.o})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewTable with %+v for %.10q: %v; want an error containing %q", c.o, c.model, err, c.want)
		}
	}
	if _, err := pricing.NewTable(embedded(t), map[string]pricing.Override{"m": {InputPerMTok: 1_000_000}}); err != nil {
		t.Errorf("the largest allowed override was refused: %v", err)
	}
}

func TestChanged(t *testing.T) {
	snap := embedded(t)
	base := embeddedTable(t, nil)
	read := 1.25
	models := []string{"gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro-thinking", "my-local-model", "gpt-4o-mini"}
	cases := []struct {
		name      string
		overrides map[string]pricing.Override
		want      []string
	}{
		{"nothing changed", nil, nil},
		// gpt-4o's snapshot prices restated as an override price every request the same
		{"same prices from an override", map[string]pricing.Override{
			"gpt-4o": {InputPerMTok: 2.5, OutputPerMTok: 10, CacheReadPerMTok: &read}}, nil},
		{"a price changed", map[string]pricing.Override{
			"gpt-4o": {InputPerMTok: 2.5, OutputPerMTok: 11, CacheReadPerMTok: &read}}, []string{"gpt-4o"}},
		// the override drops gemini-2.5-pro's tier, and an unpriced model becomes priced
		{"tiers and newly priced", map[string]pricing.Override{
			"gemini-2.5-pro-thinking": {InputPerMTok: 1.25, OutputPerMTok: 10},
			"my-local-model":          {InputPerMTok: 0, OutputPerMTok: 0}}, []string{"gemini-2.5-pro-thinking", "my-local-model"}},
	}
	for _, c := range cases {
		other, err := pricing.NewTable(snap, c.overrides)
		if err != nil {
			t.Fatal(err)
		}
		if got := base.Changed(other, models); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: Changed = %q, want %q", c.name, got, c.want)
		}
		if got := other.Changed(base, models); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s, the other way round: Changed = %q, want %q", c.name, got, c.want)
		}
	}
	// Two snapshots: the small test file against the embedded one prices acme-chat only in one of them.
	small, err := pricing.NewTable(parseFile(t, "testdata/litellm-small.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := base.Changed(small, []string{"acme-chat", "nobody-knows-me"}); fmt.Sprint(got) != "[acme-chat]" {
		t.Errorf("Changed between snapshots = %q, want [acme-chat]", got)
	}
}

func TestTableConcurrentUse(t *testing.T) {
	table := embeddedTable(t, map[string]pricing.Override{"my-model": {InputPerMTok: 1, OutputPerMTok: 2}})
	want, _, _, _ := table.Cost("claude-sonnet-4-5-thinking", pricing.Tokens{Input: 1000, Output: 100})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				got, _, ok, err := table.Cost("claude-sonnet-4-5-thinking", pricing.Tokens{Input: 1000, Output: 100})
				if !ok || err != nil || got != want {
					errs <- fmt.Sprintf("%s %v %v", got, ok, err)
					return
				}
				table.Lookup("my-model")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestFetch(t *testing.T) {
	full, err := os.ReadFile("testdata/litellm-small.json")
	if err != nil {
		t.Fatal(err)
	}
	var trimmed strings.Builder
	if _, err := embedded(t).WriteTo(&trimmed); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/full.json":
			w.Write(full)
		case "/trimmed.json":
			w.Write([]byte(trimmed.String()))
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body>Sign in</body></html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	s, err := pricing.Fetch(ctx, srv.Client(), srv.URL+"/full.json")
	if err != nil {
		t.Fatal(err)
	}
	if src := s.Source(); src.URL != srv.URL+"/full.json" || src.Commit != "" || src.Date.IsZero() {
		t.Errorf("a fetched LiteLLM file has source %+v; want its URL and the time it was fetched", src)
	}
	if _, ok := s.Entry("acme-chat"); !ok {
		t.Error("the fetched file lost acme-chat")
	}
	s, err = pricing.Fetch(ctx, srv.Client(), srv.URL+"/trimmed.json")
	if err != nil {
		t.Fatal(err)
	}
	if !sameSource(s.Source(), embedded(t).Source()) {
		t.Errorf("a fetched trimmed file has source %+v; want the one it names", s.Source())
	}
	for path, want := range map[string]string{
		"/missing": "the server answered 404 Not Found",
		"/page":    "not a LiteLLM price file",
	} {
		if _, err := pricing.Fetch(ctx, srv.Client(), srv.URL+path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Fetch(%s): %v; want an error containing %q", path, err, want)
		}
	}
}

func FuzzLookup(f *testing.F) {
	for _, s := range []string{"gpt-4o", "models/gemini-2.5-pro", "gemini-2.5-pro-thinking", "claude-sonnet-4-5@20250929",
		"a-20250101-2025-01-01-latest-thinking", "-preview-01-01", "@", "/", "-", "gemini-preview-1-2025", "Ünïcode/模型-high"} {
		f.Add(s)
	}
	snap, err := pricing.Embedded()
	if err != nil {
		f.Fatal(err)
	}
	table, err := pricing.NewTable(snap, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, model string) {
		r, m, ok := table.Lookup(model)
		if !ok {
			if m != (pricing.Match{}) {
				t.Fatalf("unpriced %q has a match %+v", model, m)
			}
			return
		}
		e, found := snap.Entry(m.Entry)
		if !found || !r.Equal(e) || (m.How == pricing.HowExact) != (m.Entry == model || strings.HasSuffix(m.Entry, "/"+model)) {
			t.Fatalf("Lookup(%q) = %+v, %+v; the entry has %+v (found %v)", model, r, m, e, found)
		}
		if _, err := r.Cost(pricing.Tokens{Input: 1000, Output: 1000, Cached: 10, Reasoning: 10, CacheCreation: 10}); err != nil {
			t.Fatalf("Cost with %s's rates: %v", m.Entry, err)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	table := embeddedTable(b, nil)
	for _, model := range []string{"gpt-4o", "claude-sonnet-4-5-20250929", "models/gemini-2.5-pro", "claude-opus-4-5-thinking", "unknown-model"} {
		b.Run(model, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				table.Lookup(model)
			}
		})
	}
}

func BenchmarkCost(b *testing.B) {
	table := embeddedTable(b, nil)
	tok := pricing.Tokens{Input: 189107, Output: 393, Cached: 1000, CacheCreation: 188086}
	b.ReportAllocs()
	for b.Loop() {
		table.Cost("claude-sonnet-4-5", tok)
	}
}

func BenchmarkEmbedded(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pricing.Embedded(); err != nil {
			b.Fatal(err)
		}
	}
}
