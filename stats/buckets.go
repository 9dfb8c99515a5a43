package stats

import (
	"sync"
	"time"
)

// Rollups are kept per minute, per local clock hour, per local day and per local month of the store's
// time zone. A bucket is keyed by the unix second at which it starts. Hours and days are contiguous spans
// of real time: a clock hour or day that a DST change splits (or repeats) is several buckets, merged
// again by label when a trend is drawn. Minutes are plain 60-second spans of unix time.

type level int

const (
	levelRaw    level = 0 // raw rows, exact to the second
	levelMinute level = 1 // only in open or busy hours (see minuteState)
	levelHour   level = 2
	levelDay    level = 3
	levelMonth  level = 4 // summaries and breakdowns only: a year is 12 buckets instead of 365
)

// rollupLevels are the levels of the rollups every record adds to, per dimension and per combo; the
// minute level only while its hour keeps minutes.
var rollupLevels = [...]level{levelMinute, levelHour, levelDay, levelMonth}

// span returns the bucket of level l that holds unix second ts: [start, end).
func span(l level, ts int64, loc *time.Location) (start, end int64) {
	switch l {
	case levelMinute:
		return ts - ts%60, ts - ts%60 + 60
	case levelMonth:
		return monthSpan(ts, loc)
	}
	t := time.Unix(ts, 0).In(loc)
	var into, width int64
	if l == levelHour {
		into, width = int64(t.Minute()*60+t.Second()), 3600
	} else {
		into, width = int64(t.Hour()*3600+t.Minute()*60+t.Second()), 86400
	}
	start, end = ts-into, ts-into+width
	zs, ze := t.ZoneBounds()
	if !zs.IsZero() && zs.Unix() > start {
		start = zs.Unix()
	}
	if !ze.IsZero() && ze.Unix() < end {
		end = ze.Unix()
	}
	return start, end
}

// monthSpan is the local calendar month holding ts, from the start of the day bucket of its first day
// to the start of the next month's, so month boundaries are always day boundaries. Unlike hours and
// days, a month is not cut at zone transitions: no trend draws months, only sums read them.
func monthSpan(ts int64, loc *time.Location) (start, end int64) {
	t := time.Unix(ts, 0).In(loc)
	first := func(y int, m time.Month) int64 {
		c := time.Date(y, m, 1, 0, 0, 0, 0, loc)
		// In a zone whose clocks skip midnight, Date may answer an instant of the day before.
		for i := 0; i < 3 && c.Day() != 1; i++ {
			_, e := span(levelDay, c.Unix(), loc)
			c = time.Unix(e, 0).In(loc)
		}
		s, _ := span(levelDay, c.Unix(), loc)
		return s
	}
	return first(t.Year(), t.Month()), first(t.Year(), t.Month()+1)
}

// label is the period a bucket starting at ts belongs to.
func label(l level, ts int64, loc *time.Location) string {
	t := time.Unix(ts, 0).In(loc)
	if l == levelHour {
		return t.Format("2006-01-02 15:00")
	}
	return t.Format("2006-01-02")
}

// ceilBoundary is the first bucket start ≥ ts; floorBoundary the last bucket start ≤ ts.
func ceilBoundary(l level, ts int64, loc *time.Location) int64 {
	s, e := span(l, ts, loc)
	if s == ts {
		return ts
	}
	return e
}

func floorBoundary(l level, ts int64, loc *time.Location) int64 {
	s, _ := span(l, ts, loc)
	return s
}

// piece is a part of a window answered from one source: raw rows, or the buckets of a rollup level
// whose starts lie in [lo, hi).
type piece struct {
	lvl    level
	lo, hi int64 // unix seconds
	// part marks a piece of an edge read as its hour bucket minus the rest of the hour (edges.go): it
	// is summed, reported at `at` (the edge's start), subtracted when neg, and read from the query's
	// own snapshot, never from the trend cache.
	part, neg bool
	at        int64
}

