package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/ui"
)

// TestDesktopE2E runs the real binary under Xvfb inside dbus-run-session, with a StatusNotifierWatcher
// written for the test standing in for the panel. The test re-runs itself inside dbus-run-session, so the
// watcher and the app share a private session bus.
//
// TOKENSTATS_SCREENSHOT=1 also saves the window's screenshot as docs/screenshots/dashboard.png
// (another value: that file).
func TestDesktopE2E(t *testing.T) {
	if bin, inner := inDBusSession(t, "xvfb, dbus, imagemagick, x11-utils", "import", "xwininfo"); inner {
		desktopE2E(t, bin)
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startXvfb(t *testing.T) string {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// -displayfd: Xvfb picks a free display and writes its number to fd 3 once it accepts clients.
	x := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1440x900x24", "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	var xerr lockedBuffer
	x.Stderr = &xerr
	if err := x.Start(); err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { x.Process.Kill(); x.Wait() })
	num := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 16))
		num <- strings.TrimSpace(string(b))
	}()
	select {
	case n := <-num:
		if n == "" {
			t.Fatalf("Xvfb did not start: %s", xerr.String())
		}
		return ":" + n
	case <-time.After(20 * time.Second):
		t.Fatalf("Xvfb did not report its display: %s", xerr.String())
	}
	return ""
}

// xWindow finds the top-level window with this exact title: its id and whether it is mapped.
func xWindow(display, title string) (id uint32, viewable bool, err error) {
	out, err := exec.Command("xwininfo", "-display", display, "-name", title).CombinedOutput()
	if err != nil {
		return 0, false, fmt.Errorf("xwininfo -name %q: %v: %s", title, err, out)
	}
	m := regexp.MustCompile(`Window id: (0x[0-9a-f]+)`).FindSubmatch(out)
	if m == nil {
		return 0, false, fmt.Errorf("xwininfo: no window id in %s", out)
	}
	v, err := strconv.ParseUint(string(m[1]), 0, 32)
	if err != nil {
		return 0, false, err
	}
	return uint32(v), bytes.Contains(out, []byte("Map State: IsViewable")), nil
}

// waitFor polls cond until it holds or the timeout passes; it returns the last error.
func waitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(25 * time.Millisecond)
	}
}

type e2eRecord struct {
	Account   string `json:"account_email"`
	Model     string `json:"model"`
	Input     int64  `json:"input_tokens"`
	Output    int64  `json:"output_tokens"`
	Cached    int64  `json:"cached_tokens,omitempty"`
	Timestamp int64  `json:"timestamp,omitempty"`
}

func postRecords(t *testing.T, base, token string, recs []e2eRecord) {
	t.Helper()
	body, _ := json.Marshal(recs)
	req, _ := http.NewRequest(http.MethodPost, base+"/usage", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /usage: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /usage: %s: %s", resp.Status, b)
	}
}

