package app

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestConfigDefaultsEnvAndFlags(t *testing.T) {
	var stderr bytes.Buffer
	c, err := parseConfig(nil, env("HOME", "/home/u"), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.DataDir != filepath.Join("/home/u", ".local", "share", "tokenstats") || c.Headless || c.TZ != "" {
		t.Fatalf("defaults %+v", c)
	}
	c, _ = parseConfig(nil, env("HOME", "/home/u", "XDG_DATA_HOME", "/data", "TOKENSTATS_LISTEN", "127.0.0.1:9000",
		"TOKENSTATS_TZ", "Asia/Kolkata", "TOKENSTATS_HEADLESS", "1"), &stderr)
	if c.Listen != "127.0.0.1:9000" || c.DataDir != "/data/tokenstats" || c.TZ != "Asia/Kolkata" || !c.Headless {
		t.Fatalf("from env %+v", c)
	}
	c, _ = parseConfig([]string{"--listen", "127.0.0.1:0", "--data-dir", "/x", "--tz", "UTC", "token"},
		env("TOKENSTATS_LISTEN", "127.0.0.1:9000", "TOKENSTATS_DATA_DIR", "/y"), &stderr)
	if c.Listen != "127.0.0.1:0" || c.DataDir != "/x" || c.TZ != "UTC" || c.Command != "token" {
		t.Fatalf("flags must win over env: %+v", c)
	}
	c, _ = parseConfig(nil, env("HOME", "/h", "XDG_DATA_HOME", "relative/path"), &stderr)
	if c.DataDir != "/h/.local/share/tokenstats" {
		t.Fatalf("a relative XDG_DATA_HOME is ignored (XDG spec): %s", c.DataDir)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"--bogus"}, env("HOME", "/h"), "flag provided but not defined"},
		{[]string{"--listen", "nonsense"}, env("HOME", "/h"), "host:port"},
		{[]string{"--tz", "Mars/Olympus"}, env("HOME", "/h"), "Mars/Olympus"},
		{nil, env("HOME", "/h", "TOKENSTATS_HEADLESS", "maybe"), "TOKENSTATS_HEADLESS"},
		{nil, env(), "HOME"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, c.env, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", c.args, code, stderr.String(), c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, env("HOME", t.TempDir()), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, stderr.String())
	}
}

func TestHelpAndVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, env("HOME", "/h"), &stdout, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "Usage: tokenstats") || !strings.Contains(stderr.String(), "-listen") {
		t.Errorf("--help: exit %d, %q", code, stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"help"}, env("HOME", "/h"), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Commands:") {
		t.Errorf("help: exit %d, %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"version"}, env("HOME", "/h"), &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "tokenstats "+version) {
		t.Errorf("version: exit %d, %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"--version"}, env("HOME", "/h"), &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "tokenstats "+version) {
		t.Errorf("--version: exit %d, %q", code, stdout.String())
	}
}

func TestTokenGeneratedOnceAndPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out1, out2, stderr bytes.Buffer
	if code := run([]string{"--data-dir", dir, "token"}, env(), &out1, &stderr); code != 0 {
		t.Fatalf("token: %d %s", code, stderr.String())
	}
	tok := strings.TrimSpace(out1.String())
	if len(tok) != 64 {
		t.Fatalf("token %q is not 256 bits of hex", tok)
	}
	run([]string{"--data-dir", dir, "token"}, env(), &out2, &stderr)
	if strings.TrimSpace(out2.String()) != tok {
		t.Fatal("token changed between calls")
	}
	st, err := os.Stat(tokenFile(dir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v (%v)", st.Mode().Perm(), err)
	}
	var out3 bytes.Buffer
	run([]string{"--data-dir", dir, "token"}, env("TOKENSTATS_TOKEN", "from-env"), &out3, &stderr)
	if strings.TrimSpace(out3.String()) != "from-env" {
		t.Fatalf("TOKENSTATS_TOKEN must win: %q", out3.String())
	}
	again, err := RegenerateToken(dir)
	if err != nil || again == tok {
		t.Fatalf("regenerate: %q %v", again, err)
	}
	if got, _ := loadToken(dir, env()); got != again {
		t.Fatalf("after regenerate, loadToken = %q", got)
	}
}

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); !errors.Is(err, errLocked) {
		t.Fatalf("second lock: %v", err)
	}
	l.Close()
	l2, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Close()
}
