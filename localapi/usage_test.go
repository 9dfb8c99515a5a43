package localapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/localapi"
	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
	"github.com/tokenstats/tokenstats/usage/usagetest"
)

const testToken = "test-token-0123456789abcdef"

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "t.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(localapi.New(localapi.Config{Store: store, Token: testToken}))
	t.Cleanup(func() {
		srv.Close()
		store.Close()
	})
	return srv
}

func do(t *testing.T, srv *httptest.Server, method, path string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// storedTotals reads a row's numbers as the API serves them.
func storedTotals(m map[string]any) [6]int64 {
	n := func(k string) int64 { f, _ := m[k].(float64); return int64(f) }
	return [6]int64{n("total_input_tokens"), n("total_output_tokens"), n("total_cached_tokens"),
		n("total_reasoning_tokens"), n("total_cache_creation_tokens"), n("total_tokens")}
}

// Every vector of the doc goes through POST /usage; the numbers come back from /stats/by-model (per
// vector, the model is the vector's name) and /stats/summary (the sum).
func TestUsageVectorsThroughHTTP(t *testing.T) {
	srv := newTestServer(t)
	var sum [6]int64
	var requests int64
	want := map[string][6]int64{}
	for i, v := range usagetest.Vectors(t) {
		fields := []string{"response"}
		if v.UsageOnly {
			fields = append(fields, "usage")
		}
		for _, field := range fields {
			rec := map[string]any{"account_email": "vec@example.com", "model": v.Name, field: v.Body,
				"request_id": fmt.Sprintf("vec-%d-%s", i, field)}
			if v.Provider != "" {
				rec["provider"] = v.Provider
			}
			body, _ := json.Marshal([]any{rec})
			status, ans := do(t, srv, "POST", "/usage", body)
			if v.Error != "" {
				wantErr := "record 0: " + field + ": "
				if v.Provider != "" && !usage.ValidProvider(v.Provider) {
					wantErr = "record 0: provider: "
				}
				if msg, _ := ans["error"].(string); status != 400 || !strings.HasPrefix(msg, wantErr) || !strings.Contains(msg, v.Error) {
					t.Errorf("%s as %s: %d %v, want 400 %q…%q", v.Name, field, status, ans, wantErr, v.Error)
				}
				continue
			}
			if status != 200 || ans["accepted"] != float64(1) {
				t.Fatalf("%s as %s: %d %v", v.Name, field, status, ans)
			}
			w := v.Want
			row := [6]int64{w.Input, w.Output, w.Cached, w.Reasoning, w.CacheCreation, w.Input + w.Output}
			prev := want[v.Name]
			for k := range row {
				prev[k] += row[k]
				sum[k] += row[k]
			}
			want[v.Name] = prev
			requests++
		}
	}
	_, ans := do(t, srv, "GET", "/stats/by-model", nil)
	rows, _ := ans["data"].([]any)
	if len(rows) != len(want) {
		t.Fatalf("by-model has %d rows, want %d: %v", len(rows), len(want), ans)
	}
	for _, r := range rows {
		m := r.(map[string]any)
		name, _ := m["model"].(string)
		if got := storedTotals(m); got != want[name] {
			t.Errorf("by-model %s: stored %v, want %v (input, output, cached, reasoning, cache creation, total)", name, got, want[name])
		}
	}
	_, ans = do(t, srv, "GET", "/stats/summary", nil)
	data := ans["data"].(map[string]any)
	if got := storedTotals(data); got != sum || data["total_requests"] != float64(requests) {
		t.Errorf("summary %v (%v requests), want %v (%d requests)", got, data["total_requests"], sum, requests)
	}
}

func TestUsageFieldRules(t *testing.T) {
	srv := newTestServer(t)
	gemini := `{"response":{"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":20,"thoughtsTokenCount":5,"cachedContentTokenCount":40}}}`
	// Explicit fields win over usage, field by field: input and cached from the explicit fields, the
	// rest from the usage.
	status, ans := do(t, srv, "POST", "/usage", []byte(`{"account_email":"a@x","model":"m1","input_tokens":70,"cached_tokens":0,"response":`+gemini+`}`))
	if status != 200 {
		t.Fatalf("%d %v", status, ans)
	}
	_, ans = do(t, srv, "GET", "/stats/summary", nil)
	if got := storedTotals(ans["data"].(map[string]any)); got != [6]int64{70, 25, 0, 5, 0, 95} {
		t.Errorf("explicit over usage: stored %v", got)
	}
	bad := []struct{ body, want string }{
		{`{"account_email":"a@x","model":"m","usage":{"prompt_tokens":1,"completion_tokens":1},"response":` + gemini + `}`, "usage: send either usage or response, not both"},
		{`{"account_email":"a@x","model":"m","input_tokens":1,"output_tokens":1,"provider":"openai"}`, "provider: only applies together with usage or response"},
		{`{"account_email":"a@x","model":"m","provider":"cohere","usage":{"prompt_tokens":1,"completion_tokens":1}}`, `provider: unknown provider "cohere"`},
		{`[{"account_email":"a@x","model":"m","input_tokens":1,"output_tokens":1},{"account_email":"a@x","model":"m","response":{"id":"x"}}]`, "record 1: response: no usage found"},
		{`{"account_email":"a@x","model":"m","usage":null}`, "input_tokens: is required (or send usage or response)"},
		{`{"account_email":"a@x","model":"m","input_tokens":-1,"usage":{"prompt_tokens":1,"completion_tokens":1}}`, "input_tokens: must not be negative"},
	}
	for _, b := range bad {
		status, ans := do(t, srv, "POST", "/usage", []byte(b.body))
		if msg, _ := ans["error"].(string); status != 400 || !strings.HasPrefix(msg, b.want) {
			t.Errorf("%s: %d %q, want 400 %q", b.body, status, msg, b.want)
		}
	}
	// An empty provider means "recognise the shape".
	if status, ans := do(t, srv, "POST", "/usage", []byte(`{"account_email":"a@x","model":"m","provider":"","usage":{"prompt_tokens":3,"completion_tokens":1}}`)); status != 200 {
		t.Errorf(`provider "": %d %v`, status, ans)
	}
	// Nothing from the refused batches was stored.
	_, ans = do(t, srv, "GET", "/stats/summary", nil)
	if n := ans["data"].(map[string]any)["total_requests"]; n != float64(2) {
		t.Errorf("requests after refusals = %v, want 2", n)
	}
}
