package stats

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// bruteForce is the obvious answer: the records kept in a slice, summed by walking all of them, with
// the names as views show them (alias applied) and the cost the store's pricer gives.
type bruteForce struct {
	recs   []Record
	alias  map[string]string // shown name of a stored name, when it has an alias
	pricer Pricer            // nil: testPricer
	// at, when set, is the second a record counts at (retention moves records before the cutoff to the
	// start of their day); nil: its own.
	at func(ts int64) int64
}

// when is the second r counts at.
func (b *bruteForce) when(r *Record) int64 {
	if b.at != nil {
		return b.at(r.Time.Unix())
	}
	return r.Time.Unix()
}

// retireBefore applies docs/retention.md's rule for a cutoff at the day bucket start cut of loc: a
// record before it counts at the start of its day bucket.
func (b *bruteForce) retireBefore(cut int64, loc *time.Location) {
	b.at = func(ts int64) int64 {
		if ts < cut {
			return floorBoundary(levelDay, ts, loc)
		}
		return ts
	}
}

func (b *bruteForce) shown(r *Record, d Dimension) string {
	n := nameOfDim(r, d)
	if a, ok := b.alias[n]; ok {
		return a
	}
	return n
}

func (b *bruteForce) keeps(r *Record, w Window, f Filter) bool {
	if ts := b.when(r); ts <= w.From.Unix() || ts > w.To.Unix() {
		return false
	}
	for _, d := range allDims {
		if vals := f.Values(d); len(vals) > 0 && !slices.Contains(vals, b.shown(r, d)) {
			return false
		}
	}
	return true
}

func (b *bruteForce) totals(r *Record) Totals {
	var p Pricer = testPricer{}
	if b.pricer != nil {
		p = b.pricer
	}
	cost, ok := p.Price(r)
	return recordTotals(r, cost, ok)
}

func (b *bruteForce) summary(w Window, f Filter) Summary {
	var s Summary
	accounts, models := map[string]bool{}, map[string]bool{}
	for i := range b.recs {
		if r := &b.recs[i]; b.keeps(r, w, f) {
			s.Add(b.totals(r))
			accounts[b.shown(r, ByAccount)], models[b.shown(r, ByModel)] = true, true
		}
	}
	s.Accounts, s.Models = len(accounts), len(models)
	return s
}

func (b *bruteForce) by(d Dimension, w Window, f Filter) map[string]Totals {
	m := map[string]Totals{}
	for i := range b.recs {
		if r := &b.recs[i]; b.keeps(r, w, f) {
			t := m[b.shown(r, d)]
			t.Add(b.totals(r))
			m[b.shown(r, d)] = t
		}
	}
	return m
}

// trend labels each record with its local clock hour or day, the definition users read off a clock.
func (b *bruteForce) trend(q TrendQuery, loc *time.Location) map[string]map[string]int64 {
	layout := "2006-01-02 15:00"
	if q.Granularity == Daily {
		layout = "2006-01-02"
	}
	w := TrendWindow(q.Granularity, q.End, q.Hours)
	m := map[string]map[string]int64{}
	for i := range b.recs {
		if r := &b.recs[i]; b.keeps(r, w, q.Filter) {
			l := time.Unix(b.when(r), 0).In(loc).Format(layout)
			if m[l] == nil {
				m[l] = map[string]int64{}
			}
			t := b.totals(r)
			m[l][b.shown(r, q.Dimension)] += q.Metric.of(&t)
		}
	}
	return m
}

func (b *bruteForce) without(cutoff time.Time) {
	var out []Record
	for _, r := range b.recs {
		if b.when(&r) > cutoff.Unix() {
			out = append(out, r)
		}
	}
	b.recs = out
}

// all sums every record.
func (b *bruteForce) all() Totals {
	var t Totals
	for i := range b.recs {
		t.Add(b.totals(&b.recs[i]))
	}
	return t
}

