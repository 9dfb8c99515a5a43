package stats

import "time"

// Rollups are kept per local clock hour and per local day of the store's time zone. A bucket is keyed
// by the unix second at which it starts. Buckets are contiguous spans of real time: a clock hour or day
// that a DST change splits (or repeats) is several buckets, merged again by label when a trend is drawn.
// Every zone's offset is a whole number of minutes, so a bucket never splits a second.

type level int

const (
	levelHour  level = 1
	levelDay   level = 2
	levelMonth level = 3 // summaries and breakdowns only: a year is 12 buckets instead of 365
)

// rollupLevels are the levels every record is added to.
var rollupLevels = []level{levelHour, levelDay, levelMonth}

// span returns the bucket of level l that holds unix second ts: [start, end).
func span(l level, ts int64, loc *time.Location) (start, end int64) {
	if l == levelMonth {
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

// piece is a part of a window answered from one source: raw rows (level 0) or a rollup level.
type piece struct {
	lvl    level // 0 = raw rows
	lo, hi int64 // [lo, hi) in unix seconds; for rollups, bucket starts in that range
}

// plan splits [lo, hi) into raw edges, hour buckets and (when coarsest allows) day and month buckets, so that
// long windows read few rows and the edges stay exact to the second. Empty pieces are left out.
func plan(lo, hi int64, coarsest level, loc *time.Location) []piece {
	var out []piece
	add := func(l level, a, b int64) {
		if a < b {
			out = append(out, piece{l, a, b})
		}
	}
	h1, h2 := ceilBoundary(levelHour, lo, loc), floorBoundary(levelHour, hi, loc)
	if h1 >= h2 {
		add(0, lo, hi)
		return out
	}
	add(0, lo, h1)
	add(0, h2, hi)
	if coarsest >= levelDay {
		d1, d2 := ceilBoundary(levelDay, h1, loc), floorBoundary(levelDay, h2, loc)
		if d1 < d2 {
			add(levelHour, h1, d1)
			add(levelHour, d2, h2)
			if coarsest == levelMonth {
				m1, m2 := ceilBoundary(levelMonth, d1, loc), floorBoundary(levelMonth, d2, loc)
				if m1 < m2 {
					add(levelDay, d1, m1)
					add(levelDay, m2, d2)
					add(levelMonth, m1, m2)
					return out
				}
			}
			add(levelDay, d1, d2)
			return out
		}
	}
	add(levelHour, h1, h2)
	return out
}
