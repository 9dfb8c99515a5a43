package stats

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Strips: a filtered trend reads one value per bucket and combo from the sealed rows, and SQLite takes
// about 20 ms to step through the 36,000 of one model's daily trend by account over a year, whatever the
// query asks of them (BenchmarkSealedRows). A strip packs one combo's sealed rows of a whole span (the
// day of an hour level, the month of a day level) into one blob of what a trend shows: per bucket its
// tokens, cost and requests. That trend then reads 1,300 strips.
//
// Strips are derived from cube_sealed, and exact for every span inside [from, to) of their level (the
// strip marks); elsewhere they may be missing or stale and are never read. The writer keeps them so:
// buildStrips strips the spans whose buckets are all sealed, a budget at a time; seal strips again the
// stripped spans that late rows were merged into (or, when there are many, moves `to` back before them);
// clears and retention move `from` past what they delete; a zone rebuild unstrips everything. The marks
// are published with the writer's commit, like the sealed marks, so a query plans and reads one state.

// stripSpan is the range of a level whose whole spans are stripped: [from, to), span boundaries (to 0:
// nothing stripped yet).
type stripSpan struct{ from, to int64 }

// stripMarks holds the stripped range of the hour and day levels.
type stripMarks [levelDay + 1]stripSpan

var stripLevels = [...]level{levelHour, levelDay}

// spanOf is the level whose buckets are the spans that strips of level l cover.
func spanOf(l level) level {
	if l == levelHour {
		return levelDay
	}
	return levelMonth
}

// stripHours is how far back from now the hour level is stripped: hourly trends end now and cover at
// most MaxHourlyHours, so older hour strips would cost space (about one entry per sealed hour row) and
// never be read.
const stripHours = cacheHours

// maxRestrip is how many stripped spans of one level a sealing step strips again itself; with more
// (a re-pricing, a replayed spool) buildStrips does, a budget at a time.
const maxRestrip = 2

func stripKey(l level, end string) string { return "strips_" + strconv.Itoa(int(l)) + "_" + end }

// loadStripMarks reads the strip marks.
func loadStripMarks(ctx context.Context, db *sql.DB, m *stripMarks) error {
	for _, l := range stripLevels {
		for _, v := range []struct {
			end string
			dst *int64
		}{{"from", &m[l].from}, {"to", &m[l].to}} {
			if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, stripKey(l, v.end)).Scan(v.dst); err != nil {
				return fmt.Errorf("read strip marks: %w", err)
			}
		}
	}
	return nil
}

// stripMarks returns the marks as this transaction left them so far.
func (w *writer) stripMarks() stripMarks {
	if w.strips != nil {
		return *w.strips
	}
	return w.s.minutes.strips // only this goroutine changes it
}

// setStripMarks writes m, to be published with the commit.
func (w *writer) setStripMarks(ctx context.Context, m stripMarks) error {
	if err := saveStripMarks(ctx, w.conn, m); err != nil {
		return err
	}
	w.strips = &m
	return nil
}