// checkCounters checks that the lifetime counters sum to every record ever stored (ever: those stored
// now plus those cleared) and stay within their label limits.
func checkCounters(t *testing.T, s *Store, ever Totals, what string) {
	t.Helper()
	cs, err := s.Counters(ctx, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	var sum Totals
	seen := map[[3]string]bool{}
	models := map[string]bool{}
	for _, c := range cs {
		k := [3]string{c.Model, c.Account, c.Source}
		if seen[k] {
			t.Fatalf("%s: counters repeat %v", what, k)
		}
		seen[k] = true
		models[c.Model] = true
		sum.Add(c.Totals)
	}
	if sum != ever {
		t.Fatalf("%s: counters sum to %+v, want %+v", what, sum, ever)
	}
	if len(cs) > 11 || len(models) > 4 {
		t.Fatalf("%s: %d series, %d models: past the limits (10 series + other, 3 models + other)", what, len(cs), len(models))
	}
}

// TestViewsAgreeWithBruteForce is the property the whole store rests on: for any window and any
// filter, the summary, the sums of the breakdown rows of every dimension and every trend point (in
// tokens, money and requests) equal a brute-force sum over the records, in zones with half- and
// quarter-hour offsets and across DST changes. It holds while every hour keeps minute rollups, after
// quiet hours lose them and a busy one keeps them, after names get an alias, after a rebuild of every
// rollup from the raw rows, and after partial clears.
func TestViewsAgreeWithBruteForce(t *testing.T) {
	zones := []string{"UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Europe/London",
		"Australia/Lord_Howe", "America/Santiago"}
	// Spring 2026 holds DST changes of New York (Mar 8), London (Mar 29), Santiago and Lord Howe (Apr 5).
	base := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	span := int64(50 * 24 * 3600)
	end := base.Add(time.Duration(span) * time.Second)
	for zi, zone := range zones {
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			loc := mustLoad(t, zone)
			rng := rand.New(rand.NewPCG(uint64(zi), 42))
			// The store's clock follows the records, as in live use: hours an hour or more behind it lose
			// their minute rollups as the writer compacts them, but a busy one keeps them.
			var clock atomic.Int64
			clock.Store(base.Unix())
			now := func() time.Time { return time.Unix(clock.Load(), 0) }
			path := filepath.Join(t.TempDir(), "p.db")
			s, _, err := Open(path, Options{Location: loc, Pricer: testPricer{}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			b := &bruteForce{alias: map[string]string{}}
			for range 6 * 300 {
				b.recs = append(b.recs, randomRecord(rng, base.Add(time.Duration(rng.Int64N(span))*time.Second)))
			}
			// Some records land exactly on hour and day boundaries, where off-by-one errors live.
			for i := 0; i < 120; i++ {
				at := base.Add(time.Duration(rng.Int64N(span/3600)) * time.Hour).In(loc)
				if i%2 == 0 {
					at = time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, loc)
				}
				b.recs[i].Time = at.Add(time.Duration(rng.IntN(3)-1) * time.Second)
			}
			// One busy hour, enough to keep its minute rollups after compaction.
			mid := base.Add(time.Duration(span/2) * time.Second).In(loc)
			busyAt := time.Date(mid.Year(), mid.Month(), mid.Day(), mid.Hour(), 5, 0, 0, loc)
			for range busyHour + 50 {
				b.recs = append(b.recs, randomRecord(rng, busyAt.Add(time.Duration(rng.IntN(40*60))*time.Second)))
			}
			slices.SortFunc(b.recs, func(x, y Record) int { return x.Time.Compare(y.Time) })
			for lo := 0; lo < len(b.recs); lo += 300 {
				part := b.recs[lo:min(lo+300, len(b.recs))]
				clock.Store(part[len(part)-1].Time.Unix())
				mustRecord(t, s, part...)
				// The writer compacts after it answers; wait for that before the clock moves on, or it
				// could compact an hour whose last records are in the next batch (as it may in real use
				// when a spool replays hours late: those records then have no minutes, which is slower
				// to read, never wrong).
				if err := s.compactNow(ctx); err != nil {
					t.Fatal(err)
				}
			}
			s.minutes.mu.RLock()
			busyKept, from := len(s.minutes.busy), s.minutes.from
			s.minutes.mu.RUnlock()
			if busyKept != 1 || from < end.Add(-12*time.Hour).Unix() {
				t.Fatalf("while live: %d busy hours kept (want 1), minutes from %s", busyKept, time.Unix(from, 0))
			}

			check := func(phase string, n int) {
				for i := 0; i < n; i++ {
					e := base.Add(time.Duration(rng.Int64N(span+7*24*3600)) * time.Second)
					switch i % 5 {
					case 0: // windows ending on a boundary
						e = e.Truncate(time.Hour)
					case 1: // windows with an edge inside the busy hour
						e = busyAt.Add(time.Duration(rng.IntN(3600)-1800) * time.Second)
					}
					hours := []int{1, 2, 3, 5, 23, 24, 25, 47, 48, 72, 100, 168, 400, 744, 1200, 87600}[rng.IntN(16)]
					if i%5 == 2 { // windows starting inside the busy hour
						e = busyAt.Add(time.Duration(1+rng.IntN(400*3600)) * time.Second)
						hours = int(e.Sub(busyAt.Add(-time.Duration(rng.IntN(1000))*time.Second)).Hours()) + 1
					}
					w := LastHours(e, hours)
					// Edges read by estimate, directly, and as their hour minus the rest of it, in turn.
					s.edges = edgeMode(i % 3)
					what := fmt.Sprintf("%s: window %d h ending %s, edges %d", phase, hours, e.In(loc).Format(time.RFC3339), s.edges)
					var f Filter
					if i%2 == 1 {
						f = randomFilter(rng, b)
						what += fmt.Sprintf(", filter %+v", f)
					}
					checkViews(t, s, b, w, f, what)
					q := TrendQuery{Dimension: allDims[rng.IntN(len(allDims))], End: e, Hours: hours, Filter: f,
						Metric: Metric(rng.IntN(3))}
					if hours <= MaxHourlyHours {
						q.Granularity = Hourly
						checkTrend(t, s, b, q, loc, what)
					}
					q.Granularity = Daily
					checkTrend(t, s, b, q, loc, what)
				}
			}
			check("live", 30)
			sealedRows(t, s, "while live")

			clock.Store(end.Add(30 * time.Hour).Unix())
			if err := s.compactNow(ctx); err != nil {
				t.Fatal(err)
			}
			s.minutes.mu.RLock()
			busyKept, from = len(s.minutes.busy), s.minutes.from
			s.minutes.mu.RUnlock()
			if busyKept != 1 || from <= end.Unix() {
				t.Fatalf("after compaction: %d busy hours kept (want 1), minutes from %s", busyKept, time.Unix(from, 0))
			}
			check("after compaction", 30)

			// Two accounts and a model get aliases; the first two now show, count and filter as one.
			for _, a := range [][3]string{{"account", "acct5@example.com", "team"}, {"account", "acct6@example.com", "team"},
				{"model", "model-3", "模型-三"}} {
				d, _ := ParseDimension(a[0])
				if err := s.SetAlias(ctx, d, a[1], a[2]); err != nil {
					t.Fatal(err)
				}
				b.alias[a[1]] = a[2]
			}
			check("with aliases", 20)

			// Rebuild every rollup from the raw rows, as a zone change does.
			rebuildNow := func() {
				s.Close()
				forgetZone(t, path)
				if s, _, err = Open(path, Options{Location: loc, Pricer: testPricer{}, Now: now, retireChunk: 97,
					sealChunk: 89}); err != nil {
					t.Fatal(err)
				}
			}
			rebuildNow()
			check("after a rebuild", 20)
			ever := b.all()
			checkCounters(t, s, ever, "after a rebuild")
			// A rebuild writes everything to cube; the next compaction seals it again.
			if err := s.compactNow(ctx); err != nil {
				t.Fatal(err)
			}
			sealedRows(t, s, "after a rebuild")
			check("sealed again", 10)
			checkCounters(t, s, ever, "sealed again")

			// Retention: the raw rows before the start of the day holding retireAt go (in chunks of 97
			// rows), and views answer the days before it whole.
			retireAt := end.Add(-20*24*time.Hour - 5*time.Hour)
			cut := floorBoundary(levelDay, retireAt.Unix(), loc)
			var kept int64
			for _, r := range b.recs {
				if r.Time.Unix() >= cut {
					kept++
				}
			}
			res, err := s.Retire(ctx, retireAt)
			if err != nil {
				t.Fatal(err)
			}
			b.retireBefore(cut, loc)
			if res.Cutoff.Unix() != cut || res.Removed != int64(len(b.recs))-kept {
				t.Fatalf("retire: cutoff %s, removed %d; want %s, %d", res.Cutoff, res.Removed,
					time.Unix(cut, 0).In(loc), int64(len(b.recs))-kept)
			}
			cutAt := time.Unix(cut, 0)
			checkRetired := func(phase string, n int) {
				check(phase, n)
				// Windows with an edge within two days of the cutoff, where the rule bites.
				for i := 0; i < n; i++ {
					e := cutAt.Add(time.Duration(rng.IntN(4*24*3600)-2*24*3600) * time.Second)
					hours := 1 + rng.IntN(24*12)
					if i%2 == 0 {
						e = e.Add(time.Duration(hours) * time.Hour) // starts near the cutoff
					}
					var f Filter
					if i%3 == 1 {
						f = randomFilter(rng, b)
					}
					what := fmt.Sprintf("%s: window %d h ending %s, filter %+v", phase, hours, e.In(loc).Format(time.RFC3339), f)
					checkViews(t, s, b, LastHours(e, hours), f, what)
					q := TrendQuery{Dimension: allDims[rng.IntN(len(allDims))], End: e, Hours: hours, Filter: f,
						Metric: Metric(rng.IntN(3)), Granularity: Hourly}
					checkTrend(t, s, b, q, loc, what)
					q.Granularity = Daily
					checkTrend(t, s, b, q, loc, what)
				}
				inf, err := s.Info(ctx)
				if err != nil || inf.Records != kept || inf.Cutoff.Unix() != cut {
					t.Fatalf("%s: info says %d records, cutoff %s; want %d, %s (%v)", phase, inf.Records, inf.Cutoff,
						kept, cutAt.In(loc), err)
				}
				checkCounters(t, s, ever, phase)
			}
			checkRetired("after retention", 12)
			// An earlier cutoff changes nothing.
			if res, err := s.Retire(ctx, retireAt.Add(-72*time.Hour)); err != nil || res.Removed != 0 || res.Cutoff.Unix() != cut {
				t.Fatalf("an earlier cutoff: %+v, %v", res, err)
			}
			// Records older than the cutoff that arrive now (a spool replayed late) join the day totals.
			var late []Record
			for range 40 {
				late = append(late, randomRecord(rng, base.Add(time.Duration(rng.Int64N(cut-base.Unix()))*time.Second)))
			}
			mustRecord(t, s, late...)
			b.recs = append(b.recs, late...)
			ever.Add((&bruteForce{recs: late}).all())
			checkRetired("with late records before the cutoff", 6)
			rebuildNow()
			checkRetired("after a rebuild with retention", 6)

			for _, h := range []int{24 * 40, 24*25 + 7, 24 * 10} {
				cutoff := end.Add(-time.Duration(h) * time.Hour).Add(-17 * time.Minute)
				before := len(b.recs)
				counted, err := s.CountThrough(ctx, cutoff)
				if err != nil {
					t.Fatal(err)
				}
				removed, err := s.Clear(ctx, &cutoff)
				if err != nil {
					t.Fatal(err)
				}
				b.without(cutoff)
				if int(removed) != before-len(b.recs) || counted != removed {
					t.Fatalf("clear removed %d (counted %d before), want %d", removed, counted, before-len(b.recs))
				}
				what := fmt.Sprintf("after clearing before %s", cutoff.In(loc).Format(time.RFC3339))
				check(what, 15)
				checkCounters(t, s, ever, what)
			}
			inf, err := s.Info(ctx)
			var raw int64
			for _, r := range b.recs {
				if r.Time.Unix() >= cut {
					raw++
				}
			}
			if err != nil || inf.Records != raw {
				t.Fatalf("info records %d, want %d (%v)", inf.Records, raw, err)
			}
			if _, err := s.Clear(ctx, nil); err != nil {
				t.Fatal(err)
			}
			b.recs = nil
			check("after clearing everything", 5)
			checkCounters(t, s, ever, "after clearing everything")
		})
	}
}

