package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// hookServer is a local webhook receiver that keeps the bodies posted to it.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil {
			t.Errorf("webhook: %s %s %q", r.Method, r.Header.Get("Content-Type"), b)
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) taken() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.bodies
	h.bodies = nil
	return out
}

// TestAlertsOncePerThresholdAndPeriod drives the alerter as the app does, on a clock the test sets: each
// threshold is announced once per period (by notification and webhook), not again after a restart, not
// for a past period filled in later by an import, and again in the next period; a jump over both
// thresholds is one announcement. A webhook that fails is logged without its URL.
func TestAlertsOncePerThresholdAndPeriod(t *testing.T) {
	hook := newHookServer(t)
	path := filepath.Join(t.TempDir(), "a.db")
	ctx := context.Background()
	open := func() *stats.Store {
		st, _, err := stats.Open(path, stats.Options{Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	defer func() { st.Close() }()
	for _, l := range []stats.Limit{
		{Scope: "account", Name: "a@example.com", Metric: stats.MetricTokens, Period: stats.PeriodDay,
			Zone: "America/Los_Angeles", Amount: 1000, Webhook: hook.URL + "/limits"},
		{Scope: stats.ScopeAll, Metric: stats.MetricRequests, Period: stats.PeriodDay, Zone: "UTC", Amount: 1000,
			Webhook: "http://127.0.0.1:1/secret-path-x"},
	} {
		if _, err := st.AddLimit(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	la, _ := time.LoadLocation("America/Los_Angeles")
	now := time.Date(2026, 6, 10, 14, 0, 0, 0, la)
	var logs bytes.Buffer
	var got []string
	var al *alerter
	newAl := func() {
		al = newAlerter(st, func(title, body string) { got = append(got, title+" | "+body) }, slog.New(slog.NewTextHandler(&logs, nil)))
	}
	newAl()
	add := func(at time.Time, tokens int64) {
		t.Helper()
		if _, err := st.Record(ctx, stats.Record{Time: at, Account: "a@example.com", Model: "m", InputTokens: tokens}); err != nil {
			t.Fatal(err)
		}
	}
	step := func(what string, want ...string) {
		t.Helper()
		lt, err := queryLiveTotals(ctx, st, now)
		if err != nil {
			t.Fatal(err)
		}
		al.check(ctx, lt)
		al.wait()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: notifications %q, want %q", what, got, want)
		}
		bodies := hook.taken()
		if len(bodies) != len(want) {
			t.Errorf("%s: %d webhooks for %d notifications", what, len(bodies), len(want))
		}
		for _, b := range bodies {
			if b["scope"] != "account" || b["name"] != "a@example.com" || b["resets_at"] == nil || b["alert_threshold"] == nil {
				t.Errorf("%s: webhook body %v", what, b)
			}
		}
		got = nil
	}
	add(now.Add(-time.Hour), 700)
	step("70 %")
	add(now.Add(-time.Minute), 150)
	step("85 %", "Limit at 80 % | a@example.com: 850 of 1K tokens today (85 %), resets in 10 h")
	step("85 % again")

	// A restart: a new alerter on the reopened file announces nothing already announced.
	st.Close()
	st = open()
	newAl()
	step("after a restart")

	// An import fills in yesterday far beyond the limit: yesterday is over, nothing is announced.
	add(now.Add(-20*time.Hour), 5000)
	step("yesterday filled in")

	add(now.Add(-time.Minute), 200)
	step("105 %", "Limit reached | a@example.com: 1.1K of 1K tokens today (100 %), resets in 10 h")

	// The next day in Los Angeles: 90 % is announced again.
	now = now.Add(24 * time.Hour)
	add(now.Add(-time.Hour), 900)
	step("the next day", "Limit at 80 % | a@example.com: 900 of 1K tokens today (90 %), resets in 10 h")

	// The day after, one import jumps over both thresholds: one announcement, both recorded.
	now = now.Add(24 * time.Hour)
	add(now.Add(-time.Hour), 3000)
	step("a jump", "Limit reached | a@example.com: 3K of 1K tokens today (100 %), resets in 10 h")
	add(now.Add(-time.Minute), 1)
	step("after the jump")
	if b, _ := json.Marshal(hook.taken()); len(b) > 4 {
		t.Errorf("late webhooks %s", b)
	}

	// The other limit's webhook goes nowhere: the failure is logged with its host, not its secret path.
	for range 998 {
		add(now.Add(-time.Hour), 1)
	}
	lt, err := queryLiveTotals(ctx, st, now)
	if err != nil {
		t.Fatal(err)
	}
	al.check(ctx, lt)
	al.wait()
	if !strings.Contains(logs.String(), "limit webhook") || !strings.Contains(logs.String(), "127.0.0.1:1") ||
		strings.Contains(logs.String(), "secret-path") {
		t.Errorf("log of a failed webhook:\n%s", logs.String())
	}
}

// TestTooltipNamesTheClosestLimit: today's cost beside today's tokens, and the limit nearest its end
// with its time until reset; the tray's state is the worst limit's.
func TestTooltipNamesTheClosestLimit(t *testing.T) {
	snap, err := pricing.Parse(strings.NewReader(`{"fx-chat": {"litellm_provider": "acme", "mode": "chat",
		"input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06}}`))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "t.db"), stats.Options{Location: time.UTC, Prices: pricing.Builder(snap)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Date(2026, 6, 10, 15, 0, 0, 0, time.UTC)
	if _, err := st.Record(ctx,
		stats.Record{Time: now.Add(-3 * time.Hour), Account: "a@example.com", Model: "fx-chat", InputTokens: 5000, OutputTokens: 250},
		stats.Record{Time: now.Add(-time.Minute), Account: "b@example.com", Model: "local", InputTokens: 100}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []stats.Limit{
		{Scope: stats.ScopeAll, Metric: stats.MetricRequests, Period: stats.PeriodMonth, Zone: "UTC", Amount: 100},
		{Scope: "account", Name: "a@example.com", Metric: stats.MetricCost, Period: stats.PeriodDay, Zone: "UTC",
			Amount: 15_000_000, Thresholds: []int{50, 100}},
	} {
		if _, err := st.AddLimit(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	lt, err := queryLiveTotals(ctx, st, now)
	if err != nil {
		t.Fatal(err)
	}
	// 5,000 × $2 + 250 × $8 per million = $0.012, of $0.015: 80 %.
	want := "Token Stats — today 5.3K tokens ($0.01 + 1 unpriced) · 2 requests · last hour 100 tokens · " +
		"a@example.com: 80 % of $0.02 today, resets in 9 h"
	if got := tooltipText(lt); got != want {
		t.Errorf("tooltip\n%q, want\n%q", got, want)
	}
	if lvl := trayLevel(lt.Limits); lvl != 1 {
		t.Errorf("tray level %d, want 1 (past the first threshold)", lvl)
	}
	if lvl := trayLevel(nil); lvl != 0 {
		t.Errorf("tray level without limits %d", lvl)
	}
}
