package localapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

const testToken = "test-token-0123456789"

type harness struct {
	t     *testing.T
	srv   *httptest.Server
	store *stats.Store
	now   time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "api.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, now: time.Date(2026, 1, 22, 16, 30, 0, 0, time.UTC)}
	h.srv = httptest.NewServer(New(Config{Store: store, Token: testToken, Version: "test",
		Now: func() time.Time { return h.now }}))
	t.Cleanup(func() {
		h.srv.Close()
		store.Close()
	})
	return h
}

// do sends a request with the token and returns the status and decoded JSON body.
func (h *harness) do(method, path, body string, hdr ...string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		h.t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		h.t.Fatalf("%s %s: body is not a JSON object: %s", method, path, raw)
	}
	return resp.StatusCode, m
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func TestAuth(t *testing.T) {
	h := newHarness(t)
	routes := []struct{ method, path string }{
		{"POST", "/usage"}, {"GET", "/stats/summary"}, {"GET", "/stats/by-model"}, {"GET", "/stats/by-account"},
		{"GET", "/stats/trend/model"}, {"GET", "/stats/trend/account"}, {"DELETE", "/stats/clear"},
		{"GET", "/stats/db-info"}, {"GET", "/nope"},
	}
	for _, r := range routes {
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, testToken} {
			code, body := h.do(r.method, r.path, "", "Authorization", auth)
			if code != http.StatusUnauthorized || body["success"] != false {
				t.Errorf("%s %s with Authorization %q: %d %v", r.method, r.path, auth, code, body)
			}
		}
	}
	code, body := h.do("GET", "/healthz", "", "Authorization", "")
	if code != 200 || body["status"] != "ok" || body["version"] != "test" {
		t.Errorf("healthz: %d %v", code, body)
	}
	if code, _ := h.do("GET", "/stats/summary", "", "Authorization", "bearer "+testToken); code != 200 {
		t.Errorf("the scheme name is case-insensitive (RFC 7235): %d", code)
	}
}

