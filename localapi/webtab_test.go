package localapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/assets/translations"
	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// newTabHarness is newWebHarness at a fixed time, with the store's options and the server's config
// chosen by the test.
func newTabHarness(t *testing.T, opt stats.Options, cfg func(*Config)) *webHarness {
	t.Helper()
	return openWebHarness(t, time.Date(2026, 1, 22, 16, 30, 0, 0, time.UTC), opt, cfg)
}

func (h *webHarness) record(recs ...stats.Record) {
	h.t.Helper()
	if _, err := h.store.Record(context.Background(), recs...); err != nil {
		h.t.Fatal(err)
	}
}

type chartAnswer struct {
	Granularity   string   `json:"granularity"`
	Granularities []string `json:"granularities"`
	Metric        string   `json:"metric"`
	Image         string   `json:"image"`
	Width, Height int
	Plot          struct{ Left, Top, Right, Bottom int }
	Periods       []struct {
		Label, Time, Total string
		Partial            bool
	}
	Series []struct {
		Name, Label, Color, Pattern string
		Other                       bool
		Values                      []float64
		Text                        []string
	}
}

func (h *webHarness) chartJSON(cookie, path string) chartAnswer {
	h.t.Helper()
	resp, body := h.raw("GET", path, "Cookie", cookie)
	if resp.StatusCode != 200 {
		h.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var a chartAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		h.t.Fatal(err)
	}
	return a
}

