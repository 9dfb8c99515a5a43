package stats

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// An edge whose rest of the hour holds fewer rows than the edge is read as its hour bucket minus that
// rest: the busy current hour (nothing lies after the last record) and the window's first hour when
// its records lie after the window's start. The sums are the same whichever way an edge is read.
func TestEdgesReadTheCheaperWay(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 40, 30, 0, time.UTC)
	s, _, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var recs []Record
	add := func(from time.Time, n int, step time.Duration) {
		for i := 0; i < n; i++ {
			r := rec(from.Add(time.Duration(i)*step), fmt.Sprintf("a%d@x", i%7), fmt.Sprintf("m%d", i%5), int64(i%90+1), 3)
			recs = append(recs, r)
		}
	}
	start := now.Add(-24 * time.Hour)
	add(start.Truncate(time.Hour), 3, 10*time.Minute) // 14:00, 14:10, 14:20 the day before: outside
	add(start.Add(30*time.Second), 1140, time.Second) // 14:41:00–14:59:59 the day before
	add(now.Truncate(time.Hour), 2400, time.Second)   // 14:00:00–14:39:59 today
	mustRecord(t, s, recs...)

	w := LastHours(now, 24)
	lo, hi := w.bounds()
	v := &visitor{s: s, ctx: ctx, o: visitOpts{coarsest: levelMonth, dims: []Dimension{ByModel, ByAccount}, whole: true}}
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	v.tx = tx
	s.minutes.mu.RLock()
	pieces := plan(lo, hi, levelMonth, s.loc, &s.minutes, v.chooseEdge)
	s.minutes.mu.RUnlock()
	if v.err != nil {
		t.Fatal(v.err)
	}
	var asHour []int64
	for _, p := range pieces {
		if p.part && !p.neg {
			asHour = append(asHour, p.lo)
		}
	}
	want := []int64{start.Truncate(time.Hour).Unix(), now.Truncate(time.Hour).Unix()}
	if fmt.Sprint(asHour) != fmt.Sprint(want) {
		t.Errorf("edges read as their hour: %v; want the busy hours %v (pieces %+v)", asHour, want, pieces)
	}

	var sums []Summary
	for _, m := range []edgeMode{edgesByEstimate, edgesDirect, edgesAsHour} {
		s.edges = m
		sum, err := s.Summary(ctx, w, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	if want := int64(1140 + 2400); sums[0].Requests != want {
		t.Errorf("records in the window: %d; want %d", sums[0].Requests, want)
	}
	if sums[0] != sums[1] || sums[0] != sums[2] {
		t.Errorf("summaries by estimate, directly and as hours differ:\n%+v\n%+v\n%+v", sums[0], sums[1], sums[2])
	}
}