// saveStripMarks writes m to the meta table.
func saveStripMarks(ctx context.Context, conn *sql.Conn, m stripMarks) error {
	for _, l := range stripLevels {
		for end, v := range map[string]int64{"from": m[l].from, "to": m[l].to} {
			if _, err := conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = ?`, v, stripKey(l, end)); err != nil {
				return fmt.Errorf("write strip marks: %w", err)
			}
		}
	}
	return nil
}

// buildStrips strips, per level, the spans after `to` whose buckets are all sealed, oldest first, and
// the spans before `from` that hold buckets (records imported from before it, the span a clear ended
// in), newest first, until its budget is spent (at least one span; each level has its own, so a level
// with much to do never starves the other); it reports whether spans are left. A span costs its rows
// and two seeks per combo. The hour level's strips older than stripHours go.
func (w *writer) buildStrips(ctx context.Context, now int64) (behind bool, err error) {
	m, sealed, cutoff := w.stripMarks(), w.s.minutes.sealed, w.s.minutes.retired
	if w.sealed != nil {
		sealed = *w.sealed
	}
	if w.cutoff != nil {
		cutoff = *w.cutoff
	}
	var combos int64
	if err := w.conn.QueryRowContext(ctx, `SELECT count(*) FROM combos`).Scan(&combos); err != nil {
		return false, fmt.Errorf("build strips: %w", err)
	}
	var budget int64
	changed := false
	build := func(l level, start, end int64) error {
		n, err := w.strip(ctx, l, start, end)
		if n > 0 {
			n += 2 * combos // a seek per combo to delete the span's strips and one to read its rows
		}
		budget, changed = budget-n-1, true
		return err
	}
	for _, l := range stripLevels {
		sl := spanOf(l)
		// Stripping a row (read, encode, write) costs several times what merging it does: each level gets
		// an eighth of a sealing step's rows (BenchmarkStripCatchUp measures the longest step).
		budget = int64(w.s.sealChunk) / 8
		var first sql.NullInt64
		if err := w.conn.QueryRowContext(ctx, `SELECT min(bucket) FROM rollup WHERE level = ? AND dim = ?`,
			int(l), int(ByModel)).Scan(&first); err != nil {
			return false, fmt.Errorf("build strips: %w", err)
		}
		if !first.Valid {
			continue
		}
		if l == levelHour {
			// Hours before the retention cutoff are being deleted, and hours past stripHours are never
			// asked for.
			first.Int64 = max(first.Int64, cutoff, now-stripHours*3600)
		}
		start := floorBoundary(sl, first.Int64, w.s.loc)
		switch {
		case m[l].to == 0:
			m[l], changed = stripSpan{from: start, to: start}, true
		case m[l].from < start && l == levelHour:
			if err := w.deleteStrips(ctx, l, start); err != nil {
				return false, err
			}
			m[l].from, m[l].to, changed = start, max(m[l].to, start), true
		}
		for m[l].to < sealed[l] {
			_, end := span(sl, m[l].to, w.s.loc)
			if end > sealed[l] {
				break
			}
			if budget <= 0 {
				behind = true
				break
			}
			if err := build(l, m[l].to, end); err != nil {
				return false, err
			}
			m[l].to = end
		}
		for start < m[l].from {
			if budget <= 0 {
				behind = true
				break
			}
			prev := floorBoundary(sl, m[l].from-1, w.s.loc)
			if err := build(l, prev, m[l].from); err != nil {
				return false, err
			}
			m[l].from = prev
		}
	}
	if changed {
		err = w.setStripMarks(ctx, m)
	}
	return behind, err
}

// strip writes the strips of the span [start, end) of level l from its sealed rows, replacing those
// there; it returns how many rows it read.
func (w *writer) strip(ctx context.Context, l level, start, end int64) (int64, error) {
	// A span without records has no strips: stale ones (past a `to` moved back) are only of spans that
	// hold records, as clears and retention delete theirs.
	var held bool
	if err := w.conn.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM rollup WHERE level = ? AND dim = ?
		AND bucket >= ? AND bucket < ?)`, int(l), int(ByModel), start, end).Scan(&held); err != nil {
		return 0, fmt.Errorf("strip rollups: %w", err)
	}
	if !held {
		return 0, nil
	}
	if _, err := w.conn.ExecContext(ctx, `DELETE FROM strips WHERE level = ? AND combo IN (SELECT id FROM combos)
		AND start = ?`, int(l), start); err != nil {
		return 0, fmt.Errorf("strip rollups: %w", err)
	}
	// combo IN (SELECT …): cube_sealed is keyed combo first, so SQLite seeks each combo's rows.
	rows, err := w.conn.QueryContext(ctx, `SELECT combo, bucket, input + output, cost, requests FROM cube_sealed
		WHERE level = ? AND combo IN (SELECT id FROM combos) AND bucket >= ? AND bucket < ? ORDER BY combo, bucket`,
		int(l), start, end)
	if err != nil {
		return 0, fmt.Errorf("strip rollups: %w", err)
	}
	type strip struct {
		combo int64
		data  []byte
	}
	var (
		out                             []strip
		n, combo, b, tokens, cost, reqs int64
		prev                            int64
	)
	for rows.Next() {
		if err := rows.Scan(&combo, &b, &tokens, &cost, &reqs); err != nil {
			rows.Close()
			return 0, fmt.Errorf("strip rollups: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].combo != combo {
			out, prev = append(out, strip{combo: combo}), start
		}
		s := &out[len(out)-1]
		s.data = appendStripEntry(s.data, b-prev, tokens, cost, reqs)
		prev = b
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("strip rollups: %w", err)
	}
	ins, err := w.conn.PrepareContext(ctx, `INSERT INTO strips(level, combo, start, data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return 0, fmt.Errorf("strip rollups: %w", err)
	}
	defer ins.Close()
	for _, s := range out {
		if _, err := ins.ExecContext(ctx, int(l), s.combo, start, s.data); err != nil {
			return 0, fmt.Errorf("strip rollups: %w", err)
		}
	}
	return n, nil
}

// An entry of a strip: the bucket's distance from the previous one (from the span's start for the
// first), then its tokens (input + output), cost and requests, as varints.
func appendStripEntry(buf []byte, delta, tokens, cost, requests int64) []byte {
	buf = binary.AppendUvarint(buf, uint64(delta))
	buf = binary.AppendVarint(buf, tokens)
	buf = binary.AppendVarint(buf, cost)
	return binary.AppendVarint(buf, requests)
}

var errBadStrip = errors.New("a strip of the trend rollups is damaged")

// eachStripEntry calls fn with every bucket of a strip and its tokens, cost and requests.
func eachStripEntry(data []byte, start int64, fn func(bucket, tokens, cost, requests int64)) error {
	b := start
	for len(data) > 0 {
		d, n := binary.Uvarint(data)
		if n <= 0 {
			return errBadStrip
		}
		data, b = data[n:], b+int64(d)
		var v [3]int64 // tokens, cost, requests
		for i := range v {
			if v[i], n = binary.Varint(data); n <= 0 {
				return errBadStrip
			}
			data = data[n:]
		}
		fn(b, v[0], v[1], v[2])
	}
	return nil
}

// stripsTouched is called by seal before it merges level l's cube rows of buckets before upto: it
// returns the stripped spans those rows fall in, to be stripped again once merged.
func (w *writer) stripsTouched(ctx context.Context, l level, upto int64) ([]int64, error) {
	m := w.stripMarks()[l]
	hi := min(upto, m.to)
	if m.from >= hi {
		return nil, nil
	}
	rows, err := w.conn.QueryContext(ctx, `SELECT DISTINCT bucket FROM cube WHERE level = ? AND bucket >= ? AND bucket < ?`,
		int(l), m.from, hi)
	if err != nil {
		return nil, fmt.Errorf("find stripped spans: %w", err)
	}
	defer rows.Close()
	var spans []int64
	for rows.Next() {
		var b int64
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("find stripped spans: %w", err)
		}
		if s := floorBoundary(spanOf(l), b, w.s.loc); len(spans) == 0 || spans[len(spans)-1] != s {
			spans = append(spans, s)
		}
	}
	return spans, rows.Err()
}

// restrip strips the spans of level l again after seal merged late rows into them; with more than
// maxRestrip, `to` moves back to the first and buildStrips strips them again.
func (w *writer) restrip(ctx context.Context, l level, spans []int64) error {
	if len(spans) > maxRestrip {
		m := w.stripMarks()
		m[l].to = spans[0]
		return w.setStripMarks(ctx, m)
	}
	for _, start := range spans {
		_, end := span(spanOf(l), start, w.s.loc)
		if _, err := w.strip(ctx, l, start, end); err != nil {
			return err
		}
	}
	return nil
}

// unstripBefore moves `from` of each level to the first span boundary at or after t, for a write that
// deletes or changes sealed rows before t; with del it deletes the strips before it too (retention
// deletes them itself, a budget at a time).
func (w *writer) unstripBefore(ctx context.Context, t int64, del bool, levels ...level) error {
	m := w.stripMarks()
	for _, l := range levels {
		f := ceilBoundary(spanOf(l), t, w.s.loc)
		if del {
			if err := w.deleteStrips(ctx, l, f); err != nil {
				return err
			}
		}
		if m[l].from < f {
			m[l].from = f
		}
		m[l].to = max(m[l].to, m[l].from)
	}
	return w.setStripMarks(ctx, m)
}

// deleteStrips deletes the strips of level l that start before t.
func (w *writer) deleteStrips(ctx context.Context, l level, t int64) error {
	if _, err := w.conn.ExecContext(ctx, `DELETE FROM strips WHERE level = ? AND combo IN (SELECT id FROM combos)
		AND start < ?`, int(l), t); err != nil {
		return fmt.Errorf("delete strips: %w", err)
	}
	return nil
}

// readStripped is readTrend for sealed buckets [lo, hi) of level l: the whole spans of its stripped
// range come from their strips, the rest from the sealed rows.
func (v *visitor) readStripped(l level, lo, hi int64, fn visitFn) error {
	if l == levelHour || l == levelDay {
		m, sl, loc := v.s.minutes.strips[l], spanOf(l), v.s.loc
		a, b := ceilBoundary(sl, max(lo, m.from), loc), floorBoundary(sl, min(hi, m.to), loc)
		if m.to > 0 && a < b {
			if lo < a {
				if err := v.readTrend(l, lo, a, fn); err != nil {
					return err
				}
			}
			if err := v.readStrips(l, a, b, fn); err != nil {
				return err
			}
			if b < hi {
				return v.readTrend(l, b, hi, fn)
			}
			return nil
		}
	}
	return v.readTrend(l, lo, hi, fn)
}

// readStrips reads the strips of the selection's combos for the spans that start in [lo, hi).
func (v *visitor) readStrips(l level, lo, hi int64, fn visitFn) error {
	rows, err := v.tx.QueryContext(v.ctx, `SELECT combo, start, data FROM strips WHERE level = ? AND `+v.o.sel.in+
		` AND start >= ? AND start < ?`, int(l), lo, hi)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	var combo, start int64
	var data sql.RawBytes
	var t Totals // as in readTrend, one for every entry
	for rows.Next() {
		if err := rows.Scan(&combo, &start, &data); err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		// A strip is one combo's: its names are looked up once, not per bucket.
		c, ok := v.known(combo)
		err := eachStripEntry(data, start, func(bucket, tokens, cost, requests int64) {
			t = Totals{Requests: requests, InputTokens: tokens, Cost: Money(cost)}
			if ok {
				v.report(c, bucket, &t, fn)
			} else {
				v.emit(bucket, combo, &t, false, fn)
			}
		})
		if err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	return nil
}
