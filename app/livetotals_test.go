package app

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

func TestTodayWindowStartsAtLocalMidnight(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "s.db"), stats.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 3, 10, 0, 30, 0, 0, loc) // 16:30 UTC the day before
	at := func(d time.Time, in, out int64) stats.Record {
		return stats.Record{Account: "a@example.com", Model: "m", InputTokens: in, OutputTokens: out, Time: d}
	}
	ctx := context.Background()
	_, err = st.Record(ctx,
		at(time.Date(2026, 3, 9, 23, 59, 59, 0, loc), 1000, 0), // yesterday, local
		at(time.Date(2026, 3, 10, 0, 0, 0, 0, loc), 10, 5),     // midnight: today
		at(now.Add(-20*time.Minute), 100, 50),                  // today and the last hour
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := queryLiveTotals(ctx, st, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Today.TotalTokens() != 165 || got.Today.Requests != 2 {
		t.Errorf("today = %d tokens, %d requests; want 165, 2", got.Today.TotalTokens(), got.Today.Requests)
	}
	if got.LastHour.TotalTokens() != 1165 {
		t.Errorf("last hour = %d tokens, want 1165 (all three are within an hour of 00:30)", got.LastHour.TotalTokens())
	}
	if s := tooltipText(got); s != "Token Stats — today 165 tokens (unpriced) · 2 requests · last hour 1.2K tokens" {
		t.Errorf("tooltip %q", s)
	}
	got.Today.Requests, got.Today.Unpriced = 1, 1
	if s := tooltipText(got); s != "Token Stats — today 165 tokens (unpriced) · 1 request · last hour 1.2K tokens" {
		t.Errorf("tooltip with one request %q", s)
	}
	got.Today.Requests, got.Today.Unpriced = 20_345, 20_345
	if s := tooltipText(got); s != "Token Stats — today 165 tokens (unpriced) · 20,345 requests · last hour 1.2K tokens" {
		t.Errorf("tooltip with many requests %q (counts are exact)", s)
	}
}

// A burst of writes is coalesced: the totals come out right and far fewer queries run than records.
func TestLiveTotalsCoalesce(t *testing.T) {
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "s.db"), stats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var shown []liveTotals
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchLiveTotals(ctx, st, time.Now, func(l liveTotals) {
			mu.Lock()
			shown = append(shown, l)
			mu.Unlock()
		}, func(err error) { t.Error(err) })
	}()
	const n = 300
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := st.Record(ctx, stats.Record{Account: "a@example.com", Model: fmt.Sprint("m", i%5),
				InputTokens: 10, OutputTokens: 1, Time: time.Now()})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	last := func() liveTotals {
		mu.Lock()
		defer mu.Unlock()
		if len(shown) == 0 {
			return liveTotals{}
		}
		return shown[len(shown)-1]
	}
	if err := waitFor(5*time.Second, func() error {
		if l := last(); l.Today.Requests != n || l.LastHour.TotalTokens() != 11*n {
			return fmt.Errorf("last shown %+v", l)
		}
		return nil
	}); err != nil {
		t.Fatalf("totals never reached %d requests: %v", n, err)
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	// One query at start plus at most one per liveMinGap: the bound holds whatever the machine's speed.
	limit := 2 + int(elapsed/liveMinGap)
	t.Logf("%d records in %v shown with %d queries", n, elapsed.Round(time.Millisecond), len(shown))
	if len(shown) > limit {
		t.Errorf("%d queries for %d records in %v, want at most %d", len(shown), n, elapsed, limit)
	}
	for i := 1; i < len(shown); i++ {
		if shown[i].Today.Requests < shown[i-1].Today.Requests {
			t.Errorf("totals went backwards: %d then %d", shown[i-1].Today.Requests, shown[i].Today.Requests)
		}
	}
}