func TestHostCheck(t *testing.T) {
	h := newHarness(t)
	for host, want := range map[string]int{
		"localhost:8788": 200, "127.0.0.1:8788": 200, "127.8.9.1": 200, "[::1]:8788": 200, "LOCALHOST": 200,
		"evil.example:8788": 403, "evil.example": 403, "192.168.1.5:8788": 403, "localhost.evil.example": 403,
		"127.0.0.1.nip.io": 403,
	} {
		req, _ := http.NewRequest("GET", h.srv.URL+"/healthz", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

func TestNoCORS(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest("GET", h.srv.URL+"/stats/summary", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("CORS header %s granted to a foreign origin", k)
		}
	}
}

func TestIngestAndShapes(t *testing.T) {
	h := newHarness(t)
	ts := h.now.Add(-30 * time.Minute).Unix()
	body := fmt.Sprintf(`[
	 {"account_email":"a@example.com","model":"gemini-2.5-pro","input_tokens":1000,"output_tokens":200,
	  "cached_tokens":300,"reasoning_tokens":50,"cache_creation_tokens":7,"timestamp":%d,"request_id":"r1",
	  "credential_file":"a.json","is_antigravity":false,"source":"gcli2api"},
	 {"account_email":"b@example.com","model":"claude-sonnet","input_tokens":10,"output_tokens":5,
	  "timestamp":"2026-01-22T15:00:00Z"},
	 {"account_email":"a@example.com","model":"claude-sonnet","input_tokens":1,"output_tokens":1,"total_tokens":999}
	]`, ts)
	code, res := h.do("POST", "/usage", body)
	if code != 200 || !reflect.DeepEqual(res, map[string]any{"success": true, "accepted": 3.0, "duplicates": 0.0}) {
		t.Fatalf("ingest: %d %v", code, res)
	}
	code, res = h.do("POST", "/usage", `{"account_email":"a@example.com","model":"x","input_tokens":1,"output_tokens":1,"request_id":"r1"}`)
	if code != 200 || res["accepted"] != 0.0 || res["duplicates"] != 1.0 {
		t.Fatalf("retry of r1: %d %v", code, res)
	}

	code, sum := h.do("GET", "/stats/summary?hours=24", "")
	if code != 200 || sum["success"] != true || sum["hours"] != 24.0 {
		t.Fatalf("summary: %d %v", code, sum)
	}
	data := sum["data"].(map[string]any)
	want := map[string]any{"total_input_tokens": 1011.0, "total_output_tokens": 206.0, "total_tokens": 1217.0,
		"total_requests": 3.0, "unique_accounts": 2.0, "unique_models": 2.0, "total_cached_tokens": 300.0,
		"total_reasoning_tokens": 50.0, "total_cache_creation_tokens": 7.0,
		"estimated_cost_usd": nil, "unpriced_requests": 3.0} // the harness prices nothing
	if !reflect.DeepEqual(data, want) {
		t.Fatalf("summary data %v\nwant %v", data, want)
	}

	_, bm := h.do("GET", "/stats/by-model", "")
	rows := bm["data"].([]any)
	first := rows[0].(map[string]any)
	if len(rows) != 2 || first["model"] != "gemini-2.5-pro" || first["total_tokens"] != 1200.0 || first["request_count"] != 1.0 {
		t.Fatalf("by-model %v", bm)
	}
	wantKeys := []string{"estimated_cost_usd", "model", "request_count", "total_cache_creation_tokens", "total_cached_tokens",
		"total_input_tokens", "total_output_tokens", "total_reasoning_tokens", "total_tokens", "unpriced_requests"}
	if got := keys(first); !reflect.DeepEqual(got, wantKeys) {
		t.Fatalf("by-model row keys %v", got)
	}
	_, ba := h.do("GET", "/stats/by-account", "")
	arow := ba["data"].([]any)[0].(map[string]any)
	if arow["account_email"] != "a@example.com" || arow["total_tokens"] != 1202.0 || arow["request_count"] != 2.0 {
		t.Fatalf("by-account %v", ba)
	}

	_, tr := h.do("GET", "/stats/trend/model?hours=3&granularity=hourly", "")
	if tr["granularity"] != "hourly" {
		t.Fatalf("trend %v", tr)
	}
	pts := tr["data"].([]any)
	var labels []string
	var total float64
	for _, p := range pts {
		pm := p.(map[string]any)
		labels = append(labels, pm["period"].(string))
		for _, v := range pm["data"].(map[string]any) {
			total += v.(float64)
		}
	}
	if strings.Join(labels, ",") != "2026-01-22 13:00,2026-01-22 14:00,2026-01-22 15:00,2026-01-22 16:00" || total != 1217 {
		t.Fatalf("hourly trend periods %v total %v", labels, total)
	}
	_, td := h.do("GET", "/stats/trend/account?hours=48&granularity=daily", "")
	if td["granularity"] != "daily" || len(td["data"].([]any)) != 3 {
		t.Fatalf("daily trend %v", td)
	}
	_, info := h.do("GET", "/stats/db-info", "")
	if info["success"] != true || info["db_size_bytes"].(float64) <= 0 || info["records"] != 3.0 {
		t.Fatalf("db-info %v", info)
	}
	if _, ok := info["db_size_mb"].(float64); !ok {
		t.Fatalf("db_size_mb missing: %v", info)
	}
}

func TestClearRoute(t *testing.T) {
	h := newHarness(t)
	body := fmt.Sprintf(`[{"account_email":"a","model":"m","input_tokens":1,"output_tokens":0,"timestamp":%d},
		{"account_email":"a","model":"m","input_tokens":2,"output_tokens":0,"timestamp":%d},
		{"account_email":"a","model":"m","input_tokens":4,"output_tokens":0,"timestamp":%d}]`,
		h.now.Add(-5*time.Hour).Unix(), h.now.Add(-2*time.Hour).Unix(), h.now.Add(-2*time.Hour+time.Second).Unix())
	if code, _ := h.do("POST", "/usage", body); code != 200 {
		t.Fatal(code)
	}
	// before_hours=2 removes the records at or before now−2h: exactly the first two.
	code, res := h.do("DELETE", "/stats/clear?before_hours=2", "")
	if code != 200 || res["deleted"] != 2.0 || !strings.Contains(res["message"].(string), "2") {
		t.Fatalf("clear: %d %v", code, res)
	}
	_, sum := h.do("GET", "/stats/summary?hours=100", "")
	if d := sum["data"].(map[string]any); d["total_input_tokens"] != 4.0 || d["total_requests"] != 1.0 {
		t.Fatalf("after clear %v", sum)
	}
	for _, bad := range []string{"-1", "abc", "1.5", "99999999999"} {
		if code, res := h.do("DELETE", "/stats/clear?before_hours="+bad, ""); code != 400 || res["success"] != false {
			t.Errorf("before_hours=%s: %d %v", bad, code, res)
		}
	}
	code, res = h.do("DELETE", "/stats/clear", "")
	if code != 200 || res["deleted"] != 1.0 {
		t.Fatalf("clear all: %d %v", code, res)
	}
}

func TestQueryParameterErrors(t *testing.T) {
	h := newHarness(t)
	for _, q := range []string{"hours=0", "hours=-1", "hours=87601", "hours=abc", "hours=1.5", "hours=+5", "hours=%20"} {
		for _, p := range []string{"/stats/summary", "/stats/by-model", "/stats/by-account", "/stats/trend/model"} {
			code, res := h.do("GET", p+"?"+q, "")
			if code != 400 || !strings.Contains(res["error"].(string), "hours") {
				t.Errorf("%s?%s: %d %v", p, q, code, res)
			}
		}
	}
	code, res := h.do("GET", "/stats/trend/model?granularity=weekly", "")
	if code != 400 || !strings.Contains(res["error"].(string), "granularity") {
		t.Errorf("granularity=weekly: %d %v", code, res)
	}
	code, res = h.do("GET", "/stats/trend/account?hours=745&granularity=hourly", "")
	if code != 400 || !strings.Contains(res["error"].(string), "daily") {
		t.Errorf("hourly over 744 h: %d %v", code, res)
	}
	if code, _ := h.do("GET", "/stats/trend/account?hours=8760&granularity=daily", ""); code != 200 {
		t.Errorf("daily over a year: %d", code)
	}
}

func TestMethodsAndRoutes(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/usage", "POST"}, {"POST", "/stats/summary", "GET"}, {"GET", "/stats/clear", "DELETE"},
		{"PUT", "/stats/db-info", "GET"},
	} {
		code, res := h.do(c.method, c.path, "")
		if code != 405 || !strings.Contains(res["error"].(string), c.allow) {
			t.Errorf("%s %s: %d %v", c.method, c.path, code, res)
		}
	}
	if code, _ := h.do("GET", "/stats/nothing", ""); code != 404 {
		t.Errorf("unknown route: %d", code)
	}
}
