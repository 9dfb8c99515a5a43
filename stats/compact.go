package stats

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Minute compaction: an hour keeps its minute rollups while it is recent; once it has been over for an
// hour, the writer keeps them only if the hour is busy (see minuteState and docs/decisions.md).

// maybeCompact drops the minute rollups of quiet hours that are over and seals the per-combo rollups of
// buckets that are over (seal.go, strip.go), at most once per compactEvery (sealAgain while sealing is
// behind).
func (w *writer) maybeCompact() {
	now := w.s.now()
	if now.Before(w.nextCompact) {
		return
	}
	w.nextCompact = now.Add(compactEvery)
	ctx := context.Background()
	var behind bool
	err := w.inTx(ctx, func() error {
		if err := w.compact(ctx, now.Unix()); err != nil {
			return err
		}
		var err error
		behind, err = w.sealStep(ctx, now.Unix())
		return err
	})
	if err != nil {
		w.s.log(fmt.Errorf("compact rollups: %w", err))
	}
	if behind {
		w.nextCompact = now.Add(sealAgain)
	}
}

// compact decides, for every hour from the minute state's start that ended an hour or more before now,
// whether it keeps its minute rollups: busy hours do, quiet hours lose them.
func (w *writer) compact(ctx context.Context, now int64) error {
	loc := w.s.loc
	from := w.s.minutes.from // only this goroutine changes it
	cut := floorBoundary(levelHour, now-3600, loc)
	if from >= cut {
		return nil
	}
	busy, err := busyHours(ctx, w.conn, from, cut)
	if err != nil {
		return err
	}
	if err := dropMinutes(ctx, w.conn, from, cut, busy, loc); err != nil {
		return err
	}
	if _, err := w.conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'minutes_from'`, cut); err != nil {
		return fmt.Errorf("update minute state: %w", err)
	}
	w.minutes = &minuteChange{from: cut, busy: busy}
	return nil
}

// busyHours lists the hour buckets in [from, to) holding at least busyHour records.
func busyHours(ctx context.Context, conn *sql.Conn, from, to int64) ([]int64, error) {
	rows, err := conn.QueryContext(ctx, `SELECT bucket FROM rollup WHERE level = ? AND dim = ? AND bucket >= ?
		AND bucket < ? GROUP BY bucket HAVING sum(requests) >= ?`, int(levelHour), int(ByModel), from, to, busyHour)
	if err != nil {
		return nil, fmt.Errorf("find busy hours: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var b int64
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("find busy hours: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// dropMinutes deletes the minute rollups in [from, to) outside the busy hours, and records those.
func dropMinutes(ctx context.Context, conn *sql.Conn, from, to int64, busy []int64, loc *time.Location) error {
	del := func(a, b int64) error {
		if a >= b {
			return nil
		}
		for _, table := range []string{"rollup", "cube"} {
			_, err := conn.ExecContext(ctx, `DELETE FROM `+table+` WHERE level = ? AND bucket >= ? AND bucket < ?`, int(levelMinute), a, b)
			if err != nil {
				return fmt.Errorf("drop minute rollups: %w", err)
			}
		}
		return nil
	}
	at := from
	for _, h := range busy {
		if err := del(at, h); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `INSERT OR IGNORE INTO busy_hours(bucket) VALUES (?)`, h); err != nil {
			return fmt.Errorf("keep busy hour: %w", err)
		}
		_, at = span(levelHour, h, loc)
	}
	return del(at, to)
}
