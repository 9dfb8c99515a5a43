package app_test

// The browser tab end to end: the real binary, Debian's Chromium driven over the DevTools protocol.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/ui"
)

const (
	browserToken = "browser-test-token-0123456789abcdef"
	hostileName  = `<img src=x onerror=alert(1)>`
	chromiumPath = "/usr/bin/chromium"
)

// needTool skips without the tool, except in CI, where a missing tool is a failure.
func needTool(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", path, err)
		}
		t.Skipf("%s not installed (apt-get install chromium); skipping the browser test", path)
	}
}

// tabServer is the real binary, started headless on a free port.
type tabServer struct {
	t   *testing.T
	url string
}

func startTabServer(t *testing.T) *tabServer {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tokenstats")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--headless", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "TOKENSTATS_TOKEN="+browserToken)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("tokenstats did not stop cleanly: %v\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("tokenstats did not stop within 20 s of SIGINT (an event stream holding shutdown?)")
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read the listening line: %v\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no URL in %q", line)
	}
	return &tabServer{t: t, url: m[1]}
}

// api calls the JSON API with the Bearer token.
func (s *tabServer) api(method, path, body string) map[string]any {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+browserToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode/100 != 2 {
		s.t.Fatalf("%s %s: %d %v %v", method, path, resp.StatusCode, m, err)
	}
	return m
}

func (s *tabServer) post(recs []map[string]any) {
	s.t.Helper()
	b, _ := json.Marshal(recs)
	if got := s.api("POST", "/usage", string(b)); got["accepted"] != float64(len(recs)) {
		s.t.Fatalf("posted %d records: %v", len(recs), got)
	}
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// cardView is what the page shows on one card.
type cardView struct {
	Exact string `json:"exact"`
	Text  string `json:"text"`
	Title string `json:"title"`
	Note  string `json:"note"`
}

// rowView is one table row: the name and, by column key, the cell's exact value and text.
type rowView struct {
	Name  string            `json:"name"`
	Title string            `json:"title"`
	Exact map[string]string `json:"exact"`
	Text  map[string]string `json:"text"`
	Color string            `json:"color"`
}

const readCards = `Object.fromEntries([...document.querySelectorAll('.card')].map(c =>
	[c.id, {exact: c.dataset.exact || '', text: c.querySelector('.value').textContent, title: c.title,
		note: c.querySelector('.note').textContent}]))`

const readRows = `(side => [...document.querySelectorAll('#panel-' + side + ' tbody tr')].filter(tr => !tr.querySelector('.empty')).map(tr => {
	const cells = [...tr.cells];
	return {name: tr.dataset.name, title: cells[0].title, color: cells[0].querySelector('.dot').dataset.color,
		exact: Object.fromEntries(cells.slice(1).map(c => [c.dataset.key, c.dataset.exact || ''])),
		text: Object.fromEntries(cells.slice(1).map(c => [c.dataset.key, c.textContent]))};
}))`

// browser drives one Chromium tab.
type browser struct {
	t   *testing.T
	tab context.Context
	srv *tabServer
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.tab, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.tab, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%.80s: %v", js, err)
	}
	return v
}

// loaded waits until the page has loaded after load number seq (0: any) for the range.
func (b *browser) loaded(hours int, after int) int {
	b.t.Helper()
	b.do(fmt.Sprintf("wait for the %d h range to load", hours), chromedp.Poll[chromedp.Void](fmt.Sprintf(
		`document.body.dataset.state === 'loaded' && document.body.dataset.hours === '%d' && Number(document.body.dataset.seq) > %d`, hours, after),
		chromedp.WithPollingTimeout(20*time.Second)))
	return eval[int](b, `Number(document.body.dataset.seq)`)
}

func (b *browser) seq() int { return eval[int](b, `Number(document.body.dataset.seq || 0)`) }

