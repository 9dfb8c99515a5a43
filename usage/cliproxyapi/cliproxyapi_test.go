package cliproxyapi_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
	"github.com/tokenstats/tokenstats/usage/cliproxyapi"
	"github.com/tokenstats/tokenstats/usage/cliproxyapi/cliproxyapitest"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

type counts struct{ in, out, cached, reasoning, creation int64 }

func countsOf(r stats.Record) counts {
	return counts{r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens, r.CacheCreationTokens}
}

func fixture(t *testing.T) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("testdata/usage-queue.json")
	if err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatal(err)
	}
	return items
}

func checkRecords(t *testing.T, recs []stats.Record) {
	t.Helper()
	for i, r := range recs {
		if err := r.Validate(now); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
		if r.Kind != stats.KindCLIProxyAPI || r.Source != cliproxyapi.Source {
			t.Errorf("record %d: kind %q, source %q", i, r.Kind, r.Source)
		}
		// No key, neither the upstream's nor the client's, may be stored.
		for _, s := range []string{r.Account, r.Credential, r.RequestID, r.Model} {
			if strings.Contains(s, "SECRET") || strings.Contains(s, "sk-") {
				t.Errorf("record %d stores a key: %q", i, s)
			}
		}
	}
}

// Every provider's tokens come out as input ⊇ cached and output ⊇ reasoning, whether CLIProxyAPI's
// canonical breakdown says it or the raw tokens must be read by provider.
func TestQueueRecords(t *testing.T) {
	b, _ := json.Marshal(fixture(t))
	r, err := cliproxyapi.Decode(b, now)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, r.Records)
	upstreamKey := usage.KeyFingerprint("sk-ant-api03-upstreamSECRETkey-0123456789")
	want := []struct {
		counts
		model, account, credential string
	}{
		// Codex: cached inside input, reasoning inside output.
		{counts{in: 12000, out: 900, cached: 8000, reasoning: 600}, "gpt-5.1-codex", "dev@example.com", "auth 6f1e0d9c8b7a6f5e"},
		{counts{in: 320, out: 4160}, "gpt-image-1", "dev@example.com", "auth 6f1e0d9c8b7a6f5e"},
		// Claude: tokens.input_tokens (21) is uncached; reads and writes are added.
		{counts{in: 189107, out: 393, cached: 1000, creation: 188086}, "claude-sonnet-4-5", upstreamKey, "auth 0a9b8c7d6e5f4a3b"},
		// Gemini: tokens.output_tokens (80) excludes the 200 thoughts.
		{counts{in: 1256, out: 280, cached: 1024, reasoning: 200}, "gemini-2.5-pro", "dev@example.com", "auth 1b2c3d4e5f6a7b8c"},
		// Unclassified breakdown: the raw tokens.
		{counts{in: 100, out: 20}, "local-model", usage.KeyFingerprint("sk-client-ci-19c2"), ""},
		// Before accounting version 2: no breakdown; Claude's semantics from the provider.
		{counts{in: 189107, out: 393, cached: 1000, creation: 188086}, "claude-sonnet-4-5", upstreamKey, "auth 0a9b8c7d6e5f4a3b"},
	}
	if len(r.Records) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(r.Records), len(want), r.Records)
	}
	for i, w := range want {
		got := r.Records[i]
		if countsOf(got) != w.counts || got.Model != w.model || got.Account != w.account || got.Credential != w.credential {
			t.Errorf("record %d = %+v\nwant %+v", i, got, w)
		}
	}
	if !r.Records[0].Time.Equal(time.Date(2026, 11, 30, 3, 0, 0, 123456789, time.UTC)) {
		t.Errorf("time = %v", r.Records[0].Time)
	}
	// Both records of request a1b2c3d4 are kept.
	if r.Records[0].RequestID == r.Records[1].RequestID || !strings.HasPrefix(r.Records[0].RequestID, "cliproxyapi:a1b2c3d4:") {
		t.Errorf("request ids %q and %q", r.Records[0].RequestID, r.Records[1].RequestID)
	}
	if len(r.Ignored) != 1 || r.Ignored["failed request without tokens"] != 1 {
		t.Errorf("ignored = %v", r.Ignored)
	}
}