func desktopE2E(t *testing.T, bin string) {
	display, conn, watcher := desktopSession(t)
	tipSignals := make(chan *dbus.Signal, 64)
	conn.Signal(tipSignals)
	if err := conn.AddMatchSignal(dbus.WithMatchInterface("org.kde.StatusNotifierItem"), dbus.WithMatchMember("NewToolTip")); err != nil {
		t.Fatal(err)
	}

	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	const token = "e2e-token-0123456789"
	env := append(os.Environ(), "DISPLAY="+display, "TOKENSTATS_TOKEN="+token, "HOME="+tmp,
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "TOKENSTATS_TZ=", "TOKENSTATS_LISTEN=", "TOKENSTATS_HEADLESS=")
	launch := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--listen", "127.0.0.1:0", "--data-dir", data}, args...)...)
		cmd.Env = env
		return cmd
	}
	app := launch()
	var appOut lockedBuffer
	app.Stdout, app.Stderr = &appOut, &appOut
	if err := app.Start(); err != nil {
		t.Fatalf("start the app: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- app.Wait() }()
	defer func() {
		select {
		case <-exited:
		default:
			app.Process.Kill()
			<-exited
		}
		t.Logf("app output:\n%s", appOut.String())
	}()

	// The listener's real address, written to the data folder.
	base := waitListenURL(t, data)
	if fi, err := os.Stat(filepath.Join(data, "listen-url")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("listen-url mode: %v %v, want 0600", fi.Mode(), err)
	}
	var item sniItem
	select {
	case item = <-watcher.added:
	case <-time.After(30 * time.Second):
		t.Fatal("the tray item never registered with the StatusNotifierWatcher")
	}
	t.Logf("tray item %s%s, listener %s", item.Bus, item.Path, base)

	var winID uint32
	if err := waitFor(30*time.Second, func() error {
		id, viewable, err := xWindow(display, "Token Stats")
		if err == nil && !viewable {
			err = fmt.Errorf("window 0x%x is not viewable", id)
		}
		winID = id
		return err
	}); err != nil {
		t.Fatalf("no viewable window titled \"Token Stats\": %v", err)
	}

	// The tray icon is ours: the 64×64 tray PNG as an ARGB pixmap.
	if v, err := conn.Object(item.Bus, item.Path).GetProperty("org.kde.StatusNotifierItem.IconPixmap"); err != nil {
		t.Errorf("read IconPixmap: %v", err)
	} else {
		var pix []struct {
			W, H int32
			Data []byte
		}
		if err := v.Store(&pix); err != nil || len(pix) == 0 || pix[0].W != 64 || pix[0].H != 64 || len(pix[0].Data) != 64*64*4 {
			t.Errorf("IconPixmap %d entries (%v), want one 64×64 ARGB image", len(pix), err)
		}
	}

	// Today's cost at the built-in prices, summed here record by record.
	emb, err := pricing.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	table, err := pricing.NewTable(emb, nil)
	if err != nil {
		t.Fatal(err)
	}
	pricer := pricing.NewPricer(table)
	var today stats.Totals
	addToday := func(rs ...e2eRecord) {
		for _, r := range rs {
			rec := stats.Record{Model: r.Model, InputTokens: r.Input, OutputTokens: r.Output, CachedTokens: r.Cached}
			t := stats.Totals{Requests: 1, Unpriced: 1}
			if cost, ok := pricer.Price(&rec); ok {
				t.Cost, t.Unpriced = cost, 0
			}
			today.Add(t)
		}
	}
	want := func(tokens, requests, lastHour int64) string {
		reqs := fmt.Sprintf("%s requests", ui.Exact(requests))
		if requests == 1 {
			reqs = "1 request"
		}
		return fmt.Sprintf("Token Stats — today %s tokens (%s) · %s · last hour %s tokens",
			ui.Short(tokens), costText(today), reqs, ui.Short(lastHour))
	}
	var tip sniToolTip
	if err := waitFor(10*time.Second, func() error {
		tip, err = readToolTip(conn, item)
		if err == nil && tip.Title != want(0, 0, 0) {
			err = fmt.Errorf("ToolTip title %q, want %q", tip.Title, want(0, 0, 0))
		}
		return err
	}); err != nil {
		t.Fatalf("initial tooltip: %v", err)
	}
	for len(tipSignals) > 0 {
		<-tipSignals
	}

	// Records arrive: the tooltip shows the new totals within 1 s, and the item signals NewToolTip so
	// panels re-read it.
	recs := []e2eRecord{
		{Account: "alice@example.com", Model: "gpt-4o", Input: 1200, Output: 300},
		{Account: "bob@example.com", Model: "claude-sonnet-4", Input: 800, Output: 450, Cached: 100},
		{Account: "alice@example.com", Model: "gemini-2.5-pro", Input: 6400, Output: 900},
	}
	var sum int64
	for _, r := range recs {
		sum += r.Input + r.Output
	}
	postRecords(t, base, token, recs)
	addToday(recs...)
	posted := time.Now()
	wantTip := want(sum, int64(len(recs)), sum)
	if err := waitFor(time.Second, func() error {
		tip, err = readToolTip(conn, item)
		if err == nil && tip.Title != wantTip {
			err = fmt.Errorf("ToolTip title %q, want %q", tip.Title, wantTip)
		}
		return err
	}); err != nil {
		t.Fatalf("tooltip 1 s after the records: %v", err)
	}
	t.Logf("tooltip %q seen %v after the POST answered", tip.Title, time.Since(posted).Round(time.Millisecond))
	if err := waitFor(time.Second, func() error {
		select {
		case s := <-tipSignals:
			if s.Name == "org.kde.StatusNotifierItem.NewToolTip" && s.Sender == item.Bus {
				return nil
			}
			return fmt.Errorf("got %s from %s", s.Name, s.Sender)
		default:
			return fmt.Errorf("no NewToolTip signal")
		}
	}); err != nil {
		t.Errorf("NewToolTip after the change: %v", err)
	}

	// Sample data over the last day for the screenshot; wait for the live refresh to draw it.
	now := time.Now()
	var sample []e2eRecord
	models := []string{"gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "deepseek-v3", "qwen3-coder"}
	accounts := []string{"alice@example.com", "bob@example.com", "ci-bot@example.com"}
	for h := 2; h < 26; h++ { // from 2 h back: the last hour holds only the records stamped now
		for i, m := range models {
			if (h+i)%3 == 0 {
				continue
			}
			sample = append(sample, e2eRecord{
				Account: accounts[(h+i)%len(accounts)], Model: m,
				Input: int64(2000 + 900*i + 150*h), Output: int64(300 + 120*i + 20*h), Cached: int64(100 * i),
				Timestamp: now.Add(-time.Duration(h)*time.Hour + time.Duration(i)*time.Minute).Unix(),
			})
		}
	}
	postRecords(t, base, token, sample)
	time.Sleep(2 * time.Second)
	shot := filepath.Join(tmp, "window.png")
	if out, err := exec.Command("import", "-display", display, "-window", fmt.Sprintf("0x%x", winID), "png:"+shot).CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v: %s", err, out)
	}
	checkNotBlank(t, shot)
	if dst := os.Getenv("TOKENSTATS_SCREENSHOT"); dst != "" {
		if dst == "1" {
			dst = filepath.Join("..", "docs", "screenshots", "dashboard.png")
		}
		if b, err := os.ReadFile(shot); err == nil {
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Errorf("save screenshot: %v", err)
			}
		}
	}

	// Closing the window hides it to the tray; the listener keeps recording.
	if err := x11CloseWindow(display, winID); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(10*time.Second, func() error {
		_, viewable, err := xWindow(display, "Token Stats")
		if err == nil && viewable {
			err = fmt.Errorf("still viewable")
		}
		return err
	}); err != nil {
		t.Fatalf("closing the window did not hide it: %v", err)
	}
	select {
	case err := <-exited:
		t.Fatalf("closing the window with a tray host quit the app: %v", err)
	default:
	}
	more := []e2eRecord{{Account: "carol@example.com", Model: "gpt-4o", Input: 5, Output: 5}}
	postRecords(t, base, token, more)
	// Today (since local midnight; the app and this test share the zone) and the last hour, summed here.
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local).Unix()
	var todayTokens, todayReqs, hourTokens int64
	addToday(more...)
	for _, r := range sample {
		if r.Timestamp >= midnight {
			addToday(r)
		}
	}
	for _, r := range append(append(append([]e2eRecord{}, recs...), more...), sample...) {
		if r.Timestamp == 0 || r.Timestamp >= midnight {
			todayTokens += r.Input + r.Output
			todayReqs++
		}
		if r.Timestamp == 0 {
			hourTokens += r.Input + r.Output
		}
	}
	wantTip = want(todayTokens, todayReqs, hourTokens)
	if err := waitFor(time.Second, func() error {
		tip, err = readToolTip(conn, item)
		if err == nil && tip.Title != wantTip {
			err = fmt.Errorf("ToolTip title %q, want %q", tip.Title, wantTip)
		}
		return err
	}); err != nil {
		t.Errorf("recording while hidden: %v", err)
	}

	// The tray menu, as a panel sees it: the six entries in order; "Open dashboard" brings the window back.
	menu, entries, err := trayMenu(conn, item)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	openID := int32(-1)
	for _, e := range entries {
		if e.Label != "" {
			labels = append(labels, e.Label)
		}
		if e.Label == "Open dashboard" {
			openID = e.ID
		}
	}
	if got, want := strings.Join(labels, "|"), "Open dashboard|Open in browser|Connect a tool…|Copy ingest URL|Copy token|Quit"; got != want {
		t.Errorf("tray menu %q, want %q", got, want)
	}
	if openID >= 0 {
		if err := menu.Call("com.canonical.dbusmenu.Event", 0, openID, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
			t.Fatalf("click Open dashboard: %v", err)
		}
		if err := waitFor(10*time.Second, func() error {
			_, viewable, err := xWindow(display, "Token Stats")
			if err == nil && !viewable {
				err = fmt.Errorf("still hidden")
			}
			return err
		}); err != nil {
			t.Errorf("Open dashboard in the tray menu did not show the window: %v", err)
		}
		// Hide it again for the second-launch check below.
		if err := x11CloseWindow(display, winID); err != nil {
			t.Fatal(err)
		}
		if err := waitFor(10*time.Second, func() error {
			_, viewable, err := xWindow(display, "Token Stats")
			if err == nil && viewable {
				err = fmt.Errorf("still viewable")
			}
			return err
		}); err != nil {
			t.Fatalf("closing the window again did not hide it: %v", err)
		}
	}

	// A headless second launch: a clear error, exit 1.
	var out2 bytes.Buffer
	second := launch("--headless")
	second.Stdout, second.Stderr = &out2, &out2
	err = second.Run()
	if code := second.ProcessState.ExitCode(); code != 1 || !strings.Contains(out2.String(), "another Token Stats is running") {
		t.Errorf("headless second launch: exit %d (%v), output %q; want exit 1 and \"another Token Stats is running\"", code, err, out2.String())
	}

	// A desktop second launch: no second listener, the first shows its window, exit 0 with the message.
	out2.Reset()
	second = launch()
	second.Stdout, second.Stderr = &out2, &out2
	err = second.Run()
	if code := second.ProcessState.ExitCode(); code != 0 || !strings.Contains(out2.String(), alreadyRunning) {
		t.Errorf("second launch: exit %d (%v), output %q; want exit 0 and %q", code, err, out2.String(), alreadyRunning)
	}
	if err := waitFor(10*time.Second, func() error {
		_, viewable, err := xWindow(display, "Token Stats")
		if err == nil && !viewable {
			err = fmt.Errorf("still hidden")
		}
		return err
	}); err != nil {
		t.Errorf("the first instance's window was not shown: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "listen-url")); strings.TrimSpace(string(b)) != base {
		t.Errorf("listen-url changed to %q after the second launch, want %q", b, base)
	}

	// Without a tray host, closing the window quits cleanly: listener stopped, store closed.
	if _, err := conn.ReleaseName("org.kde.StatusNotifierWatcher"); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	if err := waitFor(15*time.Second, func() error {
		select {
		case exitErr = <-exited:
			return nil
		default:
		}
		// The app may not have seen the panel go yet (then this only hides the window): ask again.
		if id, viewable, err := xWindow(display, "Token Stats"); err == nil && viewable {
			x11CloseWindow(display, id)
		} else if err == nil {
			_ = id
		}
		time.Sleep(200 * time.Millisecond)
		return fmt.Errorf("the app is still running")
	}); err != nil {
		t.Fatalf("closing the window without a tray host: %v", err)
	}
	exited <- exitErr // for the deferred cleanup
	if exitErr != nil {
		t.Errorf("the app exited with %v, want 0", exitErr)
	}
	if _, err := os.Stat(filepath.Join(data, "listen-url")); !os.IsNotExist(err) {
		t.Errorf("listen-url left behind after a clean stop: %v", err)
	}
	st, _, err := stats.Open(filepath.Join(data, "tokenstats.db"), stats.Options{})
	if err != nil {
		t.Fatalf("reopen the store after quit: %v", err)
	}
	defer st.Close()
	sumAll, err := st.Summary(context.Background(), stats.LastHours(time.Now().Add(time.Minute), stats.MaxHours), stats.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(len(recs) + len(sample) + len(more)); sumAll.Requests != n {
		t.Errorf("the store holds %d requests after quit, want %d", sumAll.Requests, n)
	}
}

// checkNotBlank fails unless the screenshot has real content: many colours and visible contrast.
func checkNotBlank(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	b := img.Bounds()
	colours := map[[3]uint32]bool{}
	var sum, sum2, n float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			l := 0.299*float64(r>>8) + 0.587*float64(g>>8) + 0.114*float64(bl>>8)
			sum += l
			sum2 += l * l
			n++
		}
	}
	mean := sum / n
	sd := math.Sqrt(sum2/n - mean*mean)
	t.Logf("screenshot %dx%d: %d colours, luminance mean %.1f, std dev %.1f", b.Dx(), b.Dy(), len(colours), mean, sd)
	if b.Dx() < 200 || b.Dy() < 150 || len(colours) < 16 || sd < 8 {
		t.Errorf("the window looks blank: %dx%d, %d colours, std dev %.1f", b.Dx(), b.Dy(), len(colours), sd)
	}
}