// check compares every card and both tables with the API for the range and the filter query q.
func (b *browser) check(hours int, filter string) {
	b.t.Helper()
	t := b.t
	q := fmt.Sprintf("?hours=%d%s", hours, filter)
	sum := b.srv.api("GET", "/stats/summary"+q, "")["data"].(map[string]any)
	cards := eval[map[string]cardView](b, readCards)
	for id, key := range map[string]string{"card-total": "total_tokens", "card-input": "total_input_tokens",
		"card-output": "total_output_tokens", "card-cached": "total_cached_tokens", "card-requests": "total_requests",
		"card-accounts": "unique_accounts", "card-models": "unique_models"} {
		n := num(sum[key])
		text := ui.Short(n)
		if key == "total_requests" || key == "unique_accounts" || key == "unique_models" {
			text = ui.Exact(n) // counts are exact
		}
		if c := cards[id]; c.Exact != fmt.Sprint(n) || c.Text != text || !strings.HasPrefix(c.Title, ui.Exact(n)) {
			t.Errorf("%s, %s: page shows %+v, API says %d", q, id, c, n)
		}
	}
	if c := cards["card-input"]; !strings.Contains(c.Title, ui.Exact(num(sum["total_cached_tokens"]))+" cached and "+
		ui.Exact(num(sum["total_cache_creation_tokens"]))+" cache-creation") {
		t.Errorf("%s: the input card's hover %q does not say what it includes", q, c.Title)
	}
	if c := cards["card-cost"]; num(sum["unpriced_requests"]) > 0 && !strings.Contains(c.Note, "unpriced") {
		t.Errorf("%s: cost card %+v says nothing of %d unpriced requests", q, c, num(sum["unpriced_requests"]))
	}
	if c := cards["card-cost"]; sum["estimated_cost_usd"] == nil && num(sum["total_requests"]) > 0 && c.Text != "—" {
		t.Errorf("%s: nothing is priced, yet the cost card says %q", q, c.Text)
	}
	for _, side := range []string{"left", "right"} {
		dim := eval[string](b, `document.getElementById('panel-`+side+`').dataset.dim`)
		route, field, own := map[string][3]string{
			"model": {"/stats/by-model", "model", "model"}, "account": {"/stats/by-account", "account_email", "account"},
			"source": {"/stats/by-source", "source", "source"}, "credential": {"/stats/by-credential", "credential", "credential"},
		}[dim][0], map[string]string{"model": "model", "account": "account_email", "source": "source", "credential": "credential"}[dim], dim
		rows := eval[[]rowView](b, readRows+"('"+side+"')")
		data := b.srv.api("GET", route+withoutParam(q, own), "")["data"].([]any)
		if len(rows) != len(data) {
			t.Fatalf("%s, %s table: %d rows on the page, %d from the API", q, dim, len(rows), len(data))
		}
		for i, d := range data {
			m := d.(map[string]any)
			name := m[field].(string)
			r := rows[i]
			if r.Name != name {
				t.Errorf("%s, %s row %d: %q, API %q", q, dim, i, r.Name, name)
				continue
			}
			for key, api := range map[string]string{"requests": "request_count", "input": "total_input_tokens",
				"output": "total_output_tokens", "cached": "total_cached_tokens", "total": "total_tokens"} {
				n := num(m[api])
				text := ui.Short(n)
				if key == "requests" {
					text = ui.Exact(n)
				}
				if r.Exact[key] != fmt.Sprint(n) || r.Text[key] != text {
					t.Errorf("%s, %s %q %s: page %q/%q, API %d", q, dim, name, key, r.Exact[key], r.Text[key], n)
				}
			}
		}
	}
}

// withoutParam drops one parameter from a query: a table is narrowed by every filter but its own.
func withoutParam(q, name string) string {
	u, _ := url.ParseQuery(strings.TrimPrefix(q, "?"))
	u.Del(name)
	return "?" + u.Encode()
}

