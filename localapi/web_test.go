package localapi

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// webHarness is a Server over a real store, with a clock the test sets.
type webHarness struct {
	*harness
	api *Server
}

func newWebHarness(t *testing.T) *webHarness {
	t.Helper()
	return openWebHarness(t, time.Now().Truncate(time.Second), stats.Options{}, nil)
}

// openWebHarness is a Server at the time now, over a store opened with opt (in UTC), with cfg applied to
// its config.
func openWebHarness(t *testing.T, now time.Time, opt stats.Options, cfg func(*Config)) *webHarness {
	t.Helper()
	opt.Location = time.UTC
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "web.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, now: now}
	c := Config{Store: store, Token: testToken, Version: "test", Now: func() time.Time { return h.now }}
	if cfg != nil {
		cfg(&c)
	}
	api := New(c)
	h.srv = httptest.NewServer(api)
	t.Cleanup(func() {
		api.Shutdown()
		h.srv.Close()
		store.Close()
	})
	return &webHarness{h, api}
}

// raw sends a request without the token and returns the response (body read into a string).
func (h *webHarness) raw(method, path string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login follows the token link and returns the session cookie header value.
func (h *webHarness) login() string {
	h.t.Helper()
	resp, _ := h.raw("GET", "/?token="+url.QueryEscape(testToken))
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("token link: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			return c.Name + "=" + c.Value
		}
	}
	h.t.Fatal("token link set no session cookie")
	return ""
}

func (h *webHarness) seed() {
	h.t.Helper()
	_, err := h.store.Record(context.Background(),
		stats.Record{Time: h.now.Add(-time.Hour), Account: "alice@example.com", Model: "gemini-2.5-pro", InputTokens: 123457, OutputTokens: 1},
		stats.Record{Time: h.now.Add(-100 * time.Hour), Account: "bob@example.com", Model: "<img src=x onerror=alert(1)>", InputTokens: 5, OutputTokens: 5})
	if err != nil {
		h.t.Fatal(err)
	}
}

