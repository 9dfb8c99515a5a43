package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// testPrices is a small price table in LiteLLM's format.
const testPrices = `{
 "fx-chat": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 2e-06,
   "output_cost_per_token": 8e-06, "cache_read_input_token_cost": 5e-07},
 "gemini/fx-pro": {"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 1.25e-06,
   "output_cost_per_token": 1e-05, "input_cost_per_token_above_200k_tokens": 2.5e-06,
   "output_cost_per_token_above_200k_tokens": 1.5e-05},
 "fx-tiny": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 1e-09, "output_cost_per_token": 0}
}`

// newPricedHarness is newHarness with a store priced by testPrices and a reload hook.
func newPricedHarness(t *testing.T, reload func(context.Context) error) *harness {
	t.Helper()
	snap, err := pricing.Parse(strings.NewReader(testPrices))
	if err != nil {
		t.Fatal(err)
	}
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "api.db"), stats.Options{Location: time.UTC,
		Prices: pricing.Builder(snap)})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, now: time.Date(2026, 1, 22, 16, 30, 0, 0, time.UTC)}
	h.srv = httptest.NewServer(New(Config{Store: store, Token: testToken, Version: "test",
		Now: func() time.Time { return h.now }, ReloadPrices: reload}))
	t.Cleanup(func() {
		h.srv.Close()
		store.Close()
	})
	return h
}