func TestBrowserTab(t *testing.T) {
	needTool(t, chromiumPath)
	srv := startTabServer(t)

	now := time.Now().Unix()
	var recs []map[string]any
	add := func(model, account string, in, out, cached int64, ago time.Duration) {
		recs = append(recs, map[string]any{"model": model, "account_email": account, "input_tokens": in,
			"output_tokens": out, "cached_tokens": cached, "timestamp": now - int64(ago/time.Second), "source": "gcli2api"})
	}
	// Distinct totals per name, so both sides order rows the same way; 1250 exercises the half-even rule.
	add("gemini-2.5-pro", "alice@example.com", 1_200_000, 34_000, 500_000, 10*time.Minute)
	add("gemini-2.5-pro", "bob@example.com", 800_000, 21_000, 0, 5*time.Hour)
	add("claude-sonnet-4", "alice@example.com", 45_600, 7_800, 1250, 30*time.Minute)
	add("通义千问", "张伟@例子.cn", 333_333, 3_333, 0, 2*time.Hour)
	add(hostileName, "mallory@example.com", 1250, 0, 0, 20*time.Minute)
	add("gpt-4.1", "ops&<b>dev</b>@example.org", 999_950, 50, 0, 3*time.Hour)
	for i := 0; i < 12; i++ {
		add(fmt.Sprintf("small-model-%02d", i), "ci@example.net", int64(100+i*37), int64(i), 0, time.Duration(i)*time.Hour+time.Minute)
	}
	srv.post(recs)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath), chromedp.UserDataDir(t.TempDir()), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"), chromedp.WindowSize(1280, 1000))
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	b := &browser{t: t, tab: tab, srv: srv}

	// Any alert, confirm or prompt means a name ran as script (the page itself uses none).
	var dialogs atomic.Int32
	dialogEvents := chromedp.Events(tab, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogEvents {
			if err != nil {
				return
			}
			dialogs.Add(1)
			chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()

	// Log in through the token link.
	b.do("open the token link", chromedp.Navigate(srv.url+"/?token="+browserToken))
	seq := b.loaded(24, 0)
	loc, err := chromedp.Run(tab, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != srv.url+"/" {
		t.Errorf("after login the address is %q, want %q without the token", loc, srv.url+"/")
	}
	cookies, err := chromedp.Call(tab, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.url + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "tokenstats_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no session cookie among %d cookies", len(cookies.Cookies))
	}
	if !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || session.Path != "/" ||
		strings.Contains(session.Value, browserToken) {
		t.Errorf("session cookie: HttpOnly=%v SameSite=%v Path=%q, value holds the token: %v", session.HTTPOnly,
			session.SameSite, session.Path, strings.Contains(session.Value, browserToken))
	}
	b.check(24, "")

	// The Sources section lists what /stats/sources does (these records named no source).
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](`document.querySelectorAll('#table-sources tbody tr td:not(.empty)').length > 0`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the Sources section stays empty: %v", err)
	}
	sources, err := chromedp.Run(tab, chromedp.Evaluate[[][]string](`[...document.querySelectorAll('#table-sources tbody tr')].map(tr =>
		[...tr.cells].map(td => td.dataset.exact || td.textContent))`))
	if err != nil {
		t.Fatal(err)
	}
	api := srv.api("GET", "/stats/sources", "")["data"].([]any)
	if len(sources) != len(api) || len(api) == 0 {
		t.Fatalf("Sources section %q, API %v", sources, api)
	}
	for i, a := range api {
		m := a.(map[string]any)
		name := m["name"].(string)
		if name == "" {
			name = "(none)"
		}
		if sources[i][0] != name || sources[i][1] != m["kind"] || sources[i][2] != fmt.Sprint(num(m["records_today"])) ||
			sources[i][3] != fmt.Sprint(num(m["tokens_today"])) {
			t.Errorf("Sources row %d %q, API %v", i, sources[i], m)
		}
	}

	// Shortened numbers, money and colours are the desktop's, number for number.
	samples := []int64{0, 7, 999, 1000, 1049, 1050, 1150, 1250, 1350, 1450, 2250, 999_949, 999_950, 1_000_000,
		1_250_000, 12_345_678, 999_950_000, 1_234_567_890, 3_750_000_000_000, 1 << 40, 9_007_199_254_740_991}
	for i := int64(1); i < 3000; i++ {
		samples = append(samples, i*i*i*7+i)
	}
	js, _ := json.Marshal(samples)
	formatted := eval[[][3]string](b, `(`+string(js)+`).map(n => [TokenStatsFormat.short(n), TokenStatsFormat.exact(n), TokenStatsFormat.money(n % 2e15)])`)
	for i, n := range samples {
		if want := [3]string{ui.Short(n), ui.Exact(n), ui.MoneyShort(stats.Money(n % 2e15))}; formatted[i] != want {
			t.Errorf("%d: page writes %q, the desktop %q", n, formatted[i], want)
		}
	}
	names := []string{"", "gemini-2.5-pro", "通义千问", "张伟@例子.cn", hostileName, "😀 emoji", "key …a1b2"}
	for i := range 300 {
		names = append(names, fmt.Sprintf("model-%d", i))
	}
	jn, _ := json.Marshal(names)
	idx := eval[[]int](b, `(`+string(jn)+`).map(n => TokenStatsFormat.colorIndex(n))`)
	for i, n := range names {
		if idx[i] != chart.ColorIndex(n) {
			t.Errorf("%q: the page's colour %d, the desktop's %d", n, idx[i], chart.ColorIndex(n))
		}
	}
	if pal := eval[[]string](b, `TokenStatsFormat.palette`); strings.Join(pal, ",") != strings.Join(chart.Palette[:], ",") {
		t.Errorf("palette %v", pal)
	}

	// Limits appear live, one meter each, coloured by state; names are text, never markup.
	srv.api("POST", "/stats/limits", `{"scope": "model", "name": `+jsString(hostileName)+`, "metric": "tokens",
		"period": "day", "limit": 1000}`)
	srv.api("POST", "/stats/limits", `{"scope": "account", "name": "alice@example.com", "metric": "requests",
		"period": "week", "limit": 20, "thresholds": [10, 100]}`)
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](`document.querySelectorAll('#limit-meters .meter').length === 2`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the limits never showed: %v", err)
	}
	meters, err := chromedp.Run(tab, chromedp.Evaluate[[][3]string](`[...document.querySelectorAll('#limit-meters .meter')].map(m =>
		[m.querySelector('.name').textContent, m.className, m.querySelector('.text').textContent])`))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range srv.api("GET", "/stats/limits", "")["data"].([]any) {
		lm := l.(map[string]any)
		want := [2]string{lm["name"].(string), "meter state-" + lm["state"].(string)}
		if i >= len(meters) || [2]string{meters[i][0], meters[i][1]} != want ||
			!strings.HasPrefix(meters[i][2], fmt.Sprintf("%d %% · ", int(lm["percent"].(float64)))) {
			t.Errorf("meter %d: page %q, API %v", i, meters, lm)
		}
	}
	if len(meters) == 2 && (meters[0][1] != "meter state-reached" || meters[1][1] != "meter state-warning" ||
		!strings.Contains(meters[1][2], " of 20 requests this week · resets in ")) {
		t.Errorf("meters %q: want the hostile model's at 100 %% and alice's past 10 %%", meters)
	}

	// The hostile name is a table cell's text, and no element came from it.
	hostile := eval[map[string]int](b, `({
		cells: [...document.querySelectorAll('#panel-left td.name')].filter(td => td.textContent === `+jsString(hostileName)+`).length,
		imgs: document.querySelectorAll('img').length,
		onerror: document.querySelectorAll('[onerror]').length})`)
	if hostile["cells"] != 1 || hostile["imgs"] != 2 || hostile["onerror"] != 0 {
		t.Errorf("hostile name: %v (want 1 text cell, only the 2 chart images, no onerror attribute)", hostile)
	}
	chartsLoaded := func() {
		t.Helper()
		b.do("chart images", chromedp.Poll[chromedp.Void](`['chart-model', 'chart-account'].every(id => {
			const img = document.getElementById(id); return img.complete && img.naturalWidth > 0; })`,
			chromedp.WithPollingTimeout(20*time.Second)))
	}
	chartsLoaded()

	// Hover: the period under the pointer, with each series' exact value, as the chart's JSON says.
	hover(t, b, "gemini-2.5-pro")

	// Colours belong to names: the table dots are the chart's colours, the same over 7 days.
	dots := func() map[string]string {
		out := map[string]string{}
		for _, r := range eval[[]rowView](b, readRows+"('left')") {
			out[r.Name] = r.Color
		}
		return out
	}
	day := dots()
	for _, n := range []string{"gemini-2.5-pro", "通义千问", "claude-sonnet-4"} {
		if day[n] != chart.Palette[chart.ColorIndex(n)] {
			t.Errorf("%s's dot is %s, its colour %s", n, day[n], chart.Palette[chart.ColorIndex(n)])
		}
	}
	b.do("7 days", chromedp.SetValue(chromedp.ID("range"), "168"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('range').dispatchEvent(new Event('change'))`))
	seq = b.loaded(168, seq)
	week := dots()
	for n, c := range day {
		if week[n] != c {
			t.Errorf("%s is %s over a day, %s over a week", n, c, week[n])
		}
	}
	if g := eval[string](b, `document.getElementById('granularity').value + (document.getElementById('granularity').disabled ? '!' : '')`); g != "hourly" {
		t.Errorf("7 days: granularity %q, want hourly and changeable", g)
	}
	b.do("by day", chromedp.SetValue(chromedp.ID("granularity"), "daily"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('granularity').dispatchEvent(new Event('change'))`))
	seq = b.loaded(168, seq)
	if q := eval[string](b, `document.getElementById('chart-model').dataset.query`); !strings.Contains(q, "granularity=daily") {
		t.Errorf("the chart was not asked by day: %s", q)
	}
	b.do("back to 24 h", chromedp.SetValue(chromedp.ID("range"), "24"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('range').dispatchEvent(new Event('change'))`))
	seq = b.loaded(24, seq)

	// Drill down: a click on a model row filters everything; a click on an account adds to it; the
	// chip's × removes it; sources are a click away.
	click := func(what, sel string) {
		t.Helper()
		b.do(what, chromedp.Click(chromedp.CSS(sel)))
		seq = b.loaded(24, seq)
	}
	click("pick gemini", `#panel-left tr[data-name="gemini-2.5-pro"] td.name`)
	chips := func() []string {
		return eval[[]string](b, `[...document.querySelectorAll('.chip')].map(c => c.dataset.dim + ':' + c.dataset.name)`)
	}
	if got := chips(); strings.Join(got, ",") != "model:gemini-2.5-pro" {
		t.Errorf("chips %v", got)
	}
	b.check(24, "&model=gemini-2.5-pro")
	hover(t, b, "gemini-2.5-pro")
	click("pick alice", `#panel-right tr[data-name="alice@example.com"] td.name`)
	b.check(24, "&model=gemini-2.5-pro&account=alice%40example.com")
	if got := chips(); strings.Join(got, ",") != "model:gemini-2.5-pro,account:alice@example.com" {
		t.Errorf("chips %v", got)
	}
	click("remove the model chip", `.chip[data-dim="model"] button`)
	b.check(24, "&account=alice%40example.com")
	b.do("sources", chromedp.Click(chromedp.CSS(`#panel-left [role="tab"][data-dim="source"]`)))
	b.check(24, "&account=alice%40example.com")
	click("pick gcli2api", `#panel-left tr[data-name="gcli2api"] td.name`)
	b.check(24, "&account=alice%40example.com&source=gcli2api")
	click("clear filters", `#clear-filters`)
	b.check(24, "")
	if eval[bool](b, `!document.getElementById('filters').hidden`) {
		t.Error("the filter bar is shown without a filter")
	}
	b.do("models", chromedp.Click(chromedp.CSS(`#panel-left [role="tab"][data-dim="model"]`)))

	// Sorting by name, then filtering down to nothing shows the empty state.
	b.do("sort by name", chromedp.Click(chromedp.CSS(`#panel-left th[data-key="name"] button`)))
	sorted := eval[[][]string](b, `(() => {
		const shown = [...document.querySelectorAll('#panel-left tbody tr')].map(tr => tr.dataset.name);
		return [shown, shown.slice().sort((a, b) => a.localeCompare(b))]; })()`)
	if len(sorted[0]) < 10 || strings.Join(sorted[0], "\n") != strings.Join(sorted[1], "\n") {
		t.Errorf("sorted by name, the table shows %q", sorted[0])
	}
	b.do("filter", chromedp.SendKeys(chromedp.CSS(`#panel-left .filter`), "no-such-model"))
	empty, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#panel-left td.empty`)))
	if err != nil || !strings.Contains(empty, "no-such-model") {
		t.Errorf("empty state after filtering: %q %v", empty, err)
	}
	b.do("clear the filter", chromedp.Evaluate[chromedp.Void](`(f => { f.value = ''; f.dispatchEvent(new Event('input')); })(document.querySelector('#panel-left .filter'))`),
		chromedp.Click(chromedp.CSS(`#panel-left th[data-key="total"] button`)))

	// Optional columns: reasoning shows when asked.
	b.do("reasoning column", chromedp.Click(chromedp.ID("col-reasoning")))
	if n := eval[int](b, `document.querySelectorAll('#panel-left th[data-key="reasoning"]').length`); n != 1 {
		t.Errorf("%d reasoning headers", n)
	}

	// Live: a new record shows up without a reload, and a new name takes no colour from the others.
	before := srv.api("GET", "/stats/summary?hours=24", "")["data"].(map[string]any)
	srv.post([]map[string]any{{"model": "kimi-k2", "account_email": "alice@example.com", "input_tokens": 9_000_000,
		"output_tokens": 3, "timestamp": time.Now().Unix()}})
	wantReq := num(before["total_requests"]) + 1
	b.do("follow a new record", chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`document.getElementById('card-requests').dataset.exact === '%d'`, wantReq),
		chromedp.WithPollingTimeout(15*time.Second)))
	seq = b.loaded(24, 0)
	b.check(24, "")
	after := dots()
	for n, c := range day {
		if after[n] != c {
			t.Errorf("%s changed colour from %s to %s when kimi-k2 appeared", n, c, after[n])
		}
	}

	// The screenshots, in English and (through the tab's own switch) in Chinese.
	shots := os.Getenv("TOKENSTATS_SCREENSHOT") == "1" // TOKENSTATS_SCREENSHOT=1 go test -run TestBrowserTab ./app
	shoot := func(name string) {
		t.Helper()
		chartsLoaded()
		// Every character on the page in the page's fonts, then two frames for the swap to be painted.
		eval[bool](b, `document.fonts.load('14px "Noto Sans SC"', document.body.innerText).then(() => document.fonts.ready)
			.then(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))))`)
		shot, err := chromedp.Run(b.tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		checkNotBlank(t, shot)
		if shots {
			if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name), shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	shoot("browser-en.png")

	// 375 px wide: nothing sticks out sideways (tables scroll inside their panels).
	b.do("narrow viewport", chromedp.EmulateViewport(375, 800))
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](`document.documentElement.scrollWidth <= 375`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		w, _ := chromedp.Run(tab, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		t.Errorf("at 375 px the page is %d px wide", w)
	}
	if shots {
		b.do("narrow charts", chromedp.Poll[chromedp.Void](`document.getElementById('chart-model').dataset.query.includes('width=3')`,
			chromedp.WithPollingTimeout(10*time.Second)))
		shoot("browser-375.png")
	}
	b.do("wide viewport", chromedp.EmulateViewport(1280, 1000))

	// Chinese, in a second tab of the same browser (signed in by the same cookie): the switch reloads
	// the page in Chinese; the charts' dates and words follow, and the characters are drawn with the
	// page's font (this machine may have no CJK font of its own).
	zhTab, cancelZh := chromedp.NewContext(tab)
	defer cancelZh()
	en := b.tab
	b.tab = zhTab
	// The language select goes to /?lang=…, which keeps the choice in a cookie and comes back to /.
	switchTo := func(lang string) {
		t.Helper()
		b.do("switch to "+lang, chromedp.Navigate(srv.url+"/?lang="+lang),
			chromedp.Poll[chromedp.Void](`document.documentElement.lang === '`+lang+`' && document.body.dataset.state === 'loaded' &&
				document.getElementById('lang').value === '`+lang+`'`, chromedp.WithPollingTimeout(20*time.Second)))
	}
	switchTo("zh-Hans")
	if got := eval[string](b, `document.documentElement.lang + ' ' + document.getElementById('refresh').textContent`); got != "zh-Hans 刷新" {
		t.Errorf("after switching: %q", got)
	}
	if !eval[bool](b, `document.fonts.load('14px "Noto Sans SC"', '模型').then(f => f.length > 0 && document.fonts.check('14px "Noto Sans SC"', '模型'))`) {
		t.Error("the page's Chinese font did not load")
	}
	q := eval[string](b, `document.getElementById('chart-model').dataset.query`)
	zh := srv.api("GET", "/stats/chart/model.json"+q, "")
	last := zh["periods"].([]any)[len(zh["periods"].([]any))-1].(map[string]any)
	if !strings.Contains(last["time"].(string), "年") || !strings.Contains(q, "lang=zh-Hans") {
		t.Errorf("Chinese chart: %v (%s)", last, q)
	}
	shoot("browser-zh.png")
	// Every Chinese character of these texts is drawn with the page's font, as Chromium itself reports.
	for _, sel := range []string{"#card-total .label", "#card-models .label", "#figure-model figcaption",
		"#figure-account figcaption", "#refresh", "#panel-left th[data-key='name'] button"} {
		cjk := eval[int](b, `[...document.querySelector("`+sel+`").textContent].filter(c => /\p{Script=Han}/u.test(c)).length`)
		doc, err := chromedp.Call(b.tab, dom.GetDocument, dom.GetDocumentParams{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := chromedp.Call(b.tab, dom.QuerySelector, dom.QuerySelectorParams{NodeID: doc.Root.NodeID, Selector: sel})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(b.tab, css.Enable, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		f, err := chromedp.Call(b.tab, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: n.NodeID})
		if err != nil {
			t.Fatal(err)
		}
		var ours float64
		for _, pf := range f.Fonts {
			if pf.IsCustomFont && pf.FamilyName == "Noto Sans SC" {
				ours += pf.GlyphCount
			}
		}
		if cjk == 0 || ours != float64(cjk) {
			t.Errorf("%s: %d Chinese characters, %v drawn with the page's Noto Sans SC (%+v)", sel, cjk, ours, f.Fonts)
		}
	}
	switchTo("en")
	b.tab = en
	b.do("reload in English", chromedp.Reload())
	seq = b.loaded(24, 0)

	// Clear everything, through the confirmation; then there is nothing to delete, and no Delete.
	clearAll := func() string {
		t.Helper()
		b.do("open clear", chromedp.Click(chromedp.ID("clear")), chromedp.WaitVisible(chromedp.ID("clear-next")),
			chromedp.Click(chromedp.ID("clear-all")), chromedp.Click(chromedp.ID("clear-next")),
			chromedp.WaitVisible(chromedp.ID("clear-back")))
		what, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("clear-confirm")))
		if err != nil {
			t.Fatal(err)
		}
		return what
	}
	records := num(srv.api("GET", "/stats/db-info", "")["records"])
	if what := clearAll(); !strings.Contains(what, ui.Exact(records)+" records will be deleted") || !strings.Contains(what, "cannot be undone") {
		t.Errorf("confirmation says %q; want the %d records and that it cannot be undone", what, records)
	}
	b.do("confirm", chromedp.Click(chromedp.ID("clear-go")))
	b.do("cards at zero", chromedp.Poll[chromedp.Void](
		`document.getElementById('card-requests').dataset.exact === '0' && document.body.dataset.state === 'loaded'`,
		chromedp.WithPollingTimeout(15*time.Second)))
	sum := srv.api("GET", "/stats/summary?hours=87600", "")["data"].(map[string]any)
	if num(sum["total_requests"]) != 0 || num(sum["total_tokens"]) != 0 {
		t.Errorf("after clearing the API reports %v", sum)
	}
	emptyText, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#panel-left td.empty`)))
	if err != nil || !strings.Contains(emptyText, "No data") {
		t.Errorf("empty table after clearing: %q %v", emptyText, err)
	}
	if what := clearAll(); !strings.Contains(what, "There are no usage records to delete.") ||
		eval[bool](b, `!document.getElementById('clear-go').hidden`) {
		t.Errorf("nothing to delete: %q, Delete shown %v", what, eval[bool](b, `!document.getElementById('clear-go').hidden`))
	}
	b.do("back", chromedp.Click(chromedp.ID("clear-back")), chromedp.Click(chromedp.ID("clear-cancel")))
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened: a name ran as script", n)
	}
}

