package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/transfer"
)

// TestExportWritesTheRangeShown: "Export…" offers CSV and JSONL for the range shown; the export writes
// that range's records to the chosen file and says how many.
func TestExportWritesTheRangeShown(t *testing.T) {
	st := openStore(t)
	record(t, st, rec(time.Hour, "张伟@example.com", "gemini-2.5-pro", 100, 10, 0),
		rec(2*time.Hour, "a@example.com", "gpt-4o", 50, 5, 10), rec(30*time.Hour, "a@example.com", "gpt-4o", 1, 1, 0))
	d := newTestDashboard(t, st, Settings{})
	test.Tap(button(t, d.win.Content(), "Export…"))
	dlg := top(t, d)
	if l := labels(dlg); !contains(l, "Export the usage records of: Last 24 hours") {
		t.Fatalf("export dialog says %q", l)
	}
	button(t, dlg, "Choose file…")
	test.Tap(button(t, dlg, "Cancel"))

	path := filepath.Join(t.TempDir(), "out.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	d.runExport(f, "out.csv", nil, transfer.CSV, stats.LastHours(time.Now(), 24), d.exportFilter())
	idle(d)
	if l := labels(top(t, d)); !contains(l, "Wrote 2 records to out.csv.") {
		t.Fatalf("after the export: %q", l)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil || len(rows) != 3 || !strings.Contains(string(b), "张伟@example.com") {
		t.Fatalf("file %q (%v)", b, err)
	}
}

// TestImportReportsWhatItSkipped: an import from Settings stores the file's records, and its report
// says how many were new, already there and skipped, for which reason and where.
func TestImportReportsWhatItSkipped(t *testing.T) {
	st := openStore(t)
	d := newTestDashboard(t, st, Settings{})
	test.Tap(button(t, d.win.Content(), "Settings"))
	button(t, top(t, d), "Import…")
	test.Tap(button(t, top(t, d), "Close"))

	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	path := filepath.Join(t.TempDir(), "usage.jsonl")
	lines := `{"timestamp":"` + ts + `","account_email":"a@example.com","model":"m","input_tokens":10,"output_tokens":1,"request_id":"x1"}
{"timestamp":"` + ts + `","account_email":"b@example.com","model":"m","input_tokens":20,"output_tokens":2}
{"timestamp":"` + ts + `","account_email":"a@example.com","model":"m","input_tokens":-3,"output_tokens":1}
`
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 new, 0 already stored, 1 skipped", "0 new, 2 already stored, 1 skipped"} {
		d.runImport(path)
		idle(d)
		l := labels(top(t, d))
		if !contains(l, want) || !contains(l, "Skipped for input_tokens: 1") || !contains(l, "line 3: input_tokens") {
			t.Fatalf("import report %q, want %q", l, want)
		}
		test.Tap(button(t, top(t, d), "Close"))
	}
	sum, err := st.Summary(context.Background(), stats.LastHours(time.Now(), 24), stats.Filter{})
	if err != nil || sum.Requests != 2 || sum.InputTokens != 30 {
		t.Fatalf("summary %+v (%v)", sum, err)
	}
}