// raw sends a request with the token and returns the status and the body as sent.
func (h *harness) raw(method, path, body string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) waitRepriced() {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.store.Repricing().Running() {
		if time.Now().After(deadline) {
			h.t.Fatal("re-pricing never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMoneyInSummaryAndRows: the summary and every breakdown row carry the estimate as a JSON number
// exact to the nano-dollar, unpriced requests are counted and an unpriced row's estimate is null (never
// 0), and the tools' own cost appears beside ours where they gave one.
func TestMoneyInSummaryAndRows(t *testing.T) {
	h := newPricedHarness(t, nil)
	at := h.now.Add(-time.Hour)
	recs := []stats.Record{
		// 1,000 × $2 + 500 × $0.50 + 100 × $8 per million = $0.00305
		{Time: at, Account: "a@example.com", Model: "fx-chat", InputTokens: 1500, CachedTokens: 500, OutputTokens: 100,
			Source: "litellm", AgentCost: 3_100_000, HasAgentCost: true},
		// 7 tokens at $0.001 per million: 7 nano-dollars
		{Time: at, Account: "b@example.com", Model: "fx-tiny", InputTokens: 7, Credential: "key …a1b2"},
		{Time: at, Account: "b@example.com", Model: "local-llama", InputTokens: 10, OutputTokens: 10},
	}
	if _, err := h.store.Record(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	code, body := h.raw("GET", "/stats/summary", "")
	if code != 200 || !strings.Contains(body, `"estimated_cost_usd":0.003050007,"unpriced_requests":1,"agent_cost_usd":0.0031,"agent_cost_requests":1`) {
		t.Fatalf("summary %d %s", code, body)
	}
	type row struct {
		Name     string          `json:"model"`
		Account  string          `json:"account_email"`
		Source   string          `json:"source"`
		Cred     string          `json:"credential"`
		Cost     json.RawMessage `json:"estimated_cost_usd"`
		Unpriced int64           `json:"unpriced_requests"`
		Agent    json.RawMessage `json:"agent_cost_usd"`
	}
	rows := func(path string) map[string]row {
		t.Helper()
		_, body := h.raw("GET", path, "")
		var res struct{ Data []row }
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		out := map[string]row{}
		for _, r := range res.Data {
			out[r.Name+r.Account+r.Source+r.Cred] = r
		}
		return out
	}
	m := rows("/stats/by-model")
	if string(m["fx-chat"].Cost) != "0.00305" || string(m["fx-chat"].Agent) != "0.0031" ||
		string(m["fx-tiny"].Cost) != "0.000000007" || m["fx-tiny"].Agent != nil {
		t.Errorf("by-model %+v", m)
	}
	if string(m["local-llama"].Cost) != "null" || m["local-llama"].Unpriced != 1 {
		t.Errorf("the unpriced model: %+v, want a null estimate and 1 unpriced request", m["local-llama"])
	}
	a := rows("/stats/by-account")
	if string(a["b@example.com"].Cost) != "0.000000007" || a["b@example.com"].Unpriced != 1 {
		t.Errorf("by-account %+v: b has a priced and an unpriced request", a)
	}
	if s := rows("/stats/by-source"); string(s["litellm"].Cost) != "0.00305" || string(s[""].Cost) != "0.000000007" {
		t.Errorf("by-source %+v", s)
	}
	if c := rows("/stats/by-credential"); string(c["key …a1b2"].Cost) != "0.000000007" {
		t.Errorf("by-credential %+v", c)
	}
	// The cost trend in the same money.
	if _, body := h.raw("GET", "/stats/trend/model?hours=3&metric=cost", ""); !strings.Contains(body, `"fx-chat":0.00305,"fx-tiny":0.000000007`) {
		t.Errorf("cost trend %s", body)
	}
}

// TestPricesRoutes: GET /stats/prices says for every model seen which entry priced it and how; an
// override set with PUT wins (and re-prices history), bad ones are refused and change nothing, DELETE
// goes back to the snapshot.
func TestPricesRoutes(t *testing.T) {
	h := newPricedHarness(t, nil)
	at := h.now.Add(-2 * time.Hour)
	if _, err := h.store.Record(context.Background(),
		stats.Record{Time: at, Account: "a@example.com", Model: "models/fx-pro-thinking", InputTokens: 1000, OutputTokens: 100},
		stats.Record{Time: at, Account: "a@example.com", Model: "local-llama", InputTokens: 2000000, OutputTokens: 1000000},
	); err != nil {
		t.Fatal(err)
	}
	list := func() (map[string]map[string]any, map[string]any) {
		t.Helper()
		code, res := h.do("GET", "/stats/prices", "")
		if code != 200 {
			t.Fatalf("GET /stats/prices: %d %v", code, res)
		}
		out := map[string]map[string]any{}
		for _, d := range res["data"].([]any) {
			m := d.(map[string]any)
			out[m["model"].(string)] = m
		}
		return out, res
	}
	got, res := list()
	pro := got["models/fx-pro-thinking"]
	if pro["priced"] != true || pro["origin"] != "snapshot" || pro["entry"] != "gemini/fx-pro" || pro["match"] != "normalised" ||
		pro["input_per_mtok"] != 1.25 || pro["output_per_mtok"] != 10.0 || pro["cache_read_per_mtok"] != 1.25 {
		t.Errorf("models/fx-pro-thinking: %v", pro)
	}
	if tiers := pro["tiers"].([]any); len(tiers) != 1 || tiers[0].(map[string]any)["above_input_tokens"] != 200000.0 ||
		tiers[0].(map[string]any)["input_per_mtok"] != 2.5 {
		t.Errorf("tiers %v", pro["tiers"])
	}
	if l := got["local-llama"]; l["priced"] != false || l["origin"] != nil || l["input_per_mtok"] != nil {
		t.Errorf("local-llama: %v", l)
	}
	if snap := res["snapshot"].(map[string]any); snap["license"] != "MIT" || !strings.Contains(snap["license_text"].(string), "Berri") {
		t.Errorf("snapshot %v", snap)
	}

	// Refused: missing or bad prices, unknown fields, not JSON. Nothing changes.
	for _, body := range []string{`{"input_per_mtok": 1}`, `{"input_per_mtok": -1, "output_per_mtok": 1}`,
		`{"input_per_mtok": 1, "output_per_mtok": 2000000}`, `{"input_per_mtok": 1, "output_per_mtok": 1, "cache_reed_per_mtok": 1}`,
		`{"input_per_mtok": "1", "output_per_mtok": 1}`, `not json`, `{"input_per_mtok": 1e-12, "output_per_mtok": 1}`} {
		if code, res := h.do("PUT", "/stats/prices/local-llama", body); code != 400 || res["success"] != false {
			t.Errorf("PUT %s: %d %v, want 400", body, code, res)
		}
	}
	if ovs, _ := h.store.PriceOverrides(context.Background()); len(ovs) != 0 {
		t.Fatalf("refused overrides were stored: %+v", ovs)
	}

	// An override: $0.50 in, $1.25 out per million; its history is re-priced.
	code, res := h.do("PUT", "/stats/prices/local-llama", `{"input_per_mtok": 0.5, "output_per_mtok": 1.25}`)
	if d, _ := res["data"].(map[string]any); code != 200 || d["origin"] != "override" || d["entry"] != "local-llama" ||
		d["input_per_mtok"] != 0.5 || d["cache_write_per_mtok"] != 0.5 {
		t.Fatalf("PUT override: %d %v", code, res)
	}
	h.waitRepriced()
	_, body := h.raw("GET", "/stats/by-model", "")
	if !strings.Contains(body, `"model":"local-llama"`) || !strings.Contains(body, `"estimated_cost_usd":2.25,"unpriced_requests":0`) {
		t.Errorf("after the override, by-model %s: want local-llama at 2 × $0.50 + 1 × $1.25", body)
	}
	// A name with slashes, sent as it is or escaped.
	for _, path := range []string{"/stats/prices/models/fx-pro-thinking", "/stats/prices/models%2Ffx-pro-thinking"} {
		if code, res := h.do("PUT", path, `{"input_per_mtok": 1, "output_per_mtok": 2, "cache_read_per_mtok": 0.1}`); code != 200 ||
			res["data"].(map[string]any)["model"] != "models/fx-pro-thinking" {
			t.Errorf("PUT %s: %d %v", path, code, res)
		}
	}
	got, _ = list()
	if got["models/fx-pro-thinking"]["origin"] != "override" || got["models/fx-pro-thinking"]["cache_read_per_mtok"] != 0.1 {
		t.Errorf("after PUT: %v", got["models/fx-pro-thinking"])
	}
	if code, res := h.do("DELETE", "/stats/prices/local-llama", ""); code != 200 || res["data"].(map[string]any)["priced"] != false {
		t.Errorf("DELETE: %d %v", code, res)
	}
	if code, _ := h.do("DELETE", "/stats/prices/local-llama", ""); code != 404 {
		t.Errorf("DELETE again: %d, want 404", code)
	}
	h.waitRepriced()
	_, body = h.raw("GET", "/stats/by-model", "")
	if !strings.Contains(body, `"model":"local-llama"`) || !strings.Contains(body, `"estimated_cost_usd":null,"unpriced_requests":1`) {
		t.Errorf("after DELETE, by-model %s: local-llama is unpriced again", body)
	}
	if code, _ := h.do("POST", "/stats/prices/local-llama", `{}`); code != 405 {
		t.Errorf("POST on a price: %d, want 405", code)
	}
}

// TestReloadPrices: POST /app/reload-prices calls the app's hook; without one it answers 404, and a
// refused file is a 400.
func TestReloadPrices(t *testing.T) {
	if code, _ := newHarness(t).do("POST", "/app/reload-prices", ""); code != 404 {
		t.Errorf("without a hook: %d, want 404", code)
	}
	calls := 0
	fail := false
	h := newPricedHarness(t, func(context.Context) error {
		calls++
		if fail {
			return errors.New("not a LiteLLM price file")
		}
		return nil
	})
	if code, res := h.do("POST", "/app/reload-prices", ""); code != 200 || calls != 1 || res["repricing"] == nil {
		t.Errorf("reload: %d %v (%d calls)", code, res, calls)
	}
	fail = true
	if code, res := h.do("POST", "/app/reload-prices", ""); code != 400 || !strings.Contains(res["error"].(string), "LiteLLM") {
		t.Errorf("bad file: %d %v", code, res)
	}
}

// TestLimitsRoutes: the example limit is stored and answered with its id, used amount, percent
// and reset time (midnight Pacific); limits are listed, read, replaced and removed; bad ones are refused
// with the field named; cost limits are in dollars.
func TestLimitsRoutes(t *testing.T) {
	h := newPricedHarness(t, nil)
	// 16:30 UTC is 08:30 in Los Angeles: its day started at 08:00 UTC.
	if _, err := h.store.Record(context.Background(),
		stats.Record{Time: h.now.Add(-20 * time.Minute), Account: "a@example.com", Model: "fx-chat", InputTokens: 800000, OutputTokens: 20000},
		stats.Record{Time: h.now.Add(-9 * time.Hour), Account: "a@example.com", Model: "fx-chat", InputTokens: 500000},
	); err != nil {
		t.Fatal(err)
	}
	code, res := h.do("POST", "/stats/limits", `{"scope": "account", "name": "a@example.com", "metric": "tokens",
		"period": "day", "zone": "America/Los_Angeles", "limit": 1000000, "thresholds": [80, 100]}`)
	if code != 201 {
		t.Fatalf("POST: %d %v", code, res)
	}
	d := res["data"].(map[string]any)
	want := map[string]any{"id": d["id"], "scope": "account", "name": "a@example.com", "metric": "tokens", "period": "day",
		"zone": "America/Los_Angeles", "limit": 1e6, "thresholds": []any{80.0, 100.0}, "webhook": "", "used": 820000.0,
		"percent": 82.0, "state": "warning", "period_start": "2026-01-22T00:00:00-08:00", "resets_at": "2026-01-23T00:00:00-08:00"}
	if !reflect.DeepEqual(d, want) || d["id"].(float64) < 1 {
		t.Fatalf("POST answered %v\nwant %v", d, want)
	}
	id := "/stats/limits/" + strings.TrimSuffix(strings.TrimSuffix(jsonText(d["id"]), ".0"), "\n")
	code, res = h.do("POST", "/stats/limits", `{"scope": "model", "name": "fx-chat", "metric": "cost", "period": "month", "limit": 1.5}`)
	cost := res["data"].(map[string]any)
	// 1,300,000 × $2 + 20,000 × $8 per million = $2.76 of $1.50
	if code != 201 || cost["limit"] != 1.5 || cost["used"] != 2.76 || cost["percent"] != 100.0 || cost["state"] != "reached" ||
		cost["zone"] != "UTC" || cost["unpriced_requests"] != 0.0 || cost["resets_at"] != "2026-02-01T00:00:00Z" {
		t.Fatalf("cost limit: %d %v", code, res)
	}
	_, res = h.do("GET", "/stats/limits", "")
	if list := res["data"].([]any); len(list) != 2 {
		t.Fatalf("GET list %v", res)
	}
	code, res = h.do("PUT", id, `{"scope": "all", "metric": "requests", "period": "week", "limit": 4, "thresholds": [50],
		"webhook": "https://hooks.example.com/x"}`)
	if d := res["data"].(map[string]any); code != 200 || d["used"] != 2.0 || d["percent"] != 50.0 || d["state"] != "warning" ||
		d["webhook"] != "https://hooks.example.com/x" || d["period_start"] != "2026-01-19T00:00:00Z" {
		t.Fatalf("PUT: %d %v", code, res)
	}
	if code, res := h.do("GET", id, ""); code != 200 || res["data"].(map[string]any)["metric"] != "requests" {
		t.Errorf("GET one: %d %v", code, res)
	}
	for _, c := range []struct{ body, field string }{
		{`{"scope": "team", "name": "x", "metric": "tokens", "period": "day", "limit": 5}`, "scope"},
		{`{"scope": "all", "metric": "money", "period": "day", "limit": 5}`, "metric"},
		{`{"scope": "all", "metric": "tokens", "period": "year", "limit": 5}`, "period"},
		{`{"scope": "all", "metric": "tokens", "period": "day", "limit": 5.5}`, "limit"},
		{`{"scope": "all", "metric": "tokens", "period": "day"}`, "limit"},
		{`{"scope": "all", "metric": "tokens", "period": "day", "limit": 5, "zone": "Pacific"}`, "zone"},
		{`{"scope": "all", "metric": "tokens", "period": "day", "limit": 5, "thresholds": [0]}`, "thresholds"},
		{`{"scope": "all", "metric": "tokens", "period": "day", "limit": 5, "webhook": "file:///etc/passwd"}`, "webhook"},
		{`{"scope": "all", "metric": "tokens", "period": "day", "limit": 5, "colour": "red"}`, "colour"},
	} {
		if code, res := h.do("POST", "/stats/limits", c.body); code != 400 || !strings.Contains(res["error"].(string), c.field) {
			t.Errorf("POST %s: %d %v, want 400 about %s", c.body, code, res, c.field)
		}
	}
	if code, _ := h.do("PUT", "/stats/limits/999", `{"scope": "all", "metric": "tokens", "period": "day", "limit": 5}`); code != 404 {
		t.Errorf("PUT a missing limit: %d", code)
	}
	if code, _ := h.do("GET", "/stats/limits/abc", ""); code != 400 {
		t.Errorf("GET /stats/limits/abc: %d", code)
	}
	if code, _ := h.do("DELETE", id, ""); code != 200 {
		t.Errorf("DELETE: %d", code)
	}
	if code, _ := h.do("GET", id, ""); code != 404 {
		t.Errorf("GET after DELETE: %d", code)
	}
	if _, res = h.do("GET", "/stats/limits", ""); len(res["data"].([]any)) != 1 {
		t.Errorf("list after DELETE: %v", res)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
