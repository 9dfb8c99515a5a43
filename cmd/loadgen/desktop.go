package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats/statstest"
)

// DesktopResult is the desktop app's memory with the dashboard open, on an empty data folder and on the
// large data set, while records arrive and the window refreshes live.
type DesktopResult struct {
	When     time.Time `json:"when"`
	Records  int64     `json:"records"`
	EmptyRSS int64     `json:"empty_peak_rss_bytes"`
	FullRSS  int64     `json:"full_peak_rss_bytes"`
	Renderer string    `json:"renderer"`
}

// desktopCmd starts the real desktop app (no --headless) on the display in DISPLAY, once on an empty
// folder and once on a copy of the data set, posts records for a while and reads VmHWM.
func desktopCmd(args []string) error {
	fs := flag.NewFlagSet("desktop", flag.ContinueOnError)
	bin := fs.String("bin", "bin/tokenstats", "the tokenstats binary")
	dir := fs.String("dir", ".bench", "folder for data sets and runs")
	records := fs.Int("records", 10_000_000, "records in the large data set")
	maxAge := fs.Duration("max-age", 7*24*time.Hour, "regenerate a cached data set older than this")
	out := fs.String("out", ".bench/desktop.json", "where to write the figures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv("DISPLAY") == "" {
		return errors.New("DISPLAY is not set: run under Xvfb (make bench does)")
	}
	path, meta, err := statstest.Cached(context.Background(), *dir, *records, *maxAge, time.UTC)
	if err != nil {
		return err
	}
	res := DesktopResult{When: time.Now().UTC(), Records: int64(meta.Records), Renderer: glRenderer()}
	for _, full := range []bool{false, true} {
		d, err := os.MkdirTemp(*dir, "desktop-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		if full {
			if err := copyFile(path, filepath.Join(d, "tokenstats.db")); err != nil {
				return fmt.Errorf("copy the data set: %w", err)
			}
		}
		rss, err := desktopPeak(*bin, d)
		if err != nil {
			return err
		}
		if full {
			res.FullRSS = rss
		} else {
			res.EmptyRSS = rss
		}
		fmt.Fprintf(os.Stderr, "desktop, %s data folder: peak RSS %.1f MB\n", map[bool]string{false: "empty", true: "large"}[full], float64(rss)/(1<<20))
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

// desktopPeak runs the app for ~15 s of live ingest (one record every 50 ms, so the dashboard and the
// tray refresh all along) and returns its VmHWM.
func desktopPeak(bin, dataDir string) (int64, error) {
	srv, err := startBinary(bin, dataDir, "desktop-bench")
	if err != nil {
		return 0, err
	}
	defer srv.kill()
	time.Sleep(3 * time.Second) // the window's first load
	for i := 0; i < 300; i++ {
		body := fmt.Sprintf(`{"account_email":"desk%d@example.com","model":"model-%d","input_tokens":%d,"output_tokens":%d}`, i%5, i%7, 100+i, 10+i)
		req, _ := http.NewRequest("POST", srv.url+"/usage", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, fmt.Errorf("post to the desktop app: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("post to the desktop app: %s", resp.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	return srv.peakRSS(), nil
}

// glRenderer names the OpenGL renderer of the display, which owns much of a GL app's memory.
func glRenderer() string {
	for _, l := range strings.Split(cmdOut("glxinfo", "-B"), "\n") {
		if strings.Contains(l, "OpenGL renderer string") {
			return strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
		}
	}
	return "unknown (glxinfo from mesa-utils not installed)"
}