func randomRecord(rng *rand.Rand, at time.Time) Record {
	r := rec(at, fmt.Sprintf("acct%d@example.com", rng.IntN(7)), fmt.Sprintf("model-%d", rng.IntN(5)),
		rng.Int64N(5000), rng.Int64N(3000))
	r.CachedTokens = rng.Int64N(r.InputTokens + 1)
	r.CacheCreationTokens = rng.Int64N(r.InputTokens - r.CachedTokens + 1)
	r.ReasoningTokens = rng.Int64N(r.OutputTokens + 1)
	r.Source = []string{"", "gcli2api", "claude-code"}[rng.IntN(3)]
	r.Credential = []string{"", "cred-a.json", "key …a1b2"}[rng.IntN(3)]
	r.IsAntigravity = rng.IntN(2) == 0
	if rng.IntN(4) == 0 {
		r.AgentCost, r.HasAgentCost = Money(rng.Int64N(1_000_000)), true
	}
	return r
}

// randomFilter keeps one or two names of one or two dimensions, as shown (an alias, when there is one).
func randomFilter(rng *rand.Rand, b *bruteForce) Filter {
	var f Filter
	if len(b.recs) == 0 {
		return f
	}
	pick := func(d Dimension) []string {
		var out []string
		for range 1 + rng.IntN(2) {
			r := &b.recs[rng.IntN(len(b.recs))]
			out = append(out, b.shown(r, d))
		}
		return out
	}
	for range 1 + rng.IntN(2) {
		switch d := allDims[rng.IntN(len(allDims))]; d {
		case ByModel:
			f.Models = pick(d)
		case ByAccount:
			f.Accounts = pick(d)
		case BySource:
			f.Sources = pick(d)
		case ByCredential:
			f.Credentials = pick(d)
		}
	}
	return f
}