func TestTokenLinkSetsCookieAndDropsToken(t *testing.T) {
	h := newWebHarness(t)
	resp, _ := h.raw("GET", "/?token="+testToken)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("token link: %d Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == SessionCookie {
			c = k
		}
	}
	if c == nil {
		t.Fatal("no session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) < 32 || strings.Contains(c.Value, testToken) {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, a long random value that is not the token", c)
	}
	raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(raw, attr) {
			t.Errorf("Set-Cookie %q lacks %s", raw, attr)
		}
	}
	// A second login gets another id.
	if other := h.login(); other == SessionCookie+"="+c.Value {
		t.Error("two logins got the same session id")
	}

	// With the cookie, / is the tab and the API answers reads.
	cookie := SessionCookie + "=" + c.Value
	resp, body := h.raw("GET", "/", "Cookie", cookie)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="card-total"`) || !strings.Contains(body, `src="/app.js"`) {
		t.Errorf("GET / with a session: %d, the tab missing:\n%.300s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") && strings.Contains(csp, "script-src 'unsafe-inline'") {
		t.Errorf("page CSP %q", csp)
	}
	h.seed()
	resp, body = h.raw("GET", "/stats/summary?hours=24", "Cookie", cookie)
	if resp.StatusCode != 200 || !strings.Contains(body, `"total_tokens":123458`) {
		t.Errorf("summary with the cookie: %d %s", resp.StatusCode, body)
	}
}

func TestWithoutSessionOnlyTheForm(t *testing.T) {
	h := newWebHarness(t)
	h.seed()
	for _, c := range []struct {
		path, cookie string
		status       int
		wantError    bool
	}{
		{"/", "", 200, false},
		{"/?token=wrong", "", 401, true},
		{"/?token=", "", 401, true},
		{"/?token=" + testToken + "x", "", 401, true},
		{"/", SessionCookie + "=forged-session-id", 200, false},
		{"/", SessionCookie + "=" + testToken, 200, false}, // the token is not a session id
	} {
		resp, body := h.raw("GET", c.path, "Cookie", c.cookie)
		if resp.StatusCode != c.status {
			t.Errorf("GET %s (cookie %q): %d, want %d", c.path, c.cookie, resp.StatusCode, c.status)
		}
		if !strings.Contains(body, `id="login-form"`) || !strings.Contains(body, `name="token"`) {
			t.Errorf("GET %s: no token form:\n%.300s", c.path, body)
		}
		if strings.Contains(body, "card-total") || strings.Contains(body, "123") || strings.Contains(body, "gemini") {
			t.Errorf("GET %s without a session shows statistics:\n%s", c.path, body)
		}
		if got := strings.Contains(body, `id="login-error"`); got != c.wantError {
			t.Errorf("GET %s: error shown %v, want %v", c.path, got, c.wantError)
		}
		for _, k := range resp.Cookies() {
			if k.Name == SessionCookie {
				t.Errorf("GET %s set a session cookie", c.path)
			}
		}
		resp, _ = h.raw("GET", "/stats/summary", "Cookie", c.cookie)
		if resp.StatusCode != 401 {
			t.Errorf("summary with cookie %q: %d, want 401", c.cookie, resp.StatusCode)
		}
	}
	// The script and style are public (they hold no data); the API and charts are not.
	for path, want := range map[string]int{"/app.js": 200, "/app.css": 200, "/stats/events": 401,
		"/stats/chart/model.svg": 401, "/stats/by-model": 401} {
		if resp, _ := h.raw("GET", path); resp.StatusCode != want {
			t.Errorf("GET %s without login: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestNewTokenEndsSessions(t *testing.T) {
	h := newWebHarness(t)
	cookie := h.login()
	if resp, _ := h.raw("GET", "/stats/summary", "Cookie", cookie); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	h.api.SetToken("another-token-0123456789")
	if resp, _ := h.raw("GET", "/stats/summary", "Cookie", cookie); resp.StatusCode != 401 {
		t.Errorf("a session survived a new token: %d", resp.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	h := newWebHarness(t)
	cookie := h.login()
	h.now = h.now.Add(SessionLifetime + time.Second)
	if resp, _ := h.raw("GET", "/stats/summary", "Cookie", cookie); resp.StatusCode != 401 {
		t.Errorf("an expired session still reads: %d", resp.StatusCode)
	}
}

func TestCookieWritesNeedOwnPage(t *testing.T) {
	h := newWebHarness(t)
	cookie := h.login()
	own := h.srv.URL // http://127.0.0.1:port, which is also the Host the client sends
	for _, c := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"cookie only", []string{"Cookie", cookie}, 403},
		{"cookie + header, no Origin", []string{"Cookie", cookie, PageHeader, "1"}, 403},
		{"cookie + Origin, no header", []string{"Cookie", cookie, "Origin", own}, 403},
		{"cookie + header + foreign Origin", []string{"Cookie", cookie, PageHeader, "1", "Origin", "https://evil.example"}, 403},
		{"cookie + header + null Origin", []string{"Cookie", cookie, PageHeader, "1", "Origin", "null"}, 403},
		{"cookie + header + other port", []string{"Cookie", cookie, PageHeader, "1", "Origin", "http://127.0.0.1:1"}, 403},
		{"cookie + wrong header value", []string{"Cookie", cookie, PageHeader, "yes", "Origin", own}, 403},
		{"no cookie, header + Origin", []string{PageHeader, "1", "Origin", own}, 401},
		{"cookie + header + own Origin", []string{"Cookie", cookie, PageHeader, "1", "Origin", own}, 200},
	} {
		h.seed()
		resp, body := h.raw("DELETE", "/stats/clear", c.hdr...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.status)
		}
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s: CORS header %s", c.name, k)
			}
		}
		inf, err := h.store.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cleared := inf.Records == 0; cleared != (c.status == 200) {
			t.Errorf("%s: %d records left after status %d", c.name, inf.Records, resp.StatusCode)
		}
	}
	// Ingest never takes the cookie, even with the page's marks.
	req, _ := http.NewRequest("POST", h.srv.URL+"/usage", strings.NewReader(`{"model":"m","input_tokens":1}`))
	req.Header.Set("Cookie", cookie)
	req.Header.Set(PageHeader, "1")
	req.Header.Set("Origin", own)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("POST /usage with only the cookie: %d, want 401", resp.StatusCode)
	}
	// The cookie makes no other change, whatever the route or method.
	for _, c := range []struct{ method, path string }{{"PUT", "/stats/clear"}, {"POST", "/stats/summary"},
		{"DELETE", "/stats/db-info"}, {"PATCH", "/"}, {"POST", "/stats/limits"}, {"PUT", "/stats/prices/m"},
		{"DELETE", "/stats/limits/1"}, {"POST", "/app/reload-prices"}} {
		if resp, body := h.raw(c.method, c.path, "Cookie", cookie, PageHeader, "1", "Origin", own); resp.StatusCode != 401 && resp.StatusCode != 405 {
			t.Errorf("%s %s with the cookie and page marks: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
	// The Bearer token still clears without any page marks (API clients are not browsers).
	if code, _ := h.do("DELETE", "/stats/clear", ""); code != 200 {
		t.Errorf("DELETE with the Bearer token: %d", code)
	}
}

func TestPreflightAndForeignOriginsGetNoCORS(t *testing.T) {
	h := newWebHarness(t)
	cookie := h.login()
	for _, c := range []struct{ method, path string }{
		{"OPTIONS", "/stats/clear"}, {"OPTIONS", "/usage"}, {"GET", "/stats/summary"}, {"GET", "/"},
		{"GET", "/stats/chart/model.svg"}, {"DELETE", "/stats/clear"},
	} {
		resp, _ := h.raw(c.method, c.path, "Cookie", cookie, "Origin", "https://evil.example",
			"Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", PageHeader)
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s %s: CORS header %s: %q", c.method, c.path, k, resp.Header.Get(k))
			}
		}
		if c.method == "OPTIONS" && resp.StatusCode < 400 {
			t.Errorf("preflight %s answered %d", c.path, resp.StatusCode)
		}
	}
}

func TestStaticAssets(t *testing.T) {
	h := newWebHarness(t)
	total := 0
	for path, ctype := range map[string]string{"/app.js": "text/javascript", "/app.css": "text/css"} {
		resp, body := h.raw("GET", path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 500 {
			t.Errorf("GET %s: %d %q %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "@import") {
			t.Errorf("%s refers to an outside resource", path)
		}
		total += len(body)
	}
	resp, page := h.raw("GET", "/", "Cookie", h.login())
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	total += len(page)
	if strings.Contains(page, "innerHTML") {
		t.Error("the page uses innerHTML")
	}
	if total > 100<<10 {
		t.Errorf("the tab is %d bytes, over 100 KB", total)
	}
	_, js := h.raw("GET", "/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// The tab's chart is exactly what package chart draws for the range by its policy — the same trend and
// series the window draws (ui's test checks the window's side) — byte for byte.
func TestChartRoutes(t *testing.T) {
	h := newWebHarness(t)
	h.seed()
	cookie := h.login()
	for _, c := range []struct {
		path          string
		dim           stats.Dimension
		hours         int
		width, height int
		dark          bool
	}{
		{"/stats/chart/model.svg?hours=24", stats.ByModel, 24, 800, 300, false},
		{"/stats/chart/account.svg?hours=72&width=375&height=220&dark=1", stats.ByAccount, 72, 375, 220, true},
		{"/stats/chart/model.svg?hours=73", stats.ByModel, 73, 800, 300, false},
		{"/stats/chart/account.svg?hours=168&dark=0", stats.ByAccount, 168, 800, 300, false},
		{"/stats/chart/model.svg?hours=87600", stats.ByModel, stats.MaxHours, 800, 300, false},
	} {
		resp, body := h.raw("GET", c.path, "Cookie", cookie)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("GET %s: %d %q %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			continue
		}
		tr, err := chart.Trend(context.Background(), h.store, stats.TrendQuery{Dimension: c.dim, End: h.now, Hours: c.hours})
		if err != nil {
			t.Fatal(err)
		}
		_, font, err := h.api.webAssets()
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if _, err := chart.SVG(&want, chart.FromTrend(tr, h.now, "en"), chart.Options{Width: c.width, Height: c.height, Dark: c.dark,
			Font: font, NoDataText: chart.DefaultNoDataText, PartialText: "in progress"}); err != nil {
			t.Fatal(err)
		}
		if body != want.String() {
			t.Errorf("GET %s is not the policy's chart (%d bytes, want %d)", c.path, len(body), want.Len())
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q lets the SVG load or run things", c.path, csp)
		}
	}
	_, all := h.raw("GET", "/stats/chart/model.svg?hours=87600", "Cookie", cookie)
	if !strings.Contains(all, "gemini-2.5-pro") || !strings.Contains(all, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("all time misses a series or does not escape a name: %s", all)
	}
	for _, bad := range []string{"?hours=0", "?hours=x", "?width=5", "?width=99999", "?height=-1"} {
		if resp, _ := h.raw("GET", "/stats/chart/model.svg"+bad, "Cookie", cookie); resp.StatusCode != 400 {
			t.Errorf("chart %s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

// readEvent reads lines until a blank line and returns the event name ("" for a comment-only block).
func readEvent(t *testing.T, r *bufio.Reader) (name string, comment bool) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if name != "" || comment {
				return name, comment
			}
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, ":"):
			comment = true
		}
	}
}

func TestEventStream(t *testing.T) {
	h := newWebHarness(t)
	cookie := h.login()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/stats/events", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("CORS header %s on the event stream", k)
		}
	}
	r := bufio.NewReader(resp.Body)
	if name, _ := readEvent(t, r); name != "ready" {
		t.Fatalf("first event %q, want ready", name)
	}
	// A burst of records gives change events, coalesced: far fewer than the records.
	for i := 0; i < 50; i++ {
		if _, err := h.store.Record(context.Background(), stats.Record{Time: h.now, Model: "m", Account: "a", InputTokens: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if name, _ := readEvent(t, r); name != "change" {
		t.Fatalf("after a record: event %q, want change", name)
	}
	// Shutdown ends the stream (the app registers it with http.Server.RegisterOnShutdown).
	h.api.Shutdown()
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("stream did not end cleanly after Shutdown: %v", err)
	}
	if n := strings.Count(string(rest), "event: change"); n > 2 {
		t.Errorf("%d more change events for one burst of 50 records: not coalesced", n)
	}
}

func TestEventStreamEndsWhenStoreCloses(t *testing.T) {
	h := newWebHarness(t)
	resp, err := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", h.srv.URL+"/stats/events", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		return http.DefaultClient.Do(req)
	}()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if name, _ := readEvent(t, r); name != "ready" {
		t.Fatalf("first event %q", name)
	}
	h.store.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stream ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the event stream outlived the store")
	}
}

func TestEventStreamOutlivesReadTimeout(t *testing.T) {
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "rt.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	api := New(Config{Store: store, Token: testToken})
	srv := httptest.NewUnstartedServer(api)
	srv.Config.ReadTimeout = 300 * time.Millisecond // the app sets minutes; the stream must outlive it
	srv.Config.RegisterOnShutdown(api.Shutdown)
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/stats/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if name, _ := readEvent(t, r); name != "ready" {
		t.Fatalf("first event %q", name)
	}
	time.Sleep(time.Second)
	if _, err := store.Record(context.Background(), stats.Record{Time: time.Now(), Model: "m", Account: "a", InputTokens: 1}); err != nil {
		t.Fatal(err)
	}
	if name, _ := readEvent(t, r); name != "change" {
		t.Fatalf("event %q after the read timeout, want change", name)
	}
}

func TestLoginURL(t *testing.T) {
	h := newWebHarness(t)
	link := LoginURL(h.srv.URL+"/", "a b&c")
	if want := h.srv.URL + "/?token=a+b%26c"; link != want {
		t.Errorf("LoginURL = %q, want %q", link, want)
	}
	resp, _ := h.raw("GET", strings.TrimPrefix(LoginURL("", testToken), ""))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the login link does not log in: %d", resp.StatusCode)
	}
}
