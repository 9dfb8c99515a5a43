package app

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// A second launch meets the running instance's lock and asks it, over the local API, to show its window.
func TestSecondLaunchAsksTheRunningOne(t *testing.T) {
	dir := t.TempDir()
	noEnv := func(string) string { return "" }
	cfg := Config{Listen: "127.0.0.1:0", DataDir: dir}
	core, err := startCore(cfg, noEnv, newLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	b, err := os.ReadFile(filepath.Join(dir, "listen-url"))
	if err != nil || strings.TrimSpace(string(b)) != core.URL {
		t.Fatalf("listen-url holds %q (%v), want %q", b, err, core.URL)
	}
	if _, err := startCore(cfg, noEnv, newLogger(io.Discard)); err != errLocked {
		t.Fatalf("second startCore: %v, want errLocked", err)
	}

	// The running one is headless: no window to show, exit 1 saying so.
	var out, errOut bytes.Buffer
	if code := showRunning(cfg, noEnv, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "headless") {
		t.Errorf("against a headless instance: exit %d, stderr %q", code, errOut.String())
	}

	var shown atomic.Int32
	core.API.SetOnShow(func() { shown.Add(1) })
	out.Reset()
	errOut.Reset()
	if code := showRunning(cfg, noEnv, &out, &errOut); code != 0 || strings.TrimSpace(out.String()) != alreadyRunning || shown.Load() != 1 {
		t.Errorf("with a window: exit %d, stdout %q, stderr %q, shown %d times", code, out.String(), errOut.String(), shown.Load())
	}

	// A launch with another token is refused by the running one and says so.
	wrong := func(k string) string {
		if k == "TOKENSTATS_TOKEN" {
			return "not-the-token"
		}
		return ""
	}
	errOut.Reset()
	if code := showRunning(cfg, wrong, io.Discard, &errOut); code != 1 || !strings.Contains(errOut.String(), "401") || shown.Load() != 1 {
		t.Errorf("wrong token: exit %d, stderr %q, shown %d times", code, errOut.String(), shown.Load())
	}

	if err := core.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "listen-url")); !os.IsNotExist(err) {
		t.Errorf("listen-url left after Close: %v", err)
	}
}
