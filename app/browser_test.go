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
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

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
}

type rowView struct {
	Name  string   `json:"name"`
	Title string   `json:"title"`
	Exact []string `json:"exact"`
	Text  []string `json:"text"`
}

const readCards = `Object.fromEntries([...document.querySelectorAll('.card')].map(c =>
	[c.id, {exact: c.dataset.exact || '', text: c.querySelector('.value').textContent, title: c.title}]))`

const readRows = `(id => [...document.querySelectorAll('#' + id + ' tbody tr')].filter(tr => !tr.querySelector('.empty')).map(tr => {
	const td = [...tr.cells];
	return {name: td[0].textContent, title: td[0].title, exact: td.slice(1, 6).map(c => c.dataset.exact),
		text: td.slice(1, 6).map(c => c.textContent)};
}))`

func TestBrowserTab(t *testing.T) {
	needTool(t, chromiumPath)
	srv := startTabServer(t)

	now := time.Now().Unix()
	var recs []map[string]any
	add := func(model, account string, in, out, cached int64, ago time.Duration) {
		recs = append(recs, map[string]any{"model": model, "account_email": account, "input_tokens": in,
			"output_tokens": out, "cached_tokens": cached, "timestamp": now - int64(ago/time.Second)})
	}
	// Distinct totals per name, so both sides order rows the same way; 1250 exercises the half-even rule.
	add("gemini-2.5-pro", "alice@example.com", 1_200_000, 34_000, 500_000, 10*time.Minute)
	add("gemini-2.5-pro", "bob@example.com", 800_000, 21_000, 0, 5*time.Hour)
	add("claude-sonnet-4", "alice@example.com", 45_600, 7_800, 1250, 30*time.Minute)
	add(hostileName, "mallory@example.com", 1250, 0, 0, 20*time.Minute)
	add("gpt-4.1", "ops&<b>dev</b>@example.org", 999_950, 50, 0, 3*time.Hour)
	for i := 0; i < 12; i++ {
		add(fmt.Sprintf("small-model-%02d", i), "ci@example.net", int64(100+i*37), int64(i), 0, time.Duration(i)*time.Hour+time.Minute)
	}
	srv.post(recs)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath), chromedp.UserDataDir(t.TempDir()), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000))
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()

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

	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitLoaded := func(hours int) {
		t.Helper()
		do(fmt.Sprintf("wait for the %d h range to load", hours),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-state="loaded"][data-hours="%d"]`, hours))))
	}

	// Log in through the token link.
	do("open the token link", chromedp.Navigate(srv.url+"/?token="+browserToken))
	waitLoaded(24)
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

	checkRange := func(hours int) {
		t.Helper()
		q := fmt.Sprintf("?hours=%d", hours)
		sum := srv.api("GET", "/stats/summary"+q, "")["data"].(map[string]any)
		cards, err := chromedp.Run(tab, chromedp.Evaluate[map[string]cardView](readCards))
		if err != nil {
			t.Fatal(err)
		}
		for id, key := range map[string]string{"card-total": "total_tokens", "card-input": "total_input_tokens",
			"card-output": "total_output_tokens", "card-cached": "total_cached_tokens", "card-requests": "total_requests",
			"card-accounts": "unique_accounts", "card-models": "unique_models"} {
			n := num(sum[key])
			want := cardView{Exact: fmt.Sprint(n), Text: ui.Short(n), Title: ui.Exact(n)}
			if cards[id] != want {
				t.Errorf("%d h, %s: page shows %+v, API says %+v", hours, id, cards[id], want)
			}
		}
		for _, dim := range []struct{ table, route, field string }{
			{"table-model", "/stats/by-model", "model"}, {"table-account", "/stats/by-account", "account_email"},
		} {
			rows, err := chromedp.Run(tab, chromedp.Evaluate[[]rowView](readRows+"('"+dim.table+"')"))
			if err != nil {
				t.Fatal(err)
			}
			data := srv.api("GET", dim.route+q, "")["data"].([]any)
			if len(rows) != len(data) {
				t.Fatalf("%d h, %s: %d rows on the page, %d from the API", hours, dim.table, len(rows), len(data))
			}
			for i, d := range data {
				m := d.(map[string]any)
				name := m[dim.field].(string)
				var want rowView
				want.Name, want.Title = name, name
				for _, k := range []string{"request_count", "total_input_tokens", "total_output_tokens", "total_cached_tokens", "total_tokens"} {
					want.Exact = append(want.Exact, fmt.Sprint(num(m[k])))
					want.Text = append(want.Text, ui.Short(num(m[k])))
				}
				if fmt.Sprint(rows[i]) != fmt.Sprint(want) {
					t.Errorf("%d h, %s row %d: page %+v, API %+v", hours, dim.table, i, rows[i], want)
				}
			}
		}
	}
	checkRange(24)

	// Shortened numbers are the desktop's, number for number, rounding ties included.
	samples := []int64{0, 7, 999, 1000, 1049, 1050, 1150, 1250, 1350, 1450, 2250, 999_949, 999_950, 1_000_000,
		1_250_000, 12_345_678, 999_950_000, 1_234_567_890, 3_750_000_000_000, 1 << 40, 9_007_199_254_740_991}
	for i := int64(1); i < 3000; i++ {
		samples = append(samples, i*i*i*7+i)
	}
	b, _ := json.Marshal(samples)
	formatted, err := chromedp.Run(tab, chromedp.Evaluate[[][2]string](
		`(`+string(b)+`).map(n => [TokenStatsFormat.short(n), TokenStatsFormat.exact(n)])`))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range samples {
		if want := [2]string{ui.Short(n), ui.Exact(n)}; formatted[i] != want {
			t.Errorf("%d: page writes %q, the desktop %q", n, formatted[i], want)
		}
	}

	// Dollars are written as the desktop writes them.
	amounts := []stats.Money{0, 1, 49_999, 50_000, 12_500_000, 500_000_000, 999_949_999, 999_960_000, 1_000_000_000,
		3_404_999_999, 3_405_000_001, 1_234_567_890_000}
	for i := int64(1); i < 400; i++ {
		amounts = append(amounts, stats.Money(i*i*i*i*97+i))
	}
	var usd []string
	for _, m := range amounts {
		usd = append(usd, strings.TrimPrefix(m.String(), "$")) // exact decimals, as the API writes them
	}
	dollars, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[`+strings.Join(usd, ",")+`].map(TokenStatsFormat.money)`))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range amounts {
		if dollars[i] != ui.Money(m) {
			t.Errorf("%s: page writes %q, the desktop %q", m, dollars[i], ui.Money(m))
		}
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
	hostile, err := chromedp.Run(tab, chromedp.Evaluate[map[string]int](`({
		cells: [...document.querySelectorAll('#table-model td.name')].filter(td => td.textContent === `+jsString(hostileName)+`).length,
		imgs: document.querySelectorAll('img').length,
		onerror: document.querySelectorAll('[onerror]').length})`))
	if err != nil {
		t.Fatal(err)
	}
	if hostile["cells"] != 1 || hostile["imgs"] != 2 || hostile["onerror"] != 0 {
		t.Errorf("hostile name: %v (want 1 text cell, only the 2 chart images, no onerror attribute)", hostile)
	}

	// Both charts came from the server as images.
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](`['chart-model', 'chart-account'].every(id => {
		const img = document.getElementById(id); return img.complete && img.naturalWidth > 0; })`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Errorf("chart images did not load: %v", err)
	}

	// Sorting by name, then filtering down to nothing shows the empty state.
	do("sort by name", chromedp.Click(chromedp.CSS(`#table-model th[data-key="name"] button`)))
	names, err := chromedp.Run(tab, chromedp.Evaluate[[][]string](`(() => {
		const shown = [...document.querySelectorAll('#table-model td.name')].map(td => td.textContent);
		return [shown, shown.slice().sort((a, b) => a.localeCompare(b))]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(names[0]) < 10 || strings.Join(names[0], "\n") != strings.Join(names[1], "\n") {
		t.Errorf("sorted by name, the table shows %q", names[0])
	}
	do("filter", chromedp.SendKeys(chromedp.ID("filter-model"), "no-such-model"))
	empty, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#table-model td.empty`)))
	if err != nil || !strings.Contains(empty, "no-such-model") {
		t.Errorf("empty state after filtering: %q %v", empty, err)
	}
	do("clear the filter", chromedp.Evaluate[chromedp.Void](`(f => { f.value = ''; f.dispatchEvent(new Event('input')); })(document.getElementById('filter-model'))`),
		chromedp.Click(chromedp.CSS(`#table-model th[data-key="total"] button`)))

	// Live: a new record shows up without a reload (server-sent events, or polling as the fallback).
	before := srv.api("GET", "/stats/summary?hours=24", "")["data"].(map[string]any)
	srv.post([]map[string]any{{"model": "gemini-2.5-pro", "account_email": "alice@example.com", "input_tokens": 7,
		"output_tokens": 3, "timestamp": time.Now().Unix()}})
	wantReq := num(before["total_requests"]) + 1
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`document.getElementById('card-requests').dataset.exact === '%d'`, wantReq),
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Errorf("the page did not follow a new record: %v", err)
	}
	waitLoaded(24)
	checkRange(24)

	// Switch the range.
	do("switch to the last hour", chromedp.SetValue(chromedp.ID("range"), "1"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('range').dispatchEvent(new Event('change'))`))
	waitLoaded(1)
	checkRange(1)
	do("back to 24 h", chromedp.SetValue(chromedp.ID("range"), "24"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('range').dispatchEvent(new Event('change'))`))
	waitLoaded(24)

	// The screenshot for the README, after the charts have loaded.
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](`['chart-model', 'chart-account'].every(id => {
		const img = document.getElementById(id); return img.complete && img.naturalWidth > 0; })`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Errorf("chart images did not load: %v", err)
	}
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	checkNotBlank(t, shot)
	out := os.Getenv("TOKENSTATS_SCREENSHOT") // set to docs/screenshots/browser.png to refresh the README's
	if out == "" {
		out = filepath.Join(t.TempDir(), "browser.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}

	// 375 px wide: nothing sticks out sideways (tables scroll inside their panels).
	do("narrow viewport", chromedp.EmulateViewport(375, 800))
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](`document.documentElement.scrollWidth <= 375`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		w, _ := chromedp.Run(tab, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		t.Errorf("at 375 px the page is %d px wide", w)
	}
	if os.Getenv("TOKENSTATS_SCREENSHOT") != "" {
		// The charts re-render for the narrow width; wait for them before the phone-sized screenshot.
		chromedp.Run(tab, chromedp.Poll[chromedp.Void](`['chart-model', 'chart-account'].every(id => {
			const img = document.getElementById(id); return img.src.includes('width=3') && img.complete && img.naturalWidth > 0; })`,
			chromedp.WithPollingTimeout(10*time.Second)))
		if narrow, err := chromedp.Run(tab, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(strings.TrimSuffix(out, ".png")+"-375.png", narrow, 0o644)
		}
	}
	do("wide viewport", chromedp.EmulateViewport(1280, 1000))

	// Clear everything, through the confirmation.
	do("open clear", chromedp.Click(chromedp.ID("clear")), chromedp.WaitVisible(chromedp.ID("clear-next")),
		chromedp.Click(chromedp.ID("clear-all")), chromedp.Click(chromedp.ID("clear-next")),
		chromedp.WaitVisible(chromedp.ID("clear-go")))
	what, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("clear-confirm")))
	if err != nil {
		t.Fatal(err)
	}
	records := num(srv.api("GET", "/stats/db-info", "")["records"])
	if !strings.Contains(what, ui.Exact(records)+" records will be deleted") || !strings.Contains(what, "cannot be undone") {
		t.Errorf("confirmation says %q; want the %d records and that it cannot be undone", what, records)
	}
	do("confirm", chromedp.Click(chromedp.ID("clear-go")))
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](
		`document.getElementById('card-requests').dataset.exact === '0' && document.body.dataset.state === 'loaded'`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Errorf("cards did not drop to zero after clearing: %v", err)
	}
	sum := srv.api("GET", "/stats/summary?hours=87600", "")["data"].(map[string]any)
	if num(sum["total_requests"]) != 0 || num(sum["total_tokens"]) != 0 {
		t.Errorf("after clearing the API reports %v", sum)
	}
	emptyText, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#table-model td.empty`)))
	if err != nil || !strings.Contains(emptyText, "No data") {
		t.Errorf("empty table after clearing: %q %v", emptyText, err)
	}
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened: a name ran as script", n)
	}
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
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	if len(colours) < 20 || b.Dx() < 1000 {
		t.Errorf("screenshot %v has %d colours: blank?", b.Size(), len(colours))
	}
}
