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
	var n int64
	if err := w.conn.QueryRowContext(ctx, `SELECT count(*) FROM usage`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	for _, q := range []string{`DELETE FROM usage`, `DELETE FROM rollup`, `DELETE FROM cube`,
		`DELETE FROM request_ids`, `DELETE FROM sources`, `UPDATE meta SET value = 0 WHERE key = 'records'`} {
		if _, err := w.conn.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("clear: %w", err)
		}
	}
	clear(w.ins.seq)
	return n, nil
}

// clearBefore removes records with timestamp < keep. Rollup buckets wholly before keep go; the bucket
// that keep cuts is rebuilt from the raw rows that remain in it. The sources registry keeps its
// entries: their first time may then be earlier than any record left.
func (w *writer) clearBefore(ctx context.Context, keep int64) (int64, error) {
	res, err := w.conn.ExecContext(ctx, `DELETE FROM usage WHERE id < ?`, keep<<seqBits)
	if err != nil {
		return 0, fmt.Errorf("delete records: %w", err)
	}
	n, _ := res.RowsAffected()
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
		for _, table := range []string{"rollup", "cube"} {
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
	clear(w.ins.seq)
	return n, nil
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