// minuteState says which hours have minute rollups. Every hour from `from` on keeps them while it is
// recent (the writer adds minute rows for it); when an hour has been over for a while the writer
// compacts it: a busy hour (at least busyHour records) keeps its minutes, a quiet one loses them, as
// reading its raw rows is as cheap. Readers hold mu for reading while they plan and read a query, the
// writer for writing while it commits a compaction, so no query reads an hour whose minutes just went.
// The retention cutoff is published the same way.
type minuteState struct {
	mu   sync.RWMutex
	from int64
	busy map[int64]bool
	// retired is the retention cutoff, a day bucket start (0: none): before it only day and month
	// rollups answer, and every record counts at the start of its day bucket (docs/retention.md).
	retired int64
	// sealed is, per level (hour, day, month), the first bucket whose per-combo rows are still in cube:
	// those of earlier buckets are in cube_sealed (seal.go).
	sealed sealMarks
	// strips is, per level (hour, day), the range whose whole spans are read from strips (strip.go).
	strips stripMarks
}

// busyHour is how many records an hour must hold to keep its minute rollups after compaction: an edge
// hour with fewer costs at most that many raw rows to read.
const busyHour = 4096

// has reports whether the hour bucket starting at h has minute rollups; mu must be held.
func (m *minuteState) has(h int64) bool { return h >= m.from || m.busy[h] }

// plan splits [lo, hi) into pieces so that long windows read few rows and the edges stay exact to the
// second: raw edges (refined into minute buckets inside hours that have them, or read as their hour
// minus the rest of it when choose says so: edges.go), hour buckets, and, when coarsest allows, day and
// month buckets. Filtered and unfiltered queries share the plan: the per-combo rollups have the same
// levels and minutes as the per-dimension ones. Empty pieces are left out. Before the retention cutoff
// only whole day buckets answer, those whose start lies in [lo, hi), and each is reported at its start
// (whatever coarsest says). ms.mu must be held for reading; choose may be nil (every edge is read
// directly).
func plan(lo, hi int64, coarsest level, loc *time.Location, ms *minuteState, choose edgeChooser) []piece {
	var out []piece
	add := func(l level, a, b int64) {
		if a < b {
			out = append(out, piece{lvl: l, lo: a, hi: b, at: a})
		}
	}
	edges := func(a, b int64) { out = addEdges(out, a, b, loc, ms, choose) }
	if c := ms.retired; lo < c {
		d1, d2 := ceilBoundary(levelDay, lo, loc), min(ceilBoundary(levelDay, hi, loc), c)
		if d1 < d2 {
			addDaysMonths(d1, d2, coarsest, loc, add)
		}
		if lo = c; lo >= hi {
			return out
		}
	}
	h1, h2 := ceilBoundary(levelHour, lo, loc), floorBoundary(levelHour, hi, loc)
	if h1 >= h2 {
		edges(lo, hi)
		return out
	}
	edges(lo, h1)
	edges(h2, hi)
	if coarsest >= levelDay {
		d1, d2 := ceilBoundary(levelDay, h1, loc), floorBoundary(levelDay, h2, loc)
		if d1 < d2 {
			add(levelHour, h1, d1)
			add(levelHour, d2, h2)
			addDaysMonths(d1, d2, coarsest, loc, add)
			return out
		}
	}
	add(levelHour, h1, h2)
	return out
}

// addDaysMonths covers whole days [d1, d2) with day buckets, and with month buckets where whole months
// fit and coarsest allows.
func addDaysMonths(d1, d2 int64, coarsest level, loc *time.Location, add func(level, int64, int64)) {
	if coarsest == levelMonth {
		m1, m2 := ceilBoundary(levelMonth, d1, loc), floorBoundary(levelMonth, d2, loc)
		if m1 < m2 {
			add(levelDay, d1, m1)
			add(levelDay, m2, d2)
			add(levelMonth, m1, m2)
			return
		}
	}
	add(levelDay, d1, d2)
}

// bucketsOf lists the bucket starts of level l that begin in [lo, hi), in order.
func bucketsOf(l level, lo, hi int64, loc *time.Location) []int64 {
	var out []int64
	for b := ceilBoundary(l, lo, loc); b < hi; {
		out = append(out, b)
		_, b = span(l, b, loc)
	}
	return out
}