// hover moves the pointer over the model chart at the newest period where name has a value, and checks
// that the tip says that period's time and each series' exact value, as the chart's JSON for the same
// question says.
func hover(t *testing.T, b *browser, name string) {
	t.Helper()
	q := eval[string](b, `document.getElementById('chart-model').dataset.query`)
	var c struct {
		Width, Height int
		Plot          struct{ Left, Top, Right, Bottom int }
		Periods       []struct{ Time, Total string }
		Series        []struct {
			Name, Label string
			Values      []float64
			Text        []string
		}
	}
	raw, _ := json.Marshal(b.srv.api("GET", "/stats/chart/model.json"+q, ""))
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	p := -1
	for _, s := range c.Series {
		if s.Name == name {
			for i, v := range s.Values {
				if v > 0 {
					p = i
				}
			}
		}
	}
	if p < 0 {
		t.Fatalf("%s has no period in the chart", name)
	}
	rect := eval[map[string]float64](b, `(r => ({x: r.left, y: r.top, w: r.width, h: r.height}))(document.getElementById('chart-model').getBoundingClientRect())`)
	x := rect["x"] + (float64(c.Plot.Left)+(float64(p)+0.5)*float64(c.Plot.Right-c.Plot.Left)/float64(len(c.Periods)))*rect["w"]/float64(c.Width)
	y := rect["y"] + float64(c.Plot.Bottom-4)*rect["h"]/float64(c.Height)
	b.do("hover the chart", chromedp.MouseEvent(chromedp.MouseMoved, x, y))
	tip := eval[map[string]string](b, `(t => ({period: t.dataset.period || '', hidden: String(t.hidden), text: t.innerText}))(document.querySelector('#figure-model .tip'))`)
	if tip["hidden"] != "false" || tip["period"] != fmt.Sprint(p) {
		t.Fatalf("hovering period %d: tip %v", p, tip)
	}
	if !strings.Contains(tip["text"], c.Periods[p].Time) || !strings.Contains(tip["text"], c.Periods[p].Total) {
		t.Errorf("tip %q lacks the time %q or the total %q", tip["text"], c.Periods[p].Time, c.Periods[p].Total)
	}
	for _, s := range c.Series {
		if s.Values[p] > 0 && !strings.Contains(tip["text"], s.Label) || s.Values[p] > 0 && !strings.Contains(tip["text"], s.Text[p]) {
			t.Errorf("tip %q lacks %s: %s", tip["text"], s.Label, s.Text[p])
		}
	}
	b.do("leave the chart", chromedp.MouseEvent(chromedp.MouseMoved, 2, 2))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func checkNotBlank(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	colours := map[[3]uint32]bool{}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y += 4 {
		for x := bd.Min.X; x < bd.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	if len(colours) < 20 || bd.Dx() < 370 {
		t.Errorf("screenshot %v has %d colours: blank?", bd.Size(), len(colours))
	}
}
