package localapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/localapi/passthrough"
	"github.com/tokenstats/tokenstats/stats"
)

const chatAnswer = `{"id":"chatcmpl-7","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[],` +
	`"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306}}`

// fakeOpenAI answers chat completions, and 401 to the key "sk-bad".
func fakeOpenAI(t *testing.T) (*httptest.Server, *int) {
	hits := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*hits++
		if r.Header.Get("Authorization") == "Bearer sk-bad" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"invalid_api_key"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, chatAnswer)
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

// newProxyHarness is the harness with the openai upstream pointed at url.
func newProxyHarness(t *testing.T, url string) *harness {
	t.Helper()
	h := &harness{t: t, now: time.Date(2026, 1, 22, 16, 30, 0, 0, time.UTC)}
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "api.db"), stats.Options{Location: time.UTC,
		Now: func() time.Time { return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	h.store = store
	api := New(Config{Store: store, Token: testToken, Version: "test", Now: func() time.Time { return h.now },
		Upstreams: passthrough.Merge(passthrough.Builtins(), []passthrough.Upstream{{Name: "openai", URL: url}})})
	h.srv = httptest.NewServer(api)
	t.Cleanup(func() {
		h.srv.Close()
		api.Wait()
		store.Close()
	})
	return h
}

// send sends a request without Token Stats' token and returns the answer.
func (h *harness) send(method, path, body string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// changed waits for the store's next commit.
func changed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing was committed")
	}
}