// Without a usable breakdown (records from before accounting version 2), the raw tokens are read with
// the provider's semantics. The counts here fit either reading, so only the provider decides.
func TestRawTokensByProvider(t *testing.T) {
	raw := cliproxyapitest.Tokens{InputTokens: 5000, OutputTokens: 500, ReasoningTokens: 200, CachedTokens: 1000,
		CacheReadTokens: 1000, CacheReadTokensPresent: true, CacheCreationTokens: 300}
	for _, c := range []struct {
		provider, executor string
		want               counts
	}{
		{"claude", "ClaudeExecutor", counts{in: 6300, out: 500, cached: 1000, reasoning: 200, creation: 300}},
		{"gemini-cli", "GeminiCLIExecutor", counts{in: 5000, out: 700, cached: 1000, reasoning: 200, creation: 300}},
		{"antigravity", "AntigravityExecutor", counts{in: 5000, out: 700, cached: 1000, reasoning: 200, creation: 300}},
		{"codex", "CodexExecutor", counts{in: 5000, out: 500, cached: 1000, reasoning: 200, creation: 300}},
		{"openai-compatibility", "OpenAICompatExecutor", counts{in: 5000, out: 500, cached: 1000, reasoning: 200, creation: 300}},
	} {
		rec := cliproxyapitest.Record{Timestamp: now.Add(-time.Hour), Source: "dev@example.com", Tokens: raw,
			Provider: c.provider, ExecutorType: c.executor, Model: "m", RequestID: "00000001"}
		r, err := cliproxyapi.Decode([]byte("["+string(rec.JSON())+"]"), now)
		if err != nil || len(r.Records) != 1 {
			t.Fatalf("%s: %+v, %v", c.provider, r, err)
		}
		if got := countsOf(r.Records[0]); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.provider, got, c.want)
		}
	}
}

// When CLIProxyAPI classified a record itself (a parser built the breakdown), that wins over a guess
// from the provider's name: here an OpenAI-named provider answered in Anthropic's format.
func TestBreakdownWinsOverProviderName(t *testing.T) {
	rec := cliproxyapitest.Record{Timestamp: now.Add(-time.Hour), Source: "dev@example.com",
		Tokens: cliproxyapitest.Tokens{InputTokens: 21, OutputTokens: 393, CachedTokens: 10, CacheReadTokens: 10,
			CacheReadTokensPresent: true, CacheCreationTokens: 5, TotalTokens: 429},
		AccountingVersion: 2,
		TokenBreakdown: cliproxyapitest.TokenBreakdown{SchemaVersion: 2, Quality: "complete", TotalTokens: 429,
			Input:  cliproxyapitest.Input{TotalTokens: 36, UncachedTokens: 21, CacheReadTokens: 10, CacheWriteTokens: 5},
			Output: cliproxyapitest.Output{TotalTokens: 393, NonReasoningTokens: 393}},
		Provider: "kimi", ExecutorType: "KimiExecutor", Model: "kimi-k2", RequestID: "00000002"}
	r, err := cliproxyapi.Decode([]byte("["+string(rec.JSON())+"]"), now)
	if err != nil || len(r.Records) != 1 {
		t.Fatalf("%+v, %v", r, err)
	}
	if got, want := countsOf(r.Records[0]), (counts{in: 36, out: 393, cached: 10, creation: 5}); got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
}

func TestKeyFingerprint(t *testing.T) {
	a := usage.KeyFingerprint("sk-client-laptop-7f3a")
	if !regexp.MustCompile(`^key …[0-9a-f]{4}$`).MatchString(a) {
		t.Errorf("fingerprint %q is not key …xxxx", a)
	}
	if a != usage.KeyFingerprint(" sk-client-laptop-7f3a ") {
		t.Error("the same key gives two fingerprints")
	}
	if a == usage.KeyFingerprint("sk-client-ci-19c2") {
		t.Error("two keys of the fixture share a fingerprint")
	}
	if strings.HasSuffix(a, "7f3a") {
		t.Error("the fingerprint shows the key's last characters")
	}
}

func TestBadQueueAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"object":    `{"error":"count must be a positive integer"}`,
		"truncated": `[{"model":"gpt-5"`,
		"empty":     ``,
	} {
		r, err := cliproxyapi.Decode([]byte(body), now)
		if err == nil || !strings.Contains(err.Error(), "did not answer a JSON array") || len(r.Records) != 0 {
			t.Errorf("%s: records %d, err %v", name, len(r.Records), err)
		}
	}
	good := fixture(t)[0]
	body := `["not json the queue held",{"timestamp":"yesterday","model":"m","tokens":{"input_tokens":1}},` +
		`{"timestamp":"2026-11-30T11:00:00Z","model":"m","tokens":{"input_tokens":"5"}},` +
		`{"timestamp":"2026-11-30T11:00:00Z","model":"m","provider":"codex","tokens":{"input_tokens":5,"cached_tokens":9,"cache_read_tokens":9,"cache_read_tokens_present":true}},` +
		`{"timestamp":"2026-11-30T11:00:00Z","model":"","tokens":{"input_tokens":5,"output_tokens":1}},` +
		string(good) + `]`
	r, err := cliproxyapi.Decode([]byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 2 {
		t.Fatalf("%d records, want the inconsistent-looking Codex one (cache beside input) and the good one: %+v", len(r.Records), r.Records)
	}
	// Cache reads larger than input: they evidently lie beside it.
	if got := countsOf(r.Records[0]); got != (counts{in: 14, cached: 9}) {
		t.Errorf("counts = %+v", got)
	}
	want := map[string]int{
		"record is not a JSON object":                    1,
		"record: timestamp is not an RFC 3339 time":      1,
		"record: tokens.input_tokens has the wrong type": 1,
		"model: is required and must not be empty":       1,
	}
	if !maps.Equal(r.Rejected, want) {
		t.Errorf("rejected = %v\nwant %v", r.Rejected, want)
	}
}

