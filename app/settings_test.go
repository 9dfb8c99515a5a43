package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSavedSettingsApplyUnderFlags(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	cfg, err := parseConfig([]string{"--data-dir", dir}, func(string) string { return "" }, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	b := newSettingsBackend(cfg, func(string) string { return "" }, func(string) {})
	if err := b.SetListenAddr("127.0.0.1:9999"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetTimeZone("Asia/Shanghai"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLanguage("zh-Hans"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "settings.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("settings.json: %v %v, want mode 0600", fi, err)
	}
	if got := b.ListenAddr(); got != "127.0.0.1:9999" {
		t.Errorf("ListenAddr = %q", got)
	}
	if got, lang := b.TimeZone(), b.Language(); got != "Asia/Shanghai" || lang != "zh-Hans" {
		t.Errorf("TimeZone, Language = %q, %q", got, lang)
	}

	// The next start without flags takes the saved values.
	got := withSavedSettings(cfg, &stderr)
	if got.Listen != "127.0.0.1:9999" || got.TZ != "Asia/Shanghai" {
		t.Errorf("no flags: listen %q tz %q, want the saved ones", got.Listen, got.TZ)
	}
	// A flag and an environment variable win over the file.
	env := map[string]string{"TOKENSTATS_TZ": "Europe/Paris"}
	cfg2, err := parseConfig([]string{"--data-dir", dir, "--listen", "127.0.0.1:0"}, func(k string) string { return env[k] }, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	got = withSavedSettings(cfg2, &stderr)
	if got.Listen != "127.0.0.1:0" || got.TZ != "Europe/Paris" {
		t.Errorf("with flag and env: listen %q tz %q, want 127.0.0.1:0 and Europe/Paris", got.Listen, got.TZ)
	}
	b2 := newSettingsBackend(cfg2, func(k string) string { return env[k] }, func(string) {})
	if err := b2.SetTimeZone("UTC"); err == nil || !strings.Contains(err.Error(), "TOKENSTATS_TZ") {
		t.Errorf("saving a zone that TOKENSTATS_TZ overrides: %v, want an error naming it", err)
	}

	// Bad values are refused and leave the file as it was.
	for _, bad := range []string{"8788", "example.com:80", "127.0.0.1:99999"} {
		if err := b.SetListenAddr(bad); err == nil {
			t.Errorf("SetListenAddr(%q) accepted", bad)
		}
	}
	if err := b.SetTimeZone("Mars/Olympus"); err == nil {
		t.Error("SetTimeZone(Mars/Olympus) accepted")
	}
	if err := b.SetLanguage("fr"); err == nil {
		t.Error("SetLanguage(fr) accepted")
	}
	if s, _ := loadSettings(dir); s.Listen != "127.0.0.1:9999" || s.TimeZone != "Asia/Shanghai" || s.Language != "zh-Hans" {
		t.Errorf("after refused changes the file holds %+v", s)
	}
	// Empty returns to the default.
	if err := b.SetListenAddr(""); err != nil {
		t.Fatal(err)
	}
	if got := withSavedSettings(cfg, &stderr); got.Listen != DefaultListen {
		t.Errorf("after clearing: listen %q, want %q", got.Listen, DefaultListen)
	}

	// A corrupt file is reported and ignored, not fatal.
	os.WriteFile(filepath.Join(dir, "settings.json"), []byte("{"), 0o600)
	stderr.Reset()
	if got := withSavedSettings(cfg, &stderr); got.Listen != cfg.Listen || !strings.Contains(stderr.String(), "ignoring saved settings") {
		t.Errorf("corrupt file: listen %q, stderr %q", got.Listen, stderr.String())
	}
}

func TestRegenerateTokenTakesEffect(t *testing.T) {
	dir := t.TempDir()
	var inEffect string
	b := newSettingsBackend(Config{DataDir: dir}, func(string) string { return "" }, func(s string) { inEffect = s })
	old, err := loadToken(dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.RegenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	saved, _ := loadToken(dir, func(string) string { return "" })
	if tok == old || tok != inEffect || tok != saved {
		t.Errorf("new %q, old %q, in effect %q, saved %q", tok, old, inEffect, saved)
	}
	fixed := newSettingsBackend(Config{DataDir: dir}, func(k string) string {
		if k == "TOKENSTATS_TOKEN" {
			return "from-env"
		}
		return ""
	}, func(string) { t.Error("token changed although TOKENSTATS_TOKEN sets it") })
	if _, err := fixed.RegenerateToken(); err == nil {
		t.Error("regenerating with TOKENSTATS_TOKEN set succeeded")
	}
}

func TestAppIDMatchesFyneAppToml(t *testing.T) {
	b, err := os.ReadFile("../FyneApp.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `ID = "`+AppID+`"`) {
		t.Errorf("FyneApp.toml does not carry ID = %q:\n%s", AppID, b)
	}
}
