package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// newerPrices is a LiteLLM file as downloaded: gpt-4o at $5 / $20 per million, a model the embedded
// snapshot does not know, and nothing else.
const newerPrices = `{"gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 5e-06,
 "output_cost_per_token": 2e-05}, "brand-new-model": {"litellm_provider": "openai", "mode": "chat",
 "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}`

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPricesUpdateCommand: `tokenstats prices update` checks a file or a download and stores it in the
// data folder; a running instance takes it at once and re-prices what changed; a bad file changes
// nothing.
func TestPricesUpdateCommand(t *testing.T) {
	core := startTestCore(t)
	dd := core.Config.DataDir
	ctx := context.Background()
	at := time.Now().Add(-time.Hour)
	if _, err := core.Store.Record(ctx,
		stats.Record{Time: at, Account: "a@example.com", Model: "gpt-4o", InputTokens: 1000000, OutputTokens: 100000},
		stats.Record{Time: at, Account: "a@example.com", Model: "brand-new-model", InputTokens: 1000000}); err != nil {
		t.Fatal(err)
	}
	// With the embedded prices: gpt-4o at $2.50 / $10, the new model unpriced.
	if s := totals(t, core); s.Cost != 3_500_000_000 || s.Unpriced != 1 {
		t.Fatalf("before: %s, %d unpriced", s.Cost, s.Unpriced)
	}

	code, out, errs := runCLI(t, nil, "--data-dir", dd, "prices", "update", "--file", writeTemp(t, "bad.json", `{"gpt-4o": {"mode": "chat"}}`))
	if code != 1 || !strings.Contains(errs, "unchanged") {
		t.Fatalf("a bad file: exit %d, %q %q", code, out, errs)
	}
	if _, err := os.Stat(pricesFile(dd)); !os.IsNotExist(err) {
		t.Fatalf("a bad file left %s: %v", pricesFile(dd), err)
	}

	code, out, errs = runCLI(t, nil, "--data-dir", dd, "prices", "update", "--file", writeTemp(t, "litellm.json", newerPrices))
	if code != 0 || !strings.Contains(out, "stored 2 models from litellm.json") || !strings.Contains(out, "uses them now") {
		t.Fatalf("update: exit %d, %q %q", code, out, errs)
	}
	if fi, err := os.Stat(pricesFile(dd)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("prices.json: %v %v", fi, err)
	}
	waitStoreRepriced(t, core.Store)
	// $5 + $2 for gpt-4o, $1 for the new model.
	if s := totals(t, core); s.Cost != 8_000_000_000 || s.Unpriced != 0 {
		t.Errorf("after the update: %s, %d unpriced", s.Cost, s.Unpriced)
	}
	if src := core.Store.Pricer().(*pricing.Pricer).Table().Source(); src.URL != "litellm.json" {
		t.Errorf("source %+v", src)
	}

	// A download, while no instance runs: stored for the next start, which uses it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Replace(newerPrices, "5e-06", "4e-06", 1)))
	}))
	defer srv.Close()
	core.Close()
	code, out, errs = runCLI(t, nil, "--data-dir", dd, "prices", "update", "--url", srv.URL+"/prices.json")
	if code != 0 || !strings.Contains(out, "next start") {
		t.Fatalf("download: exit %d, %q %q", code, out, errs)
	}
	again, err := startCore(core.Config, func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	waitStoreRepriced(t, again.Store)
	if s := totals(t, again); s.Cost != 7_000_000_000 {
		t.Errorf("after the download and a restart: %s, want $7", s.Cost)
	}
	if code, _, errs := runCLI(t, nil, "--data-dir", dd, "prices", "update", "--file", "x", "--url", "y"); code != 2 {
		t.Errorf("--file with --url: exit %d %q", code, errs)
	}
}

// TestOlderPriceFileIsNotUsed: a price file older than the embedded snapshot (a program update brought
// later prices) is set aside, and says so.
func TestOlderPriceFileIsNotUsed(t *testing.T) {
	dd := t.TempDir()
	snap, err := pricing.Parse(strings.NewReader(newerPrices))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSnapshot(dd, snap.WithSource(pricing.Source{URL: "old", Date: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})); err != nil {
		t.Fatal(err)
	}
	got, why, err := loadSnapshot(dd)
	if err != nil || got.Source().URL == "old" || !strings.Contains(why, "newer") {
		t.Errorf("loaded %+v, %q, %v", got.Source(), why, err)
	}
	if err := writeSnapshot(dd, snap.WithSource(pricing.Source{URL: "new", Date: time.Now()})); err != nil {
		t.Fatal(err)
	}
	if got, why, _ = loadSnapshot(dd); got.Source().URL != "new" || why != "" {
		t.Errorf("a newer file: %+v, %q", got.Source(), why)
	}
}

func waitStoreRepriced(t *testing.T, st *stats.Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for st.Repricing().Running() {
		if time.Now().After(deadline) {
			t.Fatal("re-pricing never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
