package stats

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// bruteForce is the obvious answer: the records kept in a slice, summed by walking all of them.
type bruteForce []Record

func (b bruteForce) in(w Window, r Record) bool {
	return r.Time.Unix() > w.From.Unix() && r.Time.Unix() <= w.To.Unix()
}

func (b bruteForce) summary(w Window) Summary {
	var s Summary
	accounts, models := map[string]bool{}, map[string]bool{}
	for _, r := range b {
		if b.in(w, r) {
			s.Add(recordTotals(&r))
			accounts[r.Account], models[r.Model] = true, true
		}
	}
	s.Accounts, s.Models = len(accounts), len(models)
	return s
}

func (b bruteForce) by(d Dimension, w Window) map[string]Totals {
	m := map[string]Totals{}
	for _, r := range b {
		if b.in(w, r) {
			k := r.Model
			if d == ByAccount {
				k = r.Account
			}
			t := m[k]
			t.Add(recordTotals(&r))
			m[k] = t
		}
	}
	return m
}

// trend labels each record with its local clock hour or day, the definition users read off a clock.
func (b bruteForce) trend(d Dimension, g Granularity, w Window, loc *time.Location) map[string]map[string]int64 {
	layout := "2006-01-02 15:00"
	if g == Daily {
		layout = "2006-01-02"
	}
	m := map[string]map[string]int64{}
	for _, r := range b {
		if b.in(w, r) {
			l := r.Time.In(loc).Format(layout)
			k := r.Model
			if d == ByAccount {
				k = r.Account
			}
			if m[l] == nil {
				m[l] = map[string]int64{}
			}
			m[l][k] += r.TotalTokens()
		}
	}
	return m
}

func (b bruteForce) without(cutoff time.Time) bruteForce {
	var out bruteForce
	for _, r := range b {
		if r.Time.Unix() > cutoff.Unix() {
			out = append(out, r)
		}
	}
	return out
}

// TestViewsAgreeWithBruteForce is the property the whole store rests on: for any window, the summary,
// the sums of the breakdown rows and of every trend point equal a brute-force sum over the records,
// in zones with half- and quarter-hour offsets and across DST changes, before and after partial clears.
func TestViewsAgreeWithBruteForce(t *testing.T) {
	zones := []string{"UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Europe/London",
		"Australia/Lord_Howe", "America/Santiago"}
	// Spring 2026 holds DST changes of New York (Mar 8), London (Mar 29), Santiago and Lord Howe (Apr 5).
	base := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	span := int64(50 * 24 * 3600)
	for zi, zone := range zones {
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			loc := mustLoad(t, zone)
			rng := rand.New(rand.NewPCG(uint64(zi), 42))
			s := openTest(t, loc)
			var all bruteForce
			for batch := 0; batch < 6; batch++ {
				recs := make([]Record, 300)
				for i := range recs {
					r := rec(base.Add(time.Duration(rng.Int64N(span))*time.Second),
						fmt.Sprintf("acct%d@example.com", rng.IntN(7)), fmt.Sprintf("model-%d", rng.IntN(5)),
						rng.Int64N(5000), rng.Int64N(3000))
					r.CachedTokens = rng.Int64N(r.InputTokens + 1)
					r.ReasoningTokens = rng.Int64N(r.OutputTokens + 1)
					r.CacheCreationTokens = rng.Int64N(100)
					recs[i] = r
				}
				// Some records land exactly on hour and day boundaries, where off-by-one errors live.
				for i := 0; i < 20; i++ {
					at := base.Add(time.Duration(rng.Int64N(span/3600)) * time.Hour).In(loc)
					if i%2 == 0 {
						at = time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, loc)
					}
					recs[i].Time = at.Add(time.Duration(rng.IntN(3)-1) * time.Second)
				}
				mustRecord(t, s, recs...)
				all = append(all, recs...)
			}
			check := func(phase string) {
				hoursChoices := []int{1, 2, 3, 5, 23, 24, 25, 47, 48, 72, 100, 168, 400, 744, 1200, 87600}
				for i := 0; i < 40; i++ {
					end := base.Add(time.Duration(rng.Int64N(span+7*24*3600)) * time.Second)
					if i%5 == 0 { // windows ending on a boundary
						end = end.Truncate(time.Hour)
					}
					hours := hoursChoices[rng.IntN(len(hoursChoices))]
					w := LastHours(end, hours)
					what := fmt.Sprintf("%s: window %d h ending %s", phase, hours, end.In(loc).Format(time.RFC3339))
					checkViews(t, s, all, w, what)
					if hours <= MaxHourlyHours {
						checkTrend(t, s, all, Hourly, end, hours, loc, what)
					}
					checkTrend(t, s, all, Daily, end, hours, loc, what)
				}
			}
			check("before clear")
			for _, h := range []int{24 * 40, 24*25 + 7, 24 * 10} {
				cutoff := base.Add(time.Duration(span) * time.Second).Add(-time.Duration(h) * time.Hour).Add(-17 * time.Minute)
				removed, err := s.Clear(ctx, &cutoff)
				if err != nil {
					t.Fatal(err)
				}
				kept := all.without(cutoff)
				if int(removed) != len(all)-len(kept) {
					t.Fatalf("clear removed %d, want %d", removed, len(all)-len(kept))
				}
				all = kept
				check(fmt.Sprintf("after clearing before %s", cutoff.In(loc).Format(time.RFC3339)))
			}
			inf, err := s.Info(ctx)
			if err != nil || inf.Records != int64(len(all)) {
				t.Fatalf("info records %d, want %d (%v)", inf.Records, len(all), err)
			}
		})
	}
}

func checkViews(t *testing.T, s *Store, all bruteForce, w Window, what string) {
	t.Helper()
	want := all.summary(w)
	got, err := s.Summary(ctx, w)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: summary %+v, brute force %+v", what, got, want)
	}
	for _, d := range []Dimension{ByModel, ByAccount} {
		rows, err := s.Breakdown(ctx, d, w)
		if err != nil {
			t.Fatal(err)
		}
		wantRows := all.by(d, w)
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

func checkTrend(t *testing.T, s *Store, all bruteForce, g Granularity, end time.Time, hours int, loc *time.Location, what string) {
	t.Helper()
	w := TrendWindow(g, end, hours)
	for _, d := range []Dimension{ByModel, ByAccount} {
		tr, err := s.Trend(ctx, d, g, end, hours)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want := all.trend(d, g, w, loc)
		seen := map[string]bool{}
		var total int64
		for _, p := range tr.Periods {
			if seen[p.Label] {
				t.Fatalf("%s: %s trend repeats period %s", what, g, p.Label)
			}
			seen[p.Label] = true
			for k, v := range p.Values {
				if want[p.Label][k] != v {
					t.Fatalf("%s: %s %s trend %s %q = %d, want %d", what, g, d, p.Label, k, v, want[p.Label][k])
				}
				total += v
			}
			if len(p.Values) != len(want[p.Label]) {
				t.Fatalf("%s: %s trend %s has %d series, want %d", what, g, p.Label, len(p.Values), len(want[p.Label]))
			}
		}
		for l := range want {
			if !seen[l] {
				t.Fatalf("%s: %s trend lacks period %s that has usage", what, g, l)
			}
		}
		if sum := all.summary(w); total != sum.TotalTokens() {
			t.Fatalf("%s: %s trend points sum to %d, summary of the same window is %d", what, g, total, sum.TotalTokens())
		}
	}
}
