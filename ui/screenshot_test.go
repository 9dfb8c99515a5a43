package ui

import (
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

// TestScreenshot writes docs/screenshots/dashboard-test.png, the window rendered by the software test
// driver with sample data, when TOKENSTATS_SCREENSHOT=1.
func TestScreenshot(t *testing.T) {
	if os.Getenv("TOKENSTATS_SCREENSHOT") != "1" {
		t.Skip("set TOKENSTATS_SCREENSHOT=1 to write docs/screenshots/dashboard-test.png")
	}
	st := openStore(t)
	models := []string{"gemini-2.5-pro", "gemini-2.5-flash", "claude-sonnet-4-5", "gpt-5", "gpt-5-mini",
		"deepseek-chat", "qwen3-coder-plus", "glm-4.6", "kimi-k2", "gemini-2.5-flash-lite"}
	accounts := []string{"alice@example.com", "bob@example.com", "build-bot@example.com", "carol@example.com"}
	var recs []stats.Record
	for h := 0; h < 24*3; h++ {
		for i := 0; i < 1+(h*7)%5; i++ {
			m := models[(h+i*3)%len(models)]
			recs = append(recs, stats.Record{Time: time.Now().Add(-time.Duration(h)*time.Hour - time.Duration(i)*time.Minute),
				Account: accounts[(h+i)%len(accounts)], Model: m,
				InputTokens: int64(20000 + (h*i*7919)%90000), OutputTokens: int64(1500 + (h*31+i*17)%6000),
				CachedTokens: int64((h * 1237 * i) % 15000)})
		}
	}
	record(t, st, recs...)
	a := test.NewTempApp(t)
	a.Settings().SetTheme(theme.LightTheme())
	d := NewDashboard(a, Deps{Store: st, IngestURL: testURL, Token: func() string { return testToken }})
	t.Cleanup(d.Close)
	d.win.Resize(fyne.NewSize(1280, 860))
	d.Show()
	d.waitIdle()
	d.win.Content().Refresh()
	d.waitIdle()
	img := d.win.Canvas().Capture()
	out := filepath.Join("..", "docs", "screenshots", "dashboard-test.png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	fmt.Println("wrote", out, img.Bounds())
}