// sealedRows fails unless the hour, day and month rollups of buckets over are sealed (seal.go), so
// that the checks read both tables, and stripped (strip.go).
func sealedRows(t *testing.T, s *Store, what string) {
	t.Helper()
	for _, l := range sealLevels {
		var n, left int64
		s.minutes.mu.RLock()
		mark := s.minutes.sealed[l]
		s.minutes.mu.RUnlock()
		if err := s.rdb.QueryRow(`SELECT count(*) FROM cube_sealed WHERE level = ?`, int(l)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := s.rdb.QueryRow(`SELECT count(*) FROM cube WHERE level = ? AND bucket < ?`, int(l), mark).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if l != levelMonth && n == 0 || left != 0 || mark != sealTarget(l, s.now().Unix(), s.loc) {
			t.Fatalf("%s: level %d sealed up to %s with %d rows, %d left behind", what, l, time.Unix(mark, 0), n, left)
		}
	}
	strippedRows(t, s, what)
}

func checkViews(t *testing.T, s *Store, b *bruteForce, w Window, f Filter, what string) {
	t.Helper()
	want := b.summary(w, f)
	got, err := s.Summary(ctx, w, f)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: summary %+v, brute force %+v", what, got, want)
	}
	for _, d := range allDims {
		rows, err := s.Breakdown(ctx, d, w, f)
		if err != nil {
			t.Fatal(err)
		}
		wantRows := b.by(d, w, f)
		if len(rows) != len(wantRows) {
			t.Fatalf("%s: %d %s rows, want %d", what, len(rows), d, len(wantRows))
		}
		var sum Totals
		for _, r := range rows {
			if r.Totals != wantRows[r.Name] {
				t.Fatalf("%s: %s %q = %+v, want %+v", what, d, r.Name, r.Totals, wantRows[r.Name])
			}
			sum.Add(r.Totals)
		}
		if sum != want.Totals {
			t.Fatalf("%s: %s rows sum to %+v, summary says %+v", what, d, sum, want.Totals)
		}
	}
}