// The fake pops destructively and answers in the real shape, so a poller can be tested against it.
func TestFakeQueue(t *testing.T) {
	q := cliproxyapitest.New("mgmt-key")
	srv := httptest.NewServer(q)
	defer srv.Close()
	for _, it := range fixture(t) {
		q.Push(it)
	}
	get := func(query string, header ...string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+cliproxyapi.QueuePath+query, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := get("?count=3"); code != 401 || !strings.Contains(string(b), "missing management key") {
		t.Errorf("no key: %d %s", code, b)
	}
	if code, b := get("?count=3", "Authorization", "Bearer wrong"); code != 401 || !strings.Contains(string(b), "invalid management key") {
		t.Errorf("wrong key: %d %s", code, b)
	}
	if code, b := get("?count=0", "X-Management-Key", "mgmt-key"); code != 400 || !strings.Contains(string(b), "count must be a positive integer") {
		t.Errorf("count=0: %d %s", code, b)
	}
	if q.Len() != 7 {
		t.Fatalf("refused requests popped records: %d left", q.Len())
	}

	var all []stats.Record
	ignored := 0
	for _, query := range []string{"", "?count=4", "?count=100", "?count=100"} {
		code, b := get(query, "Authorization", "Bearer mgmt-key")
		if code != 200 {
			t.Fatalf("%s: %d %s", query, code, b)
		}
		r, err := cliproxyapi.Decode(b, now)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, r.Records)
		all = append(all, r.Records...)
		ignored += r.Ignored["failed request without tokens"]
		if query == "" && len(r.Records) != 1 {
			t.Errorf("no count popped %d records, want 1", len(r.Records))
		}
	}
	if len(all) != 6 || ignored != 1 || q.Len() != 0 {
		t.Errorf("popped %d records and %d ignored, %d left; want 6, 1, 0", len(all), ignored, q.Len())
	}
	if code, b := get("?count=5", "Authorization", "Bearer mgmt-key"); code != 200 || string(b) != "[]" {
		t.Errorf("empty queue: %d %s, want []", code, b)
	}

	// A record built with the fake's Record type decodes like CLIProxyAPI's own.
	q.Push(cliproxyapitest.Record{
		Timestamp: time.Date(2026, 11, 30, 11, 30, 0, 0, time.UTC), Source: "dev@example.com", AuthIndex: "1b2c3d4e5f6a7b8c",
		Tokens:   cliproxyapitest.Tokens{InputTokens: 1256, OutputTokens: 80, ReasoningTokens: 200, CachedTokens: 1024, CacheReadTokens: 1024, CacheReadTokensPresent: true, TotalTokens: 1536},
		Generate: true, Fail: cliproxyapitest.Fail{StatusCode: 200}, AccountingVersion: 2,
		TokenBreakdown: cliproxyapitest.TokenBreakdown{SchemaVersion: 2, Quality: "complete", TotalTokens: 1536,
			Input:  cliproxyapitest.Input{TotalTokens: 1256, UncachedTokens: 232, CacheReadTokens: 1024},
			Output: cliproxyapitest.Output{TotalTokens: 280, NonReasoningTokens: 80, ReasoningTokens: 200}},
		Provider: "gemini-cli", ExecutorType: "GeminiCLIExecutor", Model: "gemini-2.5-flash", RequestID: "0badc0de",
	}.JSON())
	_, b := get("?count=1", "Authorization", "Bearer mgmt-key")
	r, err := cliproxyapi.Decode(b, now)
	if err != nil || len(r.Records) != 1 || countsOf(r.Records[0]) != (counts{in: 1256, out: 280, cached: 1024, reasoning: 200}) {
		t.Errorf("built record: %+v, %v", r.Records, err)
	}
	if q.Pops() != 6 {
		t.Errorf("Pops = %d, want 6 successful pops", q.Pops())
	}
}
