package stats

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Clear removes records. With olderThan nil it removes everything and forgets request ids (names,
// aliases and the minute state stay); otherwise it removes exactly the records with timestamp ≤
// *olderThan and keeps every view consistent. It returns how many records were removed.
func (s *Store) Clear(ctx context.Context, olderThan *time.Time) (int64, error) {
	var removed int64
	r := &writeReq{op: func(ctx context.Context, w *writer) (bool, error) {
		var err error
		if olderThan == nil {
			removed, err = w.clearAll(ctx)
		} else {
			removed, err = w.clearBefore(ctx, olderThan.Unix()+1)
		}
		return removed > 0, err
	}}
	if err := s.w.submit(ctx, r); err != nil {
		return 0, fmt.Errorf("clear records: %w", err)
	}
	return removed, nil
}

// CountThrough counts the records with timestamp ≤ t: what Clear(&t) would remove.
func (s *Store) CountThrough(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	hi := t.Unix() + 1
	if hi <= 0 {
		return 0, nil
	}
	err := s.visit(ctx, 0, hi, visitOpts{coarsest: levelMonth, dims: []Dimension{ByModel}, whole: true},
		func(_ Dimension, _, _ int64, t *Totals) { n += t.Requests })
	return n, err
}

func (w *writer) clearAll(ctx context.Context) (int64, error) {
	// Every record is in exactly one month bucket, including those before the retention cutoff.
	var n int64
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(sum(requests), 0) FROM rollup WHERE level = ? AND dim = ?`,
		int(levelMonth), int(ByModel)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	if err := w.addCleared(ctx, 1); err != nil {
		return 0, err
	}
	for _, q := range []string{`DELETE FROM usage`, `DELETE FROM rollup`, `DELETE FROM cube`,
		`DELETE FROM cube_sealed`, `DELETE FROM strips`, `DELETE FROM request_ids`, `DELETE FROM sources`, `UPDATE meta SET value = 0 WHERE key = 'records'`,
		`UPDATE meta SET value = 0 WHERE key = 'retired_before'`} {
		if _, err := w.conn.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("clear: %w", err)
		}
	}
	if err := w.setStripMarks(ctx, stripMarks{}); err != nil {
		return 0, err
	}
	none := int64(0)
	w.cutoff = &none
	clear(w.ins.seq)
	return n, nil
}

// addCleared adds (sign 1) or subtracts (sign -1) every combo's totals to the cleared table. A clear
// adds them before it removes records and subtracts what is left after, so the table grows by what the
// clear removed, in the clear's transaction: the lifetime counters (Counters) never go down.
func (w *writer) addCleared(ctx context.Context, sign int) error {
	cols := ""
	for i, c := range []string{"requests", "input", "output", "cached", "reasoning", "cache_creation",
		"cost", "unpriced", "agent_cost", "agent_requests"} {
		if i > 0 {
			cols += ", "
		}
		cols += fmt.Sprintf("%d * sum(%s)", sign, c)
	}
	_, err := w.conn.ExecContext(ctx, `INSERT INTO cleared(combo, `+rollupSums+`) SELECT combo, `+cols+`
		FROM `+cubeLevel+` GROUP BY combo ON CONFLICT(combo) DO UPDATE SET `+rollupAdd, int(levelMonth), int(levelMonth))
	if err != nil {
		return fmt.Errorf("keep cleared totals: %w", err)
	}
	return nil
}

// clearBefore removes records with timestamp < keep, or, before the retention cutoff, the days that
// start before keep (CountThrough counts the same).
func (w *writer) clearBefore(ctx context.Context, keep int64) (int64, error) {
	if err := w.addCleared(ctx, 1); err != nil {
		return 0, err
	}
	var n int64
	var err error
	if cut := w.s.minutes.retired; keep <= cut {
		n, err = w.clearRetired(ctx, keep)
	} else {
		n, err = w.clearRaw(ctx, keep, cut)
	}
	if err != nil {
		return 0, err
	}
	if err := w.unstripBefore(ctx, keep, true, stripLevels[:]...); err != nil {
		return 0, err
	}
	// What is left includes the buckets the clear rebuilt, which the builder still holds.
	if err := w.rb.write(ctx, w.conn, w.combo); err != nil {
		return 0, err
	}
	if err := w.addCleared(ctx, -1); err != nil {
		return 0, err
	}
	clear(w.ins.seq)
	return n, nil
}

// clearRaw is clearBefore for keep after the retention cutoff cut (0: none): every day before cut goes
// whole, and rollup buckets wholly before keep go; the bucket that keep cuts is rebuilt from the raw
// rows that remain in it. The sources registry keeps its entries: their first time may then be earlier
// than any record left.
func (w *writer) clearRaw(ctx context.Context, keep, cut int64) (int64, error) {
	var retired int64
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(sum(requests), 0) FROM rollup
		WHERE level = ? AND dim = ? AND bucket < ?`, int(levelDay), int(ByModel), cut).Scan(&retired); err != nil {
		return 0, fmt.Errorf("count retired records: %w", err)
	}
	res, err := w.conn.ExecContext(ctx, `DELETE FROM usage WHERE id >= ? AND id < ?`, cut<<seqBits, keep<<seqBits)
	if err != nil {
		return 0, fmt.Errorf("delete records: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := w.deleteRaw(ctx, cut); err != nil { // rows a retirement had yet to delete
		return 0, err
	}
	loc := w.s.loc
	// cutAt is the start of the first bucket kept whole; the bucket keep falls into is deleted and then
	// rebuilt from its remaining rows.
	cutAt := func(l level) (cut, start, end int64) {
		start, end = span(l, keep, loc)
		cut = keep
		if start < keep {
			cut = start + 1
		}
		return cut, start, end
	}
	for _, l := range rollupLevels {
		cut, start, end := cutAt(l)
		for _, table := range []string{"rollup", "cube", "cube_sealed"} {
			if _, err := w.conn.ExecContext(ctx, `DELETE FROM `+table+` WHERE level = ? AND bucket < ?`, int(l), cut); err != nil {
				return 0, fmt.Errorf("delete rollups: %w", err)
			}
		}
		if start < keep {
			if err := w.rb.aggregateRaw(ctx, w.conn, keep, end, []level{l}, w.combo, w.s.minutes.has); err != nil {
				return 0, err
			}
		}
	}
	w.ins.records -= n
	return n + retired, nil
}

// clearRetired is clearBefore for keep at or before the retention cutoff: the day buckets that start
// before keep go whole (only their totals are left), with the months that hold no other day; a month
// that keeps some of its days is summed again from them.
func (w *writer) clearRetired(ctx context.Context, keep int64) (int64, error) {
	loc := w.s.loc
	k := ceilBoundary(levelDay, keep, loc)
	var n int64
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(sum(requests), 0) FROM rollup
		WHERE level = ? AND dim = ? AND bucket < ?`, int(levelDay), int(ByModel), k).Scan(&n); err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	for _, l := range rollupLevels {
		for _, table := range []string{"rollup", "cube", "cube_sealed"} {
			if _, err := w.conn.ExecContext(ctx, `DELETE FROM `+table+` WHERE level = ? AND bucket < ?`, int(l), k); err != nil {
				return 0, fmt.Errorf("delete rollups: %w", err)
			}
		}
	}
	if ms, me := span(levelMonth, k, loc); ms < k {
		if _, err := w.conn.ExecContext(ctx, `INSERT INTO rollup(level, dim, bucket, key, `+rollupSums+`)
			SELECT ?, dim, ?, key, `+rollupSumCols+` FROM rollup WHERE level = ? AND bucket >= ? AND bucket < ?
			GROUP BY dim, key`, int(levelMonth), ms, int(levelDay), k, me); err != nil {
			return 0, fmt.Errorf("sum the month again: %w", err)
		}
		if _, err := w.conn.ExecContext(ctx, `INSERT INTO cube(level, combo, bucket, `+rollupSums+`)
			SELECT ?, combo, ?, `+rollupSumCols+` FROM `+cubeLevel+` WHERE bucket >= ? AND bucket < ?
			GROUP BY combo`, int(levelMonth), ms, int(levelDay), int(levelDay), k, me); err != nil {
			return 0, fmt.Errorf("sum the month again: %w", err)
		}
	}
	return n, w.deleteRaw(ctx, k)
}

// deleteRaw deletes the raw rows before the retention cutoff that a retirement had yet to delete.
func (w *writer) deleteRaw(ctx context.Context, before int64) error {
	if before <= 0 {
		return nil
	}
	res, err := w.conn.ExecContext(ctx, `DELETE FROM usage WHERE id < ?`, before<<seqBits)
	if err != nil {
		return fmt.Errorf("delete records: %w", err)
	}
	n, _ := res.RowsAffected()
	w.ins.records -= n
	return nil
}

// combo is the combo with id, from the writer's own cache (the readers' may not have it yet).
func (w *writer) combo(id int64) (combo, error) {
	return comboByID(context.Background(), w.conn, w.ins.byID, id)
}

// comboByID reads a combo through cache, loading every combo added since the cache's newest on a miss.
func comboByID(ctx context.Context, conn *sql.Conn, cache map[int64]combo, id int64) (combo, error) {
	if c, ok := cache[id]; ok {
		return c, nil
	}
	var newest int64
	for k := range cache {
		newest = max(newest, k)
	}
	rows, err := conn.QueryContext(ctx, `SELECT id, model, account, source, credential, flags FROM combos WHERE id > ?`, newest)
	if err != nil {
		return combo{}, fmt.Errorf("read combos: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k int64
		var c combo
		if err := rows.Scan(&k, &c.keys[ByModel-1], &c.keys[ByAccount-1], &c.keys[BySource-1], &c.keys[ByCredential-1], &c.flags); err != nil {
			return combo{}, fmt.Errorf("read combos: %w", err)
		}
		cache[k] = c
	}
	if err := rows.Err(); err != nil {
		return combo{}, fmt.Errorf("read combos: %w", err)
	}
	c, ok := cache[id]
	if !ok {
		return combo{}, fmt.Errorf("record refers to unknown combo %d", id)
	}
	return c, nil
}
