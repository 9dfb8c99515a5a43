package litellm_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/litellm"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func batch(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/generic-api-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ndjson rewrites the batch the way log_format: ndjson sends it: one payload per line.
func ndjson(t *testing.T, array []byte) []byte {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal(array, &items); err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, it := range items {
		var buf bytes.Buffer
		if err := json.Compact(&buf, it); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, buf.Bytes())
	}
	return bytes.Join(lines, []byte("\n"))
}

type counts struct{ in, out, cached, reasoning, creation int64 }

func countsOf(r stats.Record) counts {
	return counts{r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens, r.CacheCreationTokens}
}

// The default json_array body and the same payloads as NDJSON give the same records.
func TestGenericAPIBatch(t *testing.T) {
	for name, body := range map[string][]byte{"json_array": batch(t), "ndjson": ndjson(t, batch(t))} {
		t.Run(name, func(t *testing.T) {
			r, err := litellm.Decode(body, now)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range r.Records {
				if err := rec.Validate(now); err != nil {
					t.Errorf("record %d: %v", i, err)
				}
				if rec.Kind != stats.KindLiteLLM || rec.Source != litellm.Source {
					t.Errorf("record %d: kind %q source %q", i, rec.Kind, rec.Source)
				}
			}
			if len(r.Records) != 3 {
				t.Fatalf("%d records, want 3: %+v", len(r.Records), r.Records)
			}
			want := []struct {
				counts
				account, model, id string
				cost               stats.Money
				at                 time.Time
			}{
				{counts{in: 2006, out: 300, cached: 1920}, "dev@example.com", "gpt-4o",
					"litellm:b980db26-9512-45cc-b1da-c511a363b83f", 7_320_000, time.Date(2026, 11, 30, 11, 0, 0, 123456e3, time.UTC)},
				// prompt_tokens already includes Anthropic's cache reads and writes.
				{counts{in: 189107, out: 393, cached: 1000, creation: 188086}, "ci-key", "anthropic/claude-sonnet-4-5",
					"litellm:c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f", 774_200_000, time.Date(2026, 11, 30, 11, 1, 0, 5e8, time.UTC)},
				// Usage only in hidden_params; completion_tokens includes the reasoning tokens.
				{counts{in: 1256, out: 280, cached: 1024, reasoning: 200}, "research", "gemini/gemini-2.5-pro",
					"litellm:e3f4a5b6-7c8d-4e9f-8a1b-2c3d4e5f6a7b", 4_100_000, time.Date(2026, 11, 30, 11, 1, 20, 25e7, time.UTC)},
			}
			for i, w := range want {
				got := r.Records[i]
				if countsOf(got) != w.counts || got.Account != w.account || got.Model != w.model || got.RequestID != w.id ||
					!got.HasAgentCost || got.AgentCost != w.cost || !got.Time.Equal(w.at) {
					t.Errorf("record %d = %+v\nwant %+v", i, got, w)
				}
			}
			wantIgnored := map[string]int{"failed call without tokens": 1, "LiteLLM cache hit (no upstream call)": 1}
			if !maps.Equal(r.Ignored, wantIgnored) {
				t.Errorf("ignored = %v, want %v", r.Ignored, wantIgnored)
			}
		})
	}
}

// log_format: single posts one object per request.
func TestSinglePayload(t *testing.T) {
	lines := bytes.Split(ndjson(t, batch(t)), []byte("\n"))
	r, err := litellm.Decode(lines[0], now)
	if err != nil || len(r.Records) != 1 || r.Records[0].InputTokens != 2006 {
		t.Fatalf("single payload: %+v, %v", r.Records, err)
	}
}

