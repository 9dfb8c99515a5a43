package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// TestBrowserTabDownloads: the tab's Download menu saves the records of the range shown as the file the
// server names, byte for byte what GET /stats/export answers the API, and the page stays where it is.
func TestBrowserTabDownloads(t *testing.T) {
	needTool(t, chromiumPath)
	srv := startTabServer(t)
	now := time.Now().Unix()
	srv.post([]map[string]any{
		{"model": "gemini-2.5-pro", "account_email": "张伟@example.com", "input_tokens": 1200, "output_tokens": 30, "timestamp": now - 600},
		{"model": "模型-实验", "account_email": "alice@example.com", "input_tokens": 99, "output_tokens": 1, "timestamp": now - 7200},
		{"model": "old", "account_email": "alice@example.com", "input_tokens": 5, "output_tokens": 5, "timestamp": now - 30*3600},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()

	dir := t.TempDir()
	on := true
	if _, err := chromedp.CallBrowser(tab, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &on}); err != nil {
		t.Fatal(err)
	}
	begun := make(chan cdpbrowser.EventDownloadWillBegin, 1)
	finished := make(chan cdpbrowser.EventDownloadProgress, 1)
	go func() {
		for ev, err := range chromedp.BrowserEvents(tab, cdpbrowser.DownloadWillBegin) {
			if err != nil {
				return
			}
			begun <- ev
		}
	}()
	go func() {
		for ev, err := range chromedp.BrowserEvents(tab, cdpbrowser.DownloadProgress) {
			if err != nil {
				return
			}
			if ev.State == cdpbrowser.DownloadProgressStateCompleted || ev.State == cdpbrowser.DownloadProgressStateCanceled {
				finished <- ev
			}
		}
	}()

	if err := chromedp.Do(tab, chromedp.Navigate(srv.url+"/?token="+browserToken),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="loaded"][data-hours="24"]`))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`(() => { const s = document.getElementById('download');
		s.value = '/stats/export?format=csv'; s.dispatchEvent(new Event('change')); return s.value === ''; })()`)); err != nil {
		t.Fatal(err)
	}
	var will cdpbrowser.EventDownloadWillBegin
	select {
	case will = <-begun:
	case <-ctx.Done():
		t.Fatal("choosing Records (CSV) started no download")
	}
	if !regexp.MustCompile(`^tokenstats-records-24h-\d{8}-\d{4}\.csv$`).MatchString(will.SuggestedFilename) {
		t.Errorf("the download is named %q", will.SuggestedFilename)
	}
	select {
	case ev := <-finished:
		if ev.State != cdpbrowser.DownloadProgressStateCompleted {
			t.Fatalf("download %s", ev.State)
		}
	case <-ctx.Done():
		t.Fatal("the download did not finish")
	}
	got, err := os.ReadFile(filepath.Join(dir, will.GUID))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.url+"/stats/export?format=csv&hours=24", nil)
	req.Header.Set("Authorization", "Bearer "+browserToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, want) || bytes.Count(got, []byte("\n")) != 3 || !bytes.Contains(got, []byte("张伟@example.com")) {
		t.Fatalf("downloaded\n%s\nthe API exports\n%s", got, want)
	}
	loc, err := chromedp.Run(tab, chromedp.Location())
	if err != nil || loc != srv.url+"/" {
		t.Errorf("after the download the page is at %q (%v)", loc, err)
	}
}
