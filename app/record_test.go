package app

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// startTestCore runs the real core (store, listener on a free port) in a temporary data folder. The
// token is generated into the data folder, as on a first start.
func startTestCore(t *testing.T) *Core {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()}
	core, err := startCore(cfg, func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	return core
}

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func totals(t *testing.T, core *Core) stats.Summary {
	t.Helper()
	s, err := core.Store.Summary(context.Background(), stats.LastHours(time.Now(), 24), stats.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecordCommand(t *testing.T) {
	core := startTestCore(t)
	dd := core.Config.DataDir
	addr := strings.TrimPrefix(core.URL, "http://")
	// The URL comes from --listen, the token from the data folder's token file.
	code, out, errs := runCLI(t, nil, "--data-dir", dd, "--listen", addr, "record", "--account", "a@example.com",
		"--model", "gpt-4o", "--input", "1200", "--output", "300", "--cached", "1000", "--reasoning", "100",
		"--request-id", "req-1", "--timestamp", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	if code != 0 || out != "accepted\n" {
		t.Fatalf("record: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// The same request id again: a duplicate, exit 0, nothing counted twice. URL from TOKENSTATS_URL.
	code, out, _ = runCLI(t, map[string]string{"TOKENSTATS_URL": core.URL}, "--data-dir", dd, "record",
		"--account", "a@example.com", "--model", "gpt-4o", "--input", "1200", "--output", "300", "--request-id", "req-1")
	if code != 0 || !strings.HasPrefix(out, "duplicate") {
		t.Fatalf("resend: exit %d, stdout %q", code, out)
	}
	// Provider-native usage from a file.
	body := filepath.Join(t.TempDir(), "resp.json")
	os.WriteFile(body, []byte(`{"type":"message","model":"claude","usage":{"input_tokens":20,"cache_read_input_tokens":80,"cache_creation_input_tokens":5,"output_tokens":40}}`), 0o600)
	code, out, errs = runCLI(t, nil, "--data-dir", dd, "record", "--url", core.URL, "--account", "b@example.com",
		"--model", "claude", "--usage-json", body)
	if code != 0 {
		t.Fatalf("--usage-json file: exit %d, %q %q", code, out, errs)
	}
	// And from stdin, with the provider named.
	var so, se bytes.Buffer
	cfg := Config{DataDir: dd, Listen: addr}
	code = runRecord(cfg, []string{"--account", "b@example.com", "--model", "gemini", "--usage-json", "-", "--provider", "gemini"},
		func(string) string { return "" }, strings.NewReader(`{"response":{"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":2,"thoughtsTokenCount":1}}}`), &so, &se)
	if code != 0 {
		t.Fatalf("--usage-json -: exit %d, %q", code, se.String())
	}
	s := totals(t, core)
	want := stats.Totals{Requests: 3, InputTokens: 1200 + 105 + 7, OutputTokens: 300 + 40 + 3, CachedTokens: 1000 + 80,
		ReasoningTokens: 100 + 1, CacheCreationTokens: 5,
		// gpt-4o at the built-in prices, 200 × $2.50 + 1,000 × $1.25 + 300 × $10 per million; "claude" and
		// "gemini" name no model with a price.
		Cost: 4_750_000, Unpriced: 2}
	if s.Totals != want {
		t.Errorf("stored %+v\nwant   %+v", s.Totals, want)
	}
}

func TestRecordCommandErrors(t *testing.T) {
	core := startTestCore(t)
	dd := core.Config.DataDir
	base := []string{"--data-dir", dd, "record", "--url", core.URL, "--account", "a@x", "--model", "m"}
	usage := [][]string{
		{"--input", "1"},                       // no --output
		{"--input", "-5", "--output", "1"},     // negative
		{"--input", "1.5", "--output", "1"},    // fraction
		{"--input", "1", "--output", "1", "x"}, // stray argument
		{"--input", "1", "--output", "1", "--provider", "openai"},
		{"--input", "1", "--output", "1", "--timestamp", "yesterday"},
		{"--nope"},
		{"--usage-json", filepath.Join(t.TempDir(), "missing.json")},
	}
	for _, extra := range usage {
		code, out, errs := runCLI(t, nil, append(base, extra...)...)
		if code != 2 || out != "" || errs == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a message", extra, code, out, errs)
		}
		// Our own checks say which command and where its flags are described; the flag package's
		// own message (--nope) is followed by the flags themselves.
		if extra[0] != "--nope" && (!strings.HasPrefix(errs, "tokenstats record: ") ||
			!strings.HasSuffix(errs, "run 'tokenstats record --help' for the flags\n")) {
			t.Errorf("%v: stderr %q", extra, errs)
		}
	}
	if code, _, errs := runCLI(t, nil, "--data-dir", dd, "record", "--url", core.URL, "--model", "m", "--input", "1", "--output", "1"); code != 2 || !strings.Contains(errs, "--account") {
		t.Errorf("no --account: exit %d, %q", code, errs)
	}
	// The server refuses: exit 1 with its message.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"id":"chatcmpl-1","choices":[]}`), 0o600)
	code, _, errs := runCLI(t, nil, append(base, "--usage-json", bad)...)
	if code != 1 || !strings.Contains(errs, "HTTP 400") || !strings.Contains(errs, "no usage found") {
		t.Errorf("no usage: exit %d, stderr %q", code, errs)
	}
	// A wrong token: exit 1, says so.
	code, _, errs = runCLI(t, map[string]string{"TOKENSTATS_TOKEN": "wrong"}, append(base, "--input", "1", "--output", "1")...)
	if code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("wrong token: exit %d, stderr %q", code, errs)
	}
	// No token anywhere: exit 1, and no token file is created behind the user's back.
	empty := t.TempDir()
	code, _, errs = runCLI(t, nil, "--data-dir", empty, "record", "--url", core.URL, "--account", "a@x", "--model", "m", "--input", "1", "--output", "1")
	if _, err := os.Stat(filepath.Join(empty, "token")); code != 1 || !strings.Contains(errs, "TOKENSTATS_TOKEN") || err == nil {
		t.Errorf("no token: exit %d, stderr %q, token file: %v", code, errs, err)
	}
	if n := totals(t, core).Requests; n != 0 {
		t.Errorf("%d requests stored by failing commands", n)
	}
	// The listener is down: exit 1.
	url := core.URL
	core.Close()
	code, _, errs = runCLI(t, nil, "--data-dir", dd, "record", "--url", url, "--account", "a@x", "--model", "m", "--input", "1", "--output", "1")
	if code != 1 || !strings.Contains(errs, "connect") {
		t.Errorf("listener down: exit %d, stderr %q", code, errs)
	}
	if code, _, _ := runCLI(t, nil, "--data-dir", dd, "record", "--help"); code != 0 {
		t.Errorf("record --help: exit %d", code)
	}
}
