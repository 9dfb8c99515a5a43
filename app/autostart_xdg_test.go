//go:build !windows && !darwin

package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAutostartXDG(t *testing.T) {
	cfgHome := filepath.Join(t.TempDir(), "config with space")
	env := map[string]string{"XDG_CONFIG_HOME": cfgHome, "HOME": "/nonexistent"}
	getenv := func(k string) string { return env[k] }
	data := filepath.Join(t.TempDir(), `my "data" $dir`)
	cfg := Config{DataDir: data, Given: map[string]bool{"data-dir": true}}
	b := newSettingsBackend(cfg, getenv, func(string) {})
	entry := filepath.Join(cfgHome, "autostart", "tokenstats.desktop")

	if on, err := b.StartAtLogin(); err != nil || on {
		t.Fatalf("before: StartAtLogin = %v, %v; want false", on, err)
	}
	if err := b.SetStartAtLogin(true); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(entry)
	if err != nil {
		t.Fatalf("no autostart entry at %s: %v", entry, err)
	}
	text := string(raw)
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	var execLine string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "Exec=") {
			execLine = strings.TrimPrefix(l, "Exec=")
		}
	}
	// Undo the two escaping layers (file format, then Exec quoting) to get the argument vector back.
	args := splitDesktopExec(t, execLine)
	if len(args) != 3 || args[0] != exe || args[1] != "--data-dir" || args[2] != data {
		t.Errorf("Exec=%s parses to %q, want [%s --data-dir %s]", execLine, args, exe, data)
	}
	for _, want := range []string{"[Desktop Entry]\n", "Type=Application\n", "Name=Token Stats\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("entry lacks %q:\n%s", want, text)
		}
	}
	if on, err := b.StartAtLogin(); err != nil || !on {
		t.Errorf("after enabling: StartAtLogin = %v, %v; want true", on, err)
	}
	// A desktop's own "disable" writes Hidden=true into the entry; that counts as off.
	if err := os.WriteFile(entry, append(raw, []byte("Hidden=true\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if on, _ := b.StartAtLogin(); on {
		t.Error("Hidden=true entry reported as enabled")
	}
	if err := b.SetStartAtLogin(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Errorf("entry still there after disabling: %v", err)
	}
	if on, err := b.StartAtLogin(); err != nil || on {
		t.Errorf("after disabling: StartAtLogin = %v, %v", on, err)
	}
	if err := b.SetStartAtLogin(false); err != nil {
		t.Errorf("disabling twice: %v", err)
	}
}

// splitDesktopExec parses an Exec value per the Desktop Entry spec, independently of desktopQuote.
func splitDesktopExec(t *testing.T, v string) []string {
	// File-format unescaping: \\ → \, \s → space.
	var un strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 's':
				un.WriteByte(' ')
			default:
				un.WriteByte(v[i])
			}
			continue
		}
		un.WriteByte(v[i])
	}
	s := un.String()
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case !inQuote && c == ' ':
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		case c == '%' && i+1 < len(s) && s[i+1] == '%':
			i++
			cur.WriteByte('%')
			have = true
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		t.Fatalf("unterminated quote in Exec %q", v)
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}