func checkTrend(t *testing.T, s *Store, b *bruteForce, q TrendQuery, loc *time.Location, what string) {
	t.Helper()
	what = fmt.Sprintf("%s: %s %s trend of %s", what, q.Granularity, q.Dimension, q.Metric)
	tr, err := s.Trend(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	want := b.trend(q, loc)
	seen := map[string]bool{}
	var total int64
	for _, p := range tr.Periods {
		if seen[p.Label] {
			t.Fatalf("%s: repeats period %s", what, p.Label)
		}
		seen[p.Label] = true
		for k, v := range p.Values {
			if want[p.Label][k] != v {
				t.Fatalf("%s: %s %q = %d, want %d", what, p.Label, k, v, want[p.Label][k])
			}
			total += v
		}
		if len(p.Values) != len(want[p.Label]) {
			t.Fatalf("%s: %s has %d series, want %d", what, p.Label, len(p.Values), len(want[p.Label]))
		}
	}
	for l := range want {
		if !seen[l] {
			t.Fatalf("%s: lacks period %s that has usage", what, l)
		}
	}
	sum := b.summary(TrendWindow(q.Granularity, q.End, q.Hours), q.Filter)
	if total != q.Metric.of(&sum.Totals) {
		t.Fatalf("%s: points sum to %d, the summary of the same window says %d", what, total, q.Metric.of(&sum.Totals))
	}
}