// The chart JSON carries the image the window would draw and, for each period, exactly the numbers a
// hover shows; it follows the filters, the metric, the granularity the range offers and the language.
func TestChartJSON(t *testing.T) {
	h := newTabHarness(t, stats.Options{}, nil)
	h.record(
		stats.Record{Time: h.now.Add(-30 * time.Minute), Account: "alice@example.com", Model: "gemini-2.5-pro", InputTokens: 1000, OutputTokens: 234},
		stats.Record{Time: h.now.Add(-3 * time.Hour), Account: "bob@example.com", Model: "通义千问", InputTokens: 5000, OutputTokens: 1},
		stats.Record{Time: h.now.Add(-3 * time.Hour), Account: "alice@example.com", Model: "通义千问", InputTokens: 70, OutputTokens: 7},
		stats.Record{Time: h.now.Add(-5 * 24 * time.Hour), Account: "bob@example.com", Model: "gpt-5", InputTokens: 9, OutputTokens: 9},
	)
	cookie := h.login()
	a := h.chartJSON(cookie, "/stats/chart/model.json?hours=24&width=600&height=280&scale=2")
	if a.Granularity != "hourly" || strings.Join(a.Granularities, ",") != "hourly" || a.Metric != "tokens" {
		t.Errorf("granularity %q of %q, metric %q", a.Granularity, a.Granularities, a.Metric)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a.Image, "data:image/png;base64,"))
	if err != nil || !strings.HasPrefix(a.Image, "data:image/png;base64,") {
		t.Fatalf("image is not a PNG data URL: %.40q %v", a.Image, err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 560 || a.Width != 1200 || a.Height != 560 {
		t.Errorf("image %v, said %dx%d; want 1200x560 at scale 2", b, a.Width, a.Height)
	}
	if p := a.Plot; p.Left < 0 || p.Right > a.Width || p.Left >= p.Right || p.Top >= p.Bottom || p.Bottom > a.Height {
		t.Errorf("plot %+v", p)
	}
	tr, err := chart.Trend(context.Background(), h.store, stats.TrendQuery{Dimension: stats.ByModel, End: h.now, Hours: 24})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Periods) != len(tr.Periods) || !a.Periods[len(a.Periods)-1].Partial || a.Periods[1].Partial {
		t.Fatalf("%d periods for %d, partial first %v last %v", len(a.Periods), len(tr.Periods), a.Periods[1].Partial, a.Periods[len(a.Periods)-1].Partial)
	}
	for _, s := range a.Series {
		if s.Color != chart.Palette[chart.ColorIndex(s.Name)] {
			t.Errorf("%s is %s, its colour is %s", s.Name, s.Color, chart.Palette[chart.ColorIndex(s.Name)])
		}
		for i, p := range tr.Periods {
			if v := float64(p.Values[s.Name]); s.Values[i] != v || s.Text[i] != chart.Exact(int64(v)) {
				t.Errorf("%s period %d: %v %q, the trend says %v", s.Name, i, s.Values[i], s.Text[i], v)
			}
		}
	}
	last := a.Periods[len(a.Periods)-1]
	if last.Total != "1,234" || last.Time != "Thu Jan 22 2026, 16:00–17:00" || last.Label != "16:00" {
		t.Errorf("the current hour: %+v", last)
	}

	// Filtered to alice: only her requests, in every period.
	f := h.chartJSON(cookie, "/stats/chart/model.json?hours=24&account=alice%40example.com&metric=requests")
	var requests float64
	for _, s := range f.Series {
		for _, v := range s.Values {
			requests += v
		}
	}
	if f.Metric != "requests" || requests != 2 || len(f.Series) != 2 {
		t.Errorf("alice's requests: metric %q, %v requests in %d series", f.Metric, requests, len(f.Series))
	}
	// Seven days: by hour by default, by day when asked; a day cannot be drawn by day.
	if w := h.chartJSON(cookie, "/stats/chart/account.json?hours=168"); w.Granularity != "hourly" || len(w.Periods) != 169 ||
		strings.Join(w.Granularities, ",") != "hourly,daily" {
		t.Errorf("7 days: %s of %v, %d periods", w.Granularity, w.Granularities, len(w.Periods))
	}
	if w := h.chartJSON(cookie, "/stats/chart/account.json?hours=168&granularity=daily"); w.Granularity != "daily" || len(w.Periods) != 8 {
		t.Errorf("7 days by day: %s, %d periods", w.Granularity, len(w.Periods))
	}
	if d := h.chartJSON(cookie, "/stats/chart/model.json?hours=24&granularity=daily"); d.Granularity != "hourly" {
		t.Errorf("a day by day: %s", d.Granularity)
	}
	// Chinese: dates and words.
	zh := h.chartJSON(cookie, "/stats/chart/model.json?hours=168&granularity=daily&lang=zh-Hans")
	if zh.Periods[len(zh.Periods)-1].Label != "1月22日" || !strings.HasPrefix(zh.Periods[0].Time, "2026年1月15日 周四") {
		t.Errorf("Chinese labels: %q, %q", zh.Periods[len(zh.Periods)-1].Label, zh.Periods[0].Time)
	}
	// Records without a source: the series is named "" (what a filter takes) and labelled in the language.
	src := h.chartJSON(cookie, "/stats/chart/source.json?hours=24&lang=zh-Hans")
	if len(src.Series) != 1 || src.Series[0].Name != "" || src.Series[0].Label != "（无）" {
		t.Errorf("no source: %+v", src.Series)
	}
	for _, bad := range []string{"?scale=9", "?scale=x", "?metric=joules", "?granularity=weekly", "?hours=0"} {
		if resp, _ := h.raw("GET", "/stats/chart/model.json"+bad, "Cookie", cookie); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if resp, _ := h.raw("GET", "/stats/chart/model.json"); resp.StatusCode != 401 {
		t.Errorf("chart without a session: %d", resp.StatusCode)
	}
}

// The tab speaks the tab's own choice, else the app's language, else the browser's.
func TestTabLanguage(t *testing.T) {
	appLang := ""
	h := newTabHarness(t, stats.Options{}, func(c *Config) { c.Language = func() string { return appLang } })
	cookie := h.login()
	page := func(hdr ...string) (string, string) {
		t.Helper()
		resp, body := h.raw("GET", "/", append([]string{"Cookie", cookie}, hdr...)...)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /: %d", resp.StatusCode)
		}
		m := regexp.MustCompile(`<html lang="([^"]+)">`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no html lang in %.200s", body)
		}
		return m[1], body
	}
	if l, body := page("Accept-Language", "de-DE,zh-CN;q=0.8,en;q=0.5"); l != "zh-Hans" || !strings.Contains(body, ">刷新<") {
		t.Errorf("Chinese browser: lang %q", l)
	}
	if l, _ := page("Accept-Language", "fr, en-GB;q=0.9, zh;q=0.1"); l != "en" {
		t.Errorf("English before Chinese: %q", l)
	}
	appLang = "zh-Hans"
	if l, _ := page("Accept-Language", "en-US"); l != "zh-Hans" {
		t.Errorf("the app speaks Chinese, the browser English: %q", l)
	}
	// The tab's switch: a cookie, then a redirect home.
	resp, _ := h.raw("GET", "/?lang=en", "Cookie", cookie)
	var lc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == LangCookie {
			lc = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || lc == nil || lc.Value != "en" || lc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("?lang=en: %d %v", resp.StatusCode, lc)
	}
	l, body := page("Cookie", cookie+"; "+LangCookie+"=en", "Accept-Language", "zh")
	if l != "en" || !strings.Contains(body, ">Refresh<") {
		t.Errorf("switched to English: %q", l)
	}
	// The script gets every text of the language as JSON in the page.
	m := regexp.MustCompile(`data-strings="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no strings in the page")
	}
	var strs map[string]string
	if err := json.Unmarshal([]byte(unescapeHTML(m[1])), &strs); err != nil || strs["Refresh"] != "Refresh" {
		t.Errorf("strings: %v (%d)", err, len(strs))
	}
	// The sign-in page too, without a session.
	resp, login := h.raw("GET", "/", "Accept-Language", "zh-Hans-CN")
	appLang = ""
	if resp.StatusCode != 200 || !strings.Contains(login, "访问令牌") {
		t.Errorf("Chinese sign-in page: %d %.300s", resp.StatusCode, login)
	}
}

func unescapeHTML(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// Every text the page and its script show has both translations.
func TestTabStringsAreTranslated(t *testing.T) {
	read := func(name string) map[string]string {
		b, err := fs.ReadFile(translations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	en, zh := read("en.json"), read("zh-Hans.json")
	var keys []string
	for _, f := range []struct {
		file string
		re   *regexp.Regexp
	}{
		{"index.html", regexp.MustCompile(`\{\{\.T "([^"]+)"\}\}`)},
		{"login.html", regexp.MustCompile(`\{\{\.T "([^"]+)"\}\}`)},
		{"app.js", regexp.MustCompile(`\bt\('((?:[^'\\]|\\.)+)'`)},
		{"app.js", regexp.MustCompile(`plural\([^,]+, '((?:[^'\\]|\\.)+)',\s*'((?:[^'\\]|\\.)+)'`)},
		{"app.js", regexp.MustCompile(`(?:head|chip): '([^']+)'`)},
	} {
		b, err := os.ReadFile(filepath.Join("..", "assets", "web", f.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range f.re.FindAllStringSubmatch(string(b), -1) {
			keys = append(keys, m[1:]...)
		}
	}
	keys = append(keys, "That token is not right. Run `tokenstats token` to print it, or use the link the app opens.",
		"No data in this range", "in progress", "series.other", "(none)")
	if len(keys) < 80 {
		t.Fatalf("found only %d texts: the scan is broken", len(keys))
	}
	for _, k := range keys {
		if zh[k] == "" {
			t.Errorf("no Chinese for %q", k)
		}
		if en[k] != k && k != "series.other" {
			t.Errorf("en.json: %q maps to %q", k, en[k])
		}
	}
}

// The web font is public, gzip-compressed when the browser takes it, and a TrueType font.
func TestFontRoute(t *testing.T) {
	h := newTabHarness(t, stats.Options{}, nil)
	for _, gz := range []bool{true, false} {
		req, _ := http.NewRequest("GET", h.srv.URL+FontPath, nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		} else {
			req.Header.Set("Accept-Encoding", "identity")
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if gz {
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("gzip asked, got %q", resp.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(zr)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "font/ttf" || !bytes.HasPrefix(body, []byte{0, 1, 0, 0}) ||
			len(body) < 1<<20 || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
			t.Errorf("gzip %v: %d %q %d bytes %q", gz, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), resp.Header.Get("Cache-Control"))
		}
	}
}

// pricePerToken prices every model but "free-model" at 1 nano-dollar per token: a fixed table for tests.
type pricePerToken struct{}

func (pricePerToken) Price(r *stats.Record) (stats.Money, bool) {
	if r.Model == "free-model" {
		return 0, false
	}
	return stats.Money(r.InputTokens + r.OutputTokens), true
}

// The summary and the rows carry the estimate, the unpriced requests (an unpriced model is null, never
// $0) and the tools' own figures; cache savings appear when the app provides them.
func TestSummaryMoney(t *testing.T) {
	var asked stats.Filter
	h := newTabHarness(t, stats.Options{Pricer: pricePerToken{}}, func(c *Config) {
		c.CacheSavings = func(_ context.Context, _ stats.Window, f stats.Filter) (stats.Money, bool) {
			asked = f
			return 1_250_000, true
		}
	})
	h.record(
		stats.Record{Time: h.now.Add(-time.Hour), Account: "a", Model: "paid", InputTokens: 1_000_000, OutputTokens: 500_000,
			AgentCost: 2_000_000, HasAgentCost: true},
		stats.Record{Time: h.now.Add(-time.Hour), Account: "a", Model: "free-model", InputTokens: 10, OutputTokens: 1},
	)
	_, sum := h.do("GET", "/stats/summary?model=paid&model=free-model", "")
	d := sum["data"].(map[string]any)
	if d["estimated_cost_usd"] != 0.0015 || d["unpriced_requests"] != 1.0 || d["agent_cost_usd"] != 0.002 ||
		d["agent_cost_requests"] != 1.0 || d["cache_savings_usd"] != 0.00125 {
		t.Errorf("summary money: %v", d)
	}
	if len(asked.Models) != 2 {
		t.Errorf("cache savings asked with filter %+v", asked)
	}
	_, rows := h.do("GET", "/stats/by-model", "")
	for _, r := range rows["data"].([]any) {
		row := r.(map[string]any)
		want := map[string]any{"paid": 0.0015, "free-model": nil}[row["model"].(string)]
		if row["estimated_cost_usd"] != want {
			t.Errorf("%v: cost %v, want %v", row["model"], row["estimated_cost_usd"], want)
		}
	}
	// Without the app's function the field is absent.
	plain := newTabHarness(t, stats.Options{}, nil)
	_, s2 := plain.do("GET", "/stats/summary", "")
	if _, ok := s2["data"].(map[string]any)["cache_savings_usd"]; ok {
		t.Error("cache_savings_usd present without CacheSavings")
	}
}
