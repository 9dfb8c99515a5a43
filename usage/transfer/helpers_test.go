package transfer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// pricer prices every model but "unpriced-model", so money and unpriced requests both travel.
type pricer struct{}

func (pricer) Price(r *stats.Record) (stats.Money, bool) {
	if r.Model == "unpriced-model" {
		return 0, false
	}
	return stats.Money(3*r.InputTokens + 11*r.OutputTokens + 7), true
}

// openStore opens a fresh store whose clock is now.
func openStore(t *testing.T, now time.Time, loc *time.Location) *stats.Store {
	t.Helper()
	s, _, err := stats.Open(filepath.Join(t.TempDir(), "tokenstats.db"), stats.Options{Location: loc,
		Pricer: pricer{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// into imports into a store directly, as the app does when no instance runs.
func into(s *stats.Store) ImportOptions {
	return ImportOptions{Store: func(ctx context.Context, recs []stats.Record) (stats.Result, error) {
		return s.Record(ctx, recs...)
	}}
}

func importFile(t *testing.T, path string, opt ImportOptions) Report {
	t.Helper()
	rep, err := Import(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return rep
}

// usageFixture is a store with a month of records over names a spreadsheet must keep intact: Chinese,
// commas, quotes, a would-be formula, a leading apostrophe; with and without request ids, sources,
// credentials, agent costs and prices.
func usageFixture(t *testing.T, n int) (*stats.Store, time.Time) {
	t.Helper()
	end := time.Date(2026, 4, 2, 9, 30, 0, 0, time.UTC)
	s := openStore(t, end, mustZone(t, "Asia/Shanghai"))
	rng := rand.New(rand.NewPCG(3, 9))
	accounts := []string{"alice@example.com", "张伟@example.com", `"quoted", with comma`, "=HYPERLINK(\"x\")"}
	models := []string{"gemini-2.5-pro", "模型-实验", "unpriced-model", "'apostrophe", "-minus"}
	recs := make([]stats.Record, 0, n)
	for i := range n {
		in := int64(rng.IntN(90000) + 1)
		r := stats.Record{
			Time:    end.Add(-time.Duration(rng.IntN(30*86400)) * time.Second),
			Account: accounts[rng.IntN(len(accounts))], Model: models[rng.IntN(len(models))],
			InputTokens: in, OutputTokens: int64(rng.IntN(3000)), CachedTokens: in / 2, CacheCreationTokens: in / 10,
			IsAntigravity: i%3 != 0, Source: []string{"", "gcli2api", "claude-code"}[i%3],
			Credential: []string{"", "cred,1.json", "key …a1b2"}[i%3],
		}
		r.ReasoningTokens = r.OutputTokens / 3
		if i%2 == 1 {
			r.RequestID = fmt.Sprintf("req-%d", i)
		}
		if i%4 == 0 {
			r.AgentCost, r.HasAgentCost = stats.Money(rng.IntN(50_000_000)), true
		}
		recs = append(recs, r)
	}
	if _, err := s.Record(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	return s, end
}

// exportTo writes a store's window to path through Writer.
func exportTo(t *testing.T, s *stats.Store, w stats.Window, f Format, path string, withBOM bool) {
	t.Helper()
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	ew, err := NewWriter(file, f, s.Location(), withBOM)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Export(context.Background(), w, stats.Filter{}, ew.Write); err != nil {
		t.Fatal(err)
	}
	if err := ew.Close(); err != nil {
		t.Fatal(err)
	}
}

// contents lists a store's records of a window as comparable strings.
func contents(t *testing.T, s *stats.Store, w stats.Window) []string {
	t.Helper()
	var out []string
	err := s.Export(context.Background(), w, stats.Filter{}, func(r *stats.ExportedRecord) error {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%s|%v|%d|%d|%d|%d|%d|%v|%d", r.Time.UTC().Format(time.RFC3339),
			r.Account, r.Model, r.Source, r.Credential, r.IsAntigravity, r.InputTokens, r.OutputTokens,
			r.CachedTokens, r.ReasoningTokens, r.CacheCreationTokens, r.HasAgentCost, r.AgentCost))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