// The pass-through needs no Token Stats token, answers exactly as the upstream did, and still passes
// the Host check; a foreign Origin and an absolute request line naming another host are refused.
func TestProxyOnTheListener(t *testing.T) {
	up, hits := fakeOpenAI(t)
	h := newProxyHarness(t, up.URL)
	resp, body := h.send("POST", "/proxy/openai/v1/chat/completions", `{"model":"gpt-4o"}`, "Authorization", "Bearer sk-good")
	if resp.StatusCode != 200 || body != chatAnswer {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, k := range []string{"Cache-Control", "X-Content-Type-Options", "Www-Authenticate"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("the listener added %s: %s to the upstream's answer", k, v)
		}
	}
	for _, c := range []struct {
		hdr  []string
		want int
	}{
		{[]string{"Host", "evil.example"}, 403}, {[]string{"Host", "127.0.0.1.nip.io:8788"}, 403},
		{[]string{"Origin", "https://evil.example"}, 403},
	} {
		if resp, body := h.send("POST", "/proxy/openai/v1/chat/completions", "{}", c.hdr...); resp.StatusCode != c.want ||
			!strings.Contains(body, `"success":false`) {
			t.Errorf("%v: %d %s", c.hdr, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/proxy", "/proxy/", "/proxy/nope/v1/models"} {
		if resp, body := h.send("GET", path, ""); resp.StatusCode != 404 || !strings.Contains(body, "openai") {
			t.Errorf("%s: %d %s, want 404 naming the upstreams", path, resp.StatusCode, body)
		}
	}
	// A proxy-style request line: the Host check reads the host it names.
	addr := strings.TrimPrefix(h.srv.URL, "http://")
	for target, want := range map[string]int{
		"http://evil.example/proxy/openai/v1/chat/completions": 403,
		"http://" + addr + "/proxy/openai/v1/chat/completions": 200,
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", target, strings.Split(strings.TrimPrefix(target, "http://"), "/")[0])
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != want {
			t.Errorf("request line %s: %v %v, want %d", target, resp, err, want)
		}
	}
	if *hits != 2 {
		t.Fatalf("the upstream was reached %d times, want the 2 allowed requests", *hits)
	}
	// The rest of the listener still wants its token.
	if resp, _ := h.send("GET", "/stats/sources", ""); resp.StatusCode != 401 {
		t.Fatalf("/stats/sources without the token: %d", resp.StatusCode)
	}
}

// /stats/sources lists each source as soon as its first record is committed: kind, first and last
// record, records and tokens today, and the last error.
func TestSourcesRoute(t *testing.T) {
	up, _ := fakeOpenAI(t)
	h := newProxyHarness(t, up.URL)
	ch, stop := h.store.Changes()
	defer stop()
	if code, res := h.do("GET", "/stats/sources", ""); code != 200 || len(res["data"].([]any)) != 0 {
		t.Fatalf("empty store: %d %v", code, res)
	}
	h.send("POST", "/proxy/openai/v1/chat/completions", `{"model":"gpt-4o"}`, "Authorization", "Bearer sk-good")
	changed(t, ch)
	_, res := h.do("GET", "/stats/sources", "")
	list := res["data"].([]any)
	if len(list) != 1 || res["today_from"] != "2026-01-22T00:00:00Z" {
		t.Fatalf("after one proxied request: %v", res)
	}
	src := list[0].(map[string]any)
	want := map[string]any{"name": "openai", "kind": "proxy", "first": "2026-01-22T16:30:00Z", "last": "2026-01-22T16:30:00Z",
		"records_today": 1.0, "tokens_today": 2306.0, "error": "", "error_at": nil, "ignored": 0.0, "note": ""}
	for k, v := range want {
		if src[k] != v {
			t.Errorf("%s = %v, want %v", k, src[k], v)
		}
	}
	if today := src["today"].(map[string]any); today["total_input_tokens"] != 2006.0 || today["total_output_tokens"] != 300.0 {
		t.Errorf("today %v", today)
	}

	// An upstream's refusal is the source's last error.
	h.send("POST", "/proxy/openai/v1/chat/completions", `{}`, "Authorization", "Bearer sk-bad")
	changed(t, ch)
	// A source posting yesterday and one posting today.
	code, _ := h.do("POST", "/usage", `[{"account_email":"a","model":"m","input_tokens":5,"output_tokens":5,"source":"old-tool","timestamp":"2026-01-21T23:59:59Z"},
		{"account_email":"a","model":"m","input_tokens":1,"output_tokens":2,"source":"gcli2api","timestamp":"2026-01-22T00:00:00Z"}]`)
	if code != 200 {
		t.Fatal(code)
	}
	_, res = h.do("GET", "/stats/sources", "")
	by := map[string]map[string]any{}
	for _, s := range res["data"].([]any) {
		m := s.(map[string]any)
		by[m["name"].(string)] = m
	}
	if e := by["openai"]; !strings.Contains(e["error"].(string), "answered 401") || e["error_at"] != "2026-01-22T16:30:00Z" ||
		strings.Contains(e["error"].(string), "sk-bad") || e["records_today"] != 1.0 {
		t.Errorf("openai after a 401: %v", e)
	}
	if e := by["old-tool"]; e["kind"] != "post" || e["records_today"] != 0.0 || e["last"] != "2026-01-21T23:59:59Z" {
		t.Errorf("yesterday's source: %v", e)
	}
	if e := by["gcli2api"]; e["records_today"] != 1.0 || e["tokens_today"] != 3.0 {
		t.Errorf("a record stamped at midnight counts as today: %v", e)
	}
}

// A stream through the pass-through outlives the listener's ReadTimeout, which would otherwise cancel
// the request.
func TestProxyStreamOutlivesReadTimeout(t *testing.T) {
	const first, rest = "data: {\"choices\":[],\"usage\":null}\n\n", "data: {\"model\":\"m\",\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6}}\n\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, first)
		w.(http.Flusher).Flush()
		time.Sleep(time.Second) // longer than the listener's ReadTimeout below
		io.WriteString(w, rest)
	}))
	defer up.Close()
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "rt.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	api := New(Config{Store: store, Token: testToken, Upstreams: []passthrough.Upstream{{Name: "openai", URL: up.URL}}})
	srv := httptest.NewUnstartedServer(api)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	ch, stop := store.Changes()
	defer stop()
	resp, err := http.Post(srv.URL+"/proxy/openai/v1/chat/completions", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != first+rest {
		t.Fatalf("stream cut: %q %v", b, err)
	}
	changed(t, ch)
	sum, err := store.Summary(context.Background(), stats.LastHours(time.Now(), 1), stats.Filter{})
	if err != nil || sum.TotalTokens() != 10 {
		t.Fatalf("recorded %v %v", sum.Totals, err)
	}
}