// Releases whose Anthropic mapping left cache writes out of prompt_tokens: the writes are added back,
// so input still includes them.
func TestCountsThatDoNotFit(t *testing.T) {
	body := `{"litellm_call_id":"x1","status":"success","model":"claude-3-5-sonnet","startTime":1796036400,
		"prompt_tokens":1021,"completion_tokens":393,
		"metadata":{"user_api_key_alias":"k","usage_object":{"prompt_tokens":1021,"completion_tokens":393,
			"prompt_tokens_details":{"cached_tokens":1000},"cache_read_input_tokens":1000,"cache_creation_input_tokens":188086}}}`
	r, err := litellm.Decode([]byte(body), now)
	if err != nil || len(r.Records) != 1 {
		t.Fatalf("%+v, %v", r.Records, err)
	}
	if got, want := countsOf(r.Records[0]), (counts{in: 189107, out: 393, cached: 1000, creation: 188086}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}

	// The same for reasoning tokens above completion_tokens: they lie beside it.
	body = `{"litellm_call_id":"x2","model":"gemini/gemini-2.5-pro","startTime":1796036400,"prompt_tokens":1256,"completion_tokens":80,
		"hidden_params":{"usage_object":{"completion_tokens_details":{"reasoning_tokens":200}}}}`
	r, err = litellm.Decode([]byte(body), now)
	if err != nil || len(r.Records) != 1 {
		t.Fatalf("%+v, %v", r.Records, err)
	}
	if got, want := countsOf(r.Records[0]), (counts{in: 1256, out: 280, reasoning: 200}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
}

func TestBadPayloads(t *testing.T) {
	good := `{"litellm_call_id":"ok","status":"success","model":"gpt-4o","startTime":1796036400,"prompt_tokens":5,"completion_tokens":1}`
	body := "[" + strings.Join([]string{
		`{"litellm_call_id":"neg","model":"gpt-4o","startTime":1796036400,"prompt_tokens":-5,"completion_tokens":1}`,
		`{"litellm_call_id":"frac","model":"gpt-4o","startTime":1796036400,"prompt_tokens":5.5,"completion_tokens":1}`,
		`{"litellm_call_id":"notime","model":"gpt-4o","prompt_tokens":5,"completion_tokens":1}`,
		`{"litellm_call_id":"future","model":"gpt-4o","startTime":1896036400,"prompt_tokens":5,"completion_tokens":1}`,
		`{"litellm_call_id":"type","model":7,"startTime":1796036400,"prompt_tokens":5,"completion_tokens":1}`,
		`{"litellm_call_id":"failed-with-tokens","status":"failure","model":"gpt-4o","startTime":1796036400,"prompt_tokens":5,"completion_tokens":0}`,
		good,
	}, ",") + "]"
	r, err := litellm.Decode([]byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 2 || r.Records[0].RequestID != "litellm:failed-with-tokens" || r.Records[1].RequestID != "litellm:ok" {
		t.Fatalf("records = %+v, want the failed call that used tokens and the good one", r.Records)
	}
	want := map[string]int{
		"prompt_tokens: must not be negative":              1,
		"prompt_tokens: must be a whole number":            1,
		"startTime: is missing or not a time":              1,
		"timestamp: is more than 10 minutes in the future": 1,
		"payload: model has the wrong type":                1,
	}
	if !maps.Equal(r.Rejected, want) {
		t.Errorf("rejected = %v\nwant %v", r.Rejected, want)
	}
}

func TestMalformedBodies(t *testing.T) {
	deep := `[{"messages":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}]`
	for name, c := range map[string]struct{ body, want string }{
		"empty":         {"  \n", "body is empty"},
		"not JSON":      {"hello", "malformed JSON"},
		"truncated":     {`[{"model":"gpt-4o"`, "malformed JSON array"},
		"strings":       {`["a","b"]`, "item 0 is not a JSON object"},
		"trailing":      {`[{}] x`, "data after the JSON array"},
		"deep":          {deep, "exceeded max depth"},
		"ndjson broken": {"{\"model\":\"a\"}\n{\"model\":", "malformed JSON"},
		"too large":     {strings.Repeat(" ", litellm.MaxBodyBytes+1), "larger than 32 MiB"},
	} {
		r, err := litellm.Decode([]byte(c.body), now)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to say %q", name, err, c.want)
		}
		if len(r.Records) != 0 {
			t.Errorf("%s: records from a refused body", name)
		}
	}
}
