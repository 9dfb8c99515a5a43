package stats

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ratePricer prices a model at its rates (nano-dollars per uncached input, output and cached token); a
// model without rates is unpriced. Its price key is the rates, so SetPricer re-prices exactly the
// models whose rates changed.
type ratePricer map[string][3]int64

func (p ratePricer) Price(r *Record) (Money, bool) {
	k, ok := p[r.Model]
	if !ok {
		return 0, false
	}
	return Money(k[0]*(r.InputTokens-r.CachedTokens) + k[1]*r.OutputTokens + k[2]*r.CachedTokens), true
}

func (p ratePricer) PriceKey(model string) string {
	if k, ok := p[model]; ok {
		return fmt.Sprint(k)
	}
	return ""
}

// Prices before and after a change: model-0 keeps its price, model-1 and model-3 change, model-2 loses
// its price, model-4 gets one.
var (
	pricesA = ratePricer{"model-0": {3, 15, 1}, "model-1": {1, 4, 0}, "model-2": {2, 2, 2}, "model-3": {5, 25, 2}}
	pricesB = ratePricer{"model-0": {3, 15, 1}, "model-1": {2, 8, 1}, "model-3": {7, 30, 3}, "model-4": {1, 1, 1}}
)

// waitRepriced polls until the background re-pricing has nothing left to do.
func waitRepriced(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for s.Repricing().Running() {
		if time.Now().After(deadline) {
			t.Fatalf("re-pricing still running: %+v", s.Repricing())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkRawMatchesRollups compares every rollup with the raw rows: the all-time summary (read from
// month, day and hour rollups) and a summary per dimension and filter must equal sums of the usage table.
func checkRawMatchesRollups(t *testing.T, s *Store, end time.Time, what string) {
	t.Helper()
	var raw Totals
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(input), 0), coalesce(sum(cost), 0),
		count(*) - count(cost) FROM usage`).Scan(&raw.Requests, &raw.InputTokens, &raw.Cost, &raw.Unpriced); err != nil {
		t.Fatal(err)
	}
	w := LastHours(end.Truncate(24*time.Hour).Add(48*time.Hour), MaxHours)
	sum, err := s.Summary(ctx, w, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests != raw.Requests || sum.InputTokens != raw.InputTokens || sum.Cost != raw.Cost || sum.Unpriced != raw.Unpriced {
		t.Fatalf("%s: summary %+v, raw rows %+v", what, sum.Totals, raw)
	}
	for _, d := range allDims {
		rows, err := s.Breakdown(ctx, d, w, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var by Totals
		for _, r := range rows {
			by.Add(r.Totals)
			// The cube (a filtered query) must hold what the per-dimension rollups hold.
			fs, err := s.Summary(ctx, w, filterOn(d, r.Name))
			if err != nil {
				t.Fatal(err)
			}
			if fs.Totals != r.Totals {
				t.Fatalf("%s: %s %q: filtered summary %+v, row %+v", what, d, r.Name, fs.Totals, r.Totals)
			}
		}
		if by != sum.Totals {
			t.Fatalf("%s: %s rows sum to %+v, summary %+v", what, d, by, sum.Totals)
		}
	}
	for _, g := range []Granularity{Hourly, Daily} {
		hours := MaxHourlyHours
		if g == Daily {
			hours = MaxHours
		}
		tr, err := s.Trend(ctx, TrendQuery{Dimension: ByModel, Granularity: g, End: w.To, Hours: hours, Metric: MetricCost})
		if err != nil {
			t.Fatal(err)
		}
		var cost int64
		for _, p := range tr.Periods {
			for _, v := range p.Values {
				cost += v
			}
		}
		ws, err := s.Summary(ctx, TrendWindow(g, w.To, hours), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if cost != int64(ws.Cost) {
			t.Fatalf("%s: %s cost trend sums to %d, summary says %d", what, g, cost, ws.Cost)
		}
	}
}

// TestRepriceKeepsViewsAgreeing changes the prices of a store holding records in every kind of bucket
// (minute rollups of recent and busy hours, compacted hours, DST days): the re-price runs in many
// chunks, every view agrees with the raw rows after each of them, a summary and new records are
// answered half-way, and at the end every view equals a brute-force sum at the new prices. Reopening
// with the same prices re-prices nothing; reopening with the old ones re-prices the changed models back.
func TestRepriceKeepsViewsAgreeing(t *testing.T) {
	loc := mustLoad(t, "America/New_York")
	rng := rand.New(rand.NewPCG(7, 42))
	base := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	span := int64(40 * 24 * 3600)
	end := base.Add(time.Duration(span) * time.Second)
	var clock atomic.Int64
	clock.Store(base.Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	var pauses atomic.Int32
	var paused func()
	path := filepath.Join(t.TempDir(), "r.db")
	open := func(p Pricer) *Store {
		s, _, err := Open(path, Options{Location: loc, Pricer: p, Now: now, repriceChunk: 97,
			beforeReprice: func() {
				if pauses.Add(1) == 6 && paused != nil {
					paused()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(pricesA)
	defer func() { s.Close() }()
	b := &bruteForce{alias: map[string]string{}, pricer: pricesA}
	for range 2500 {
		b.recs = append(b.recs, randomRecord(rng, base.Add(time.Duration(rng.Int64N(span))*time.Second)))
	}
	busyAt := base.Add(time.Duration(span/2) * time.Second).Truncate(time.Hour)
	for range busyHour + 20 {
		b.recs = append(b.recs, randomRecord(rng, busyAt.Add(time.Duration(rng.IntN(3000))*time.Second)))
	}
	slices.SortFunc(b.recs, func(x, y Record) int { return x.Time.Compare(y.Time) })
	for lo := 0; lo < len(b.recs); lo += 500 {
		part := b.recs[lo:min(lo+500, len(b.recs))]
		clock.Store(part[len(part)-1].Time.Unix())
		mustRecord(t, s, part...)
	}
	clock.Store(end.Add(-3 * time.Hour).Unix())
	if err := s.compactNow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAlias(ctx, ByModel, "model-3", "three"); err != nil {
		t.Fatal(err)
	}
	b.alias["model-3"] = "three"
	checkRawMatchesRollups(t, s, end, "before")
	checkViews(t, s, b, LastHours(end, 24*50), Filter{}, "before")

	// Half-way (before the sixth chunk), views agree with the raw rows, and a query and new records are
	// answered while the re-price waits.
	late := rec(end.Add(-4*time.Hour), "late@example.com", "model-1", 1000, 100)
	halfway, resume := make(chan Repricing, 1), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(resume) }) }
	defer release() // before Close, should a check fail half-way
	paused = func() {
		halfway <- s.Repricing()
		<-resume
	}
	if err := s.SetPricer(ctx, pricesB); err != nil {
		t.Fatal(err)
	}
	select {
	case rp := <-halfway:
		if rp.Models == 0 || rp.Done == 0 || rp.Done >= rp.Total {
			t.Errorf("half-way progress %+v: want models left and some but not all records done", rp)
		}
	case <-time.After(time.Minute):
		t.Fatal("the re-price never reached its sixth chunk")
	}
	checkRawMatchesRollups(t, s, end, "half-way")
	mustRecord(t, s, late)
	release()
	waitRepriced(t, s)
	b.recs = append(b.recs, late)
	b.pricer = pricesB
	if rp := s.Repricing(); rp.Done != rp.Total || rp.Total < int64(len(b.recs))*3/5 {
		t.Errorf("final progress %+v for %d records", rp, len(b.recs))
	}
	checkRawMatchesRollups(t, s, end, "after")
	for i := 0; i < 40; i++ {
		e := base.Add(time.Duration(rng.Int64N(span+3*24*3600)) * time.Second)
		if i%4 == 0 {
			e = busyAt.Add(time.Duration(rng.IntN(3600)) * time.Second)
		}
		hours := []int{1, 2, 5, 24, 25, 100, 400, 744, 87600}[rng.IntN(9)]
		var f Filter
		if i%2 == 1 {
			f = randomFilter(rng, b)
		}
		what := fmt.Sprintf("after: %d h to %s, filter %+v", hours, e, f)
		checkViews(t, s, b, LastHours(e, hours), f, what)
		q := TrendQuery{Dimension: allDims[i%4], End: e, Hours: min(hours, MaxHourlyHours), Filter: f, Metric: MetricCost}
		q.Granularity = Hourly
		checkTrend(t, s, b, q, loc, what)
		q.Granularity, q.Hours = Daily, hours
		checkTrend(t, s, b, q, loc, what)
	}

	s.Close()
	paused = nil
	s = open(pricesB)
	if rp := s.Repricing(); rp.Running() {
		t.Fatalf("reopened with the same prices: re-pricing %+v", rp)
	}
	s.Close()
	s = open(pricesA)
	if rp := s.Repricing(); rp.Models != 4 {
		t.Fatalf("reopened with the old prices: %+v, want the 4 models whose price differs", rp)
	}
	waitRepriced(t, s)
	b.pricer = pricesA
	checkRawMatchesRollups(t, s, end, "back to the old prices")
	checkViews(t, s, b, LastHours(end.Add(time.Hour), 24*50), Filter{}, "back to the old prices")
}

// TestRepriceRacesIngest stores records from eight goroutines, old and new, some of them retries,
// while two price changes re-price history (the second restarting the first): every record is counted
// once and costs what the last prices say.
func TestRepriceRacesIngest(t *testing.T) {
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, _, err := Open(filepath.Join(t.TempDir(), "race.db"), Options{Location: time.UTC, Pricer: pricesA,
		Now: func() time.Time { return end }, repriceChunk: 53})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	b := &bruteForce{alias: map[string]string{}, pricer: pricesA}
	for i := range 3000 {
		r := randomRecord(rng, end.Add(-time.Duration(rng.Int64N(20*24*3600))*time.Second))
		r.RequestID = "old-" + strconv.Itoa(i)
		b.recs = append(b.recs, r)
	}
	mustRecord(t, s, b.recs...)
	pricesC := ratePricer{"model-0": {4, 16, 2}, "model-1": {2, 8, 1}, "model-2": {9, 9, 9}, "model-4": {1, 2, 3}}
	if err := s.SetPricer(ctx, pricesB); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 40 {
				var batch []Record
				for j := range 10 {
					r := randomRecord(rng, end.Add(-time.Duration(rng.Int64N(20*24*3600))*time.Second))
					r.RequestID = fmt.Sprintf("new-%d-%d-%d", g, i, j)
					if j == 0 {
						r.RequestID = "old-" + strconv.Itoa(rng.IntN(3000)) // a retry: counted once
					} else {
						mu.Lock()
						b.recs = append(b.recs, r)
						mu.Unlock()
					}
					batch = append(batch, r)
				}
				res, err := s.Record(ctx, batch...)
				if err != nil || res.Accepted != 9 || res.Duplicates != 1 {
					t.Errorf("record: %+v %v", res, err)
					return
				}
				if g == 0 && i == 20 {
					if err := s.SetPricer(ctx, pricesC); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	waitRepriced(t, s)
	b.pricer = pricesC
	checkRawMatchesRollups(t, s, end, "after the race")
	checkViews(t, s, b, LastHours(end.Add(time.Minute), 24*30), Filter{}, "after the race")
	for i := range 10 {
		f := randomFilter(rng, b)
		checkViews(t, s, b, LastHours(end.Add(-time.Duration(i)*37*time.Hour), 24*(1+i)), f, fmt.Sprintf("filter %+v", f))
	}
}

// TestRepriceCutShortIsDoneAgain closes the store half-way through a re-price, then reopens it with the
// prices from before the change: the records already re-priced go back, because the models under way
// lost their price key in the transaction that queued them.
func TestRepriceCutShortIsDoneAgain(t *testing.T) {
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "cut.db")
	var s *Store
	var calls atomic.Int32
	closed := make(chan error, 1)
	opt := Options{Location: time.UTC, Pricer: pricesA, Now: func() time.Time { return end }, repriceChunk: 41,
		beforeReprice: func() {
			if calls.Add(1) != 4 {
				return
			}
			go func() { closed <- s.Close() }()
			// Go on only once the writer is closed, so this chunk is refused.
			for {
				s.w.mu.RLock()
				done := s.w.closed
				s.w.mu.RUnlock()
				if done {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}}
	var err error
	if s, _, err = Open(path, opt); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	b := &bruteForce{alias: map[string]string{}, pricer: pricesA}
	for range 1500 {
		b.recs = append(b.recs, randomRecord(rng, end.Add(-time.Duration(rng.Int64N(10*24*3600))*time.Second)))
	}
	mustRecord(t, s, b.recs...)
	if err := s.SetPricer(ctx, pricesB); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	var half Totals
	if err := openRaw(t, path).QueryRow(`SELECT coalesce(sum(cost), 0), count(*) - count(cost) FROM usage`).
		Scan(&half.Cost, &half.Unpriced); err != nil {
		t.Fatal(err)
	}
	if full := b.summary(LastHours(end, 24*11), Filter{}); half.Cost == full.Cost && half.Unpriced == full.Unpriced {
		t.Fatal("the store was closed before any record was re-priced: the test proves nothing")
	}
	opt.beforeReprice = nil
	if s, _, err = Open(path, opt); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitRepriced(t, s)
	checkRawMatchesRollups(t, s, end, "reopened")
	checkViews(t, s, b, LastHours(end, 24*11), Filter{}, "reopened with the old prices")
}

// TestReplacingAPricerWithoutKeysRepricesAll: a Pricer that cannot name its prices makes every model's
// records priced again when it is set.
func TestReplacingAPricerWithoutKeysRepricesAll(t *testing.T) {
	s := openTest(t, time.UTC)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []Record{rec(at, "a@example.com", "model-1", 100, 10), rec(at, "a@example.com", "model-4", 100, 10)}
	mustRecord(t, s, recs...)
	if got, _ := s.Summary(ctx, LastHours(at, 1), Filter{}); got.Unpriced != 2 {
		t.Fatalf("without a pricer: %+v", got.Totals)
	}
	if err := s.SetPricer(ctx, testPricer{}); err != nil {
		t.Fatal(err)
	}
	waitRepriced(t, s)
	b := &bruteForce{recs: recs}
	checkViews(t, s, b, LastHours(at, 1), Filter{}, "priced by testPricer")
	if err := s.SetPricer(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitRepriced(t, s)
	if got, _ := s.Summary(ctx, LastHours(at, 1), Filter{}); got.Unpriced != 2 || got.Cost != 0 {
		t.Fatalf("back to no pricer: %+v", got.Totals)
	}
}

// openRaw opens the file with plain SQL, beside (or after) the store.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestOpeningWithoutPricesKeepsCosts: a file opened without prices (a tool) keeps the stored costs and
// stores new records unpriced; opened with prices again, only the models that got such records are
// re-priced.
func TestOpeningWithoutPricesKeepsCosts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	open := func(p Pricer) *Store {
		s, _, err := Open(path, Options{Location: time.UTC, Pricer: p})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(pricesA)
	recs := []Record{rec(at, "a@example.com", "model-0", 100, 10), rec(at, "a@example.com", "model-1", 200, 20)}
	mustRecord(t, s, recs...)
	s.Close()
	s = open(nil)
	if s.Repricing().Running() {
		t.Fatal("opening without prices re-prices")
	}
	checkViews(t, s, &bruteForce{recs: recs, pricer: pricesA}, LastHours(at, 1), Filter{}, "without prices")
	late := rec(at.Add(-time.Minute), "b@example.com", "model-1", 300, 30)
	mustRecord(t, s, late)
	s.Close()
	s = open(pricesA)
	defer s.Close()
	if rp := s.Repricing(); rp.Models != 1 {
		t.Errorf("reopened with prices: %+v, want model-1 alone", rp)
	}
	waitRepriced(t, s)
	checkViews(t, s, &bruteForce{recs: append(recs, late), pricer: pricesA}, LastHours(at, 1), Filter{}, "with prices again")
}
