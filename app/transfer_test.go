package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// TestExportAndImportCommands: tokenstats export writes the same file whether it asks the running
// instance or, with none running, reads the data folder itself; tokenstats import puts an export into a
// fresh folder (directly, then through a running instance) and a file written by the origin design's
// module, each counted once however often it is imported.
func TestExportAndImportCommands(t *testing.T) {
	core := startTestCore(t)
	dd := core.Config.DataDir
	now := time.Now().Truncate(time.Second)
	var recs []stats.Record
	for i := range 300 {
		recs = append(recs, stats.Record{Time: now.Add(-time.Duration(i) * 7 * time.Minute), Account: []string{"a@example.com", "张伟@example.com"}[i%2],
			Model: "gemini-2.5-pro", InputTokens: int64(100 + i), OutputTokens: int64(i), Source: "gcli2api",
			RequestID: fmt.Sprintf("req-%d", i), AgentCost: stats.Money(i * 1000), HasAgentCost: i%3 == 0})
	}
	if _, err := core.Store.Record(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	export := func(name string, n int, args ...string) []byte {
		t.Helper()
		path := filepath.Join(out, name)
		code, _, errs := runCLI(t, nil, append([]string{"--data-dir", dd, "export", "--out", path}, args...)...)
		if code != 0 || !strings.Contains(errs, fmt.Sprintf("exported %d records", n)) {
			t.Fatalf("export %v: exit %d, %s", args, code, errs)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	viaAPI := export("api.jsonl", 300, "--format", "jsonl")
	viaAPICSV := export("api.csv", 300)
	if code, _, errs := runCLI(t, nil, "--data-dir", dd, "export", "--format", "xml"); code != 2 {
		t.Errorf("--format xml: exit %d, %s", code, errs)
	}
	if err := core.Close(); err != nil {
		t.Fatal(err)
	}
	if direct := export("direct.jsonl", 300, "--format", "jsonl"); !bytes.Equal(direct, viaAPI) {
		t.Fatalf("the export read from the folder differs from the running instance's")
	}
	if direct := export("direct.csv", 300); !bytes.Equal(direct, viaAPICSV) || !bytes.HasPrefix(direct, []byte("\uFEFF")) {
		t.Fatalf("the CSV read from the folder differs from the running instance's")
	}
	filtered := export("filtered.csv", 103, "--account", "张伟@example.com", "--hours", "24")
	if n := bytes.Count(filtered, []byte("\n")) - 1; n != 103 || bytes.Contains(filtered, []byte("a@example.com")) {
		t.Errorf("filtered export: %d records (want the 103 of 张伟 in 24 h)", n)
	}

	fresh := t.TempDir()
	importFile := func(path, want string) {
		t.Helper()
		code, stdout, errs := runCLI(t, nil, "--data-dir", fresh, "import", path)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Fatalf("import %s: exit %d, stdout %q, stderr %q; want %q", filepath.Base(path), code, stdout, errs, want)
		}
	}
	jsonl := filepath.Join(out, "direct.jsonl")
	importFile(jsonl, "Token Stats JSONL: 300 records read, 300 new, 0 already stored, 0 skipped")
	importFile(jsonl, "300 records read, 0 new, 300 already stored")
	second, err := startCore(Config{Listen: "127.0.0.1:0", DataDir: fresh}, func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	importFile(filepath.Join(out, "direct.csv"), "Token Stats CSV: 300 records read, 0 new, 300 already stored")
	origin := filepath.Join(t.TempDir(), "token_stats.db")
	b, err := os.ReadFile(filepath.Join("..", "usage", "transfer", "testdata", "origin_shanghai.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(origin, b, 0o600); err != nil {
		t.Fatal(err)
	}
	importFile(origin, "60 records read, 60 new, 0 already stored, 0 skipped")
	importFile(origin, "60 records read, 0 new, 60 already stored")
	sum, err := second.Store.Summary(context.Background(), stats.LastHours(now.Add(time.Minute), stats.MaxHours), stats.Filter{})
	if err != nil || sum.Requests != 360 {
		t.Fatalf("the folder holds %d records (%v), want 360", sum.Requests, err)
	}
	if code, _, errs := runCLI(t, nil, "--data-dir", fresh, "import", filepath.Join(out, "nothing.csv")); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: exit %d, %s", code, errs)
	}
	empty := filepath.Join(t.TempDir(), "typo")
	if code, _, errs := runCLI(t, nil, "--data-dir", empty, "export"); code != 1 || !strings.Contains(errs, "holds no database") {
		t.Errorf("export of a folder without a database: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Errorf("exporting created %s", empty)
	}
}
