package ui

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/tokenstats/tokenstats/stats"
)

// TestScreenshot writes docs/screenshots/dashboard-en.png and dashboard-zh.png, the window at its
// default size rendered by the software test driver with sample data (a Chinese model and account
// among them), when TOKENSTATS_SCREENSHOT=1:
//
//	TOKENSTATS_SCREENSHOT=1 go test -run TestScreenshot ./ui
func TestScreenshot(t *testing.T) {
	if os.Getenv("TOKENSTATS_SCREENSHOT") != "1" {
		t.Skip("set TOKENSTATS_SCREENSHOT=1 to write docs/screenshots/dashboard-{en,zh}.png")
	}
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "s.db"), stats.Options{Location: time.UTC, Pricer: priceAll{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	models := []string{"gemini-2.5-pro", "gemini-2.5-flash", "claude-sonnet-4-5", "gpt-5", "通义千问-max", "deepseek-chat"}
	accounts := []string{"alice.chen@example.com", "bob@example.com", "build-bot@example.com", "张伟@例子.cn", "carol@example.com"}
	now := time.Now()
	var recs []stats.Record
	for h := 0; h < 24*8; h++ {
		for i := 0; i < 1+(h*7)%4; i++ {
			recs = append(recs, stats.Record{Time: now.Add(-time.Duration(h)*time.Hour - time.Duration(i*7)*time.Minute),
				Account: accounts[(h+i)%len(accounts)], Model: models[(h+i*3)%len(models)], Source: []string{"gcli2api", "claude-code", "litellm"}[i%3],
				InputTokens: int64(20000 + (h*i*7919)%90000), OutputTokens: int64(1500 + (h*31+i*17)%6000),
				CachedTokens: int64((h * 1237 * i) % 15000), ReasoningTokens: int64((h * 11) % 900)})
		}
	}
	record(t, st, recs...)
	for _, c := range []struct {
		lang, file string
		rangeIdx   int
		filter     func(d *Dashboard)
	}{
		{"en", "dashboard-en.png", defaultRange, func(*Dashboard) {}},
		{"zh-Hans", "dashboard-zh.png", 4, func(d *Dashboard) { d.toggleFilter(stats.ByAccount, "张伟@例子.cn") }},
	} {
		if err := UseLanguage(c.lang); err != nil {
			t.Fatal(err)
		}
		a := test.NewTempApp(t)
		a.Settings().SetTheme(theme.LightTheme())
		d := NewDashboard(a, Deps{Store: st, IngestURL: testURL, Token: func() string { return testToken },
			CacheSavings: func(_ context.Context, w stats.Window, f stats.Filter) (stats.Money, bool) {
				s, err := st.Summary(context.Background(), w, f)
				return stats.Money(1200 * s.CachedTokens), err == nil // cached tokens read at 40 % of priceAll's price
			}})
		d.applying.Lock() // the test is the UI thread (see hold)
		d.win.Resize(fyne.NewSize(1240, 820))
		d.Show()
		d.rangeSel.SetSelectedIndex(c.rangeIdx)
		c.filter(d)
		idle(d)
		d.win.Content().Refresh()
		idle(d)
		img := d.win.Canvas().Capture()
		d.applying.Unlock()
		d.Close()
		out := filepath.Join("..", "docs", "screenshots", c.file)
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		fmt.Println("wrote", out, img.Bounds())
	}
	if err := UseLanguage("en"); err != nil {
		t.Fatal(err)
	}
}
