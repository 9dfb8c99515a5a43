package stats

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"time"
)

// rollupLayout names the rollup levels kept; "hdm": hour, day, month.
const rollupLayout = "hdm"

// zoneKey identifies the rollups' shape: the zone by its rules, not its name, so "Local" under a
// different TZ is noticed (a hash of its offsets and transitions from 1970 to 2100), and the layout.
func zoneKey(loc *time.Location) string {
	h := fnv.New64a()
	t := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).In(loc)
	limit := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 2000 && t.Before(limit); i++ {
		name, off := t.Zone()
		fmt.Fprintf(h, "%d %s %d;", t.Unix(), name, off)
		_, end := t.ZoneBounds()
		if end.IsZero() {
			break
		}
		t = end.In(loc)
	}
	// The suffix is the rollup layout: a store written with other levels rebuilds them on open.
	return fmt.Sprintf("%s/%x/%s", loc.String(), h.Sum64(), rollupLayout)
}

// setLocation makes the rollups match loc. Rollup buckets are local hours and days, so a store opened in
// another zone than last time rebuilds them from the raw rows (seconds for millions of records).
func setLocation(ctx context.Context, db *sql.DB, loc *time.Location) error {
	key := zoneKey(loc)
	var stored string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'zone'`).Scan(&stored); err != nil {
		return err
	}
	if stored == key {
		return nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	w := &writer{conn: conn, loc: loc, upRollup: rollupUpsert()}
	w.agg.reset(loc)
	defer w.upRollup.close()
	return w.inTx(ctx, func() error {
		if _, err := conn.ExecContext(ctx, `DELETE FROM rollup`); err != nil {
			return err
		}
		if err := w.aggregateRaw(ctx, 0, 1<<(62-seqBits), rollupLevels...); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'zone'`, key)
		return err
	})
}
