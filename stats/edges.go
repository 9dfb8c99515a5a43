package stats

import (
	"fmt"
	"time"
)

// Edges. A window exact to the second reads raw rows for the partial hour at each end, refined into
// minute buckets in hours that keep them. An edge can also be read as its whole hour bucket minus the
// rest of that hour. Which of the two reads fewer rows depends on where the edge cuts the hour and on
// where the hour's records lie, so a query counts both in its own snapshot (counting rows costs a
// small fraction of reading them) and reads the cheaper. The current hour's edge then costs one hour
// bucket however busy the hour is, since the rest of the hour lies after the last record, and a busy
// past hour's edge costs at most about half of the hour's minutes and one partial minute of raw rows
// (docs/decisions.md, "Edges").

// edgeChooser decides how the edge whose direct cover is direct is read: true reads hour − rest, where
// hour is the edge's hour bucket and rest the cover of the hour outside the edge.
type edgeChooser func(hour piece, direct, rest []piece) bool

// edgeRows is the estimated cost (rows read) up to which an edge is read directly without counting
// the other way: below it the counting would cost about what it saves.
const edgeRows = 256

// edgeMode says how a store reads its edges: by estimate, or, in tests, always one way.
type edgeMode int

const (
	edgesByEstimate edgeMode = iota
	edgesDirect
	edgesAsHour
)

// cover appends the pieces that read [a, b), a span inside one hour bucket, directly: in an hour that
// has minute rollups, its whole minutes from them and only the partial minutes at the ends from raw
// rows.
func cover(out []piece, a, b int64, loc *time.Location, ms *minuteState) []piece {
	add := func(l level, x, y int64) {
		if x < y {
			out = append(out, piece{lvl: l, lo: x, hi: y, at: x})
		}
	}
	if a >= b {
		return out
	}
	hs, _ := span(levelHour, a, loc)
	m1, m2 := ceilBoundary(levelMinute, a, loc), floorBoundary(levelMinute, b, loc)
	if ms.has(hs) && m1 < m2 {
		add(levelRaw, a, m1)
		add(levelMinute, m1, m2)
		add(levelRaw, m2, b)
	} else {
		add(levelRaw, a, b)
	}
	return out
}

// addEdges appends the pieces of a raw span that lies within at most two hour buckets, hour by hour:
// each part directly, or as its hour minus the rest of the hour when choose says so.
func addEdges(out []piece, lo, hi int64, loc *time.Location, ms *minuteState, choose edgeChooser) []piece {
	for a := lo; a < hi; {
		hs, he := span(levelHour, a, loc)
		b := min(he, hi)
		direct := cover(nil, a, b, loc, ms)
		// Before the retention cutoff there are no hour buckets to read an edge from.
		if choose != nil && hs >= ms.retired && (a > hs || b < he) {
			hour := piece{lvl: levelHour, lo: hs, hi: he}
			rest := cover(cover(nil, hs, a, loc, ms), b, he, loc, ms)
			if choose(hour, direct, rest) {
				hour.part, hour.at = true, a
				out = append(out, hour)
				for _, p := range rest {
					p.part, p.neg, p.at = true, true, a
					out = append(out, p)
				}
				a = b
				continue
			}
		}
		out = append(out, direct...)
		a = b
	}
	return out
}

// chooseEdge is the visitor's edgeChooser: it estimates both readings in the query's snapshot.
// Estimating errors are kept and end the query after planning.
func (v *visitor) chooseEdge(hour piece, direct, rest []piece) bool {
	switch v.s.edges {
	case edgesDirect:
		return false
	case edgesAsHour:
		return true
	}
	d := v.estimate(direct)
	if d <= edgeRows {
		return false
	}
	return v.estimate(rest)+v.estimate([]piece{hour}) < d && v.err == nil
}

// estimate is how many rows the pieces read: raw rows, and rollup rows of every dimension asked (of
// the first, counted, times their number; a filtered read's per-combo rows are in proportion).
func (v *visitor) estimate(ps []piece) int64 {
	var n int64
	for _, p := range ps {
		if v.err != nil {
			return 0
		}
		var c int64
		var err error
		if p.lvl == levelRaw {
			err = v.tx.QueryRowContext(v.ctx, `SELECT count(*) FROM usage WHERE id >= ? AND id < ?`,
				p.lo<<seqBits, p.hi<<seqBits).Scan(&c)
		} else {
			err = v.tx.QueryRowContext(v.ctx, `SELECT count(*) FROM rollup WHERE level = ? AND dim = ? AND bucket >= ? AND bucket < ?`,
				int(p.lvl), int(v.o.dims[0]), p.lo, p.hi).Scan(&c)
			c *= int64(len(v.o.dims))
		}
		if err != nil {
			v.err = fmt.Errorf("read usage: %w", err)
			return 0
		}
		n += c
	}
	return n
}
