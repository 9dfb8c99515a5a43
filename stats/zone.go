package stats

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"time"
)

// rollupLayout names the rollups kept: minute, hour, day and month, per dimension and per combo, with
// cost sums. A file whose rollups were written with another layout rebuilds them on open.
const rollupLayout = "mhdm+cube/v3"

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
	return fmt.Sprintf("%s/%x/%s", loc.String(), h.Sum64(), rollupLayout)
}

// setLocation makes the rollups match loc. Hour, day and month buckets are local, so a store opened in
// another zone than last time (or written with another layout) rebuilds every rollup from the raw rows,
// in one transaction: seconds for millions of records.
func setLocation(ctx context.Context, db *sql.DB, loc *time.Location, now int64, maxKeys int) error {
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
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := rebuild(ctx, conn, loc, now, maxKeys); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'zone'`, key); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// rebuild re-aggregates every rollup from the raw rows with the rollup builder the writer uses: first
// hours, days, months and the cube; then minutes, for the hours that keep them (the busy ones, and
// every hour from an hour before now). Before the retention cutoff no raw rows are left: the day
// totals kept there are moved to the day buckets of loc that hold their starts, and the cutoff moves
// to the next day boundary of loc (docs/retention.md).
func rebuild(ctx context.Context, conn *sql.Conn, loc *time.Location, now int64, maxKeys int) error {
	var cut int64
	if err := conn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'retired_before'`).Scan(&cut); err != nil {
		return err
	}
	if cut > 0 {
		// Integers formatted into the statement: CREATE TABLE … AS takes no parameters.
		for _, q := range []string{
			fmt.Sprintf(`CREATE TEMP TABLE retired_dims AS SELECT dim, bucket, key, %s FROM rollup
				WHERE level = %d AND bucket < %d`, rollupSums, levelDay, cut),
			fmt.Sprintf(`CREATE TEMP TABLE retired_cube AS SELECT combo, bucket, %s FROM cube
				WHERE level = %d AND bucket < %d UNION ALL SELECT combo, bucket, %s FROM cube_sealed
				WHERE level = %d AND bucket < %d`, rollupSums, levelDay, cut, rollupSums, levelDay, cut),
		} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("keep retired days: %w", err)
			}
		}
		defer conn.ExecContext(ctx, `DROP TABLE IF EXISTS temp.retired_dims; DROP TABLE IF EXISTS temp.retired_cube`)
	}
	for _, q := range []string{`DELETE FROM rollup`, `DELETE FROM cube`, `DELETE FROM cube_sealed`, `DELETE FROM busy_hours`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if err := unseal(ctx, conn); err != nil { // the builder writes everything to cube; sealing starts over
		return err
	}
	b := newRollupBuilder(loc)
	defer b.close()
	if maxKeys > 0 {
		b.maxKeys = maxKeys
	}
	cache := map[int64]combo{}
	combos := func(id int64) (combo, error) { return comboByID(ctx, conn, cache, id) }
	all := func(int64) bool { return true }
	const end = 1 << (62 - seqBits)
	lo := int64(0)
	if cut > 0 {
		if err := b.rekeyRetired(ctx, conn, combos); err != nil {
			return err
		}
		// The raw rows between the old cutoff and the next day boundary of loc now lie before the cutoff.
		lo = ceilBoundary(levelDay, cut, loc)
		if err := b.aggregateRaw(ctx, conn, cut, lo, []level{levelDay, levelMonth}, combos, all); err != nil {
			return err
		}
		res, err := conn.ExecContext(ctx, `DELETE FROM usage WHERE id >= ? AND id < ?`, cut<<seqBits, lo<<seqBits)
		if err != nil {
			return fmt.Errorf("retire records: %w", err)
		}
		n, _ := res.RowsAffected()
		if _, err := conn.ExecContext(ctx, `UPDATE meta SET value = value - ? WHERE key = 'records'`, n); err != nil {
			return fmt.Errorf("retire records: %w", err)
		}
		if _, err := conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'retired_before'`, lo); err != nil {
			return fmt.Errorf("move retention cutoff: %w", err)
		}
	}
	if err := b.aggregateRaw(ctx, conn, lo, end, []level{levelHour, levelDay, levelMonth}, combos, all); err != nil {
		return err
	}
	if err := b.write(ctx, conn, combos); err != nil {
		return err
	}
	from := floorBoundary(levelHour, now-3600, loc)
	busy, err := busyHours(ctx, conn, 0, from)
	if err != nil {
		return err
	}
	minute := []level{levelMinute}
	for _, h := range busy {
		_, he := span(levelHour, h, loc)
		if err := b.aggregateRaw(ctx, conn, h, he, minute, combos, all); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO busy_hours(bucket) VALUES (?)`, h); err != nil {
			return err
		}
	}
	if err := b.aggregateRaw(ctx, conn, max(from, lo), end, minute, combos, all); err != nil {
		return err
	}
	if err := b.write(ctx, conn, combos); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'minutes_from'`, from)
	return err
}

// rekeyRetired adds the day totals kept aside by rebuild to the day and month buckets of the builder's
// zone that hold each day's start.
func (b *rollupBuilder) rekeyRetired(ctx context.Context, conn *sql.Conn, combos func(int64) (combo, error)) error {
	for _, cube := range []bool{false, true} {
		q := `SELECT dim, bucket, key, ` + rollupSums + ` FROM temp.retired_dims`
		if cube {
			q = `SELECT 0, bucket, combo, ` + rollupSums + ` FROM temp.retired_cube`
		}
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("read retired days: %w", err)
		}
		sc := newTotalsScanner(true)
		var d int
		sc.dst = append([]any{&d}, sc.dst...)
		for rows.Next() {
			if err := sc.scan(rows); err != nil {
				rows.Close()
				return err
			}
			for _, l := range []level{levelDay, levelMonth} {
				bk := b.bucket(l, sc.bucket)
				if cube {
					sumInto(b.cube, cubeKey{l, sc.key, bk}, &sc.t)
				} else {
					sumInto(b.dims, dimKey{l, Dimension(d), bk, sc.key}, &sc.t)
				}
			}
			if b.full() {
				if err := b.write(ctx, conn, combos); err != nil {
					rows.Close()
					return err
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read retired days: %w", err)
		}
	}
	return nil
}

// loadMinuteState reads which hours keep minute rollups.
func loadMinuteState(ctx context.Context, db *sql.DB, ms *minuteState) error {
	ms.busy = map[int64]bool{}
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'minutes_from'`).Scan(&ms.from); err != nil {
		return fmt.Errorf("read minute state: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'retired_before'`).Scan(&ms.retired); err != nil {
		return fmt.Errorf("read retention cutoff: %w", err)
	}
	if err := loadSealMarks(ctx, db, &ms.sealed); err != nil {
		return err
	}
	if err := loadStripMarks(ctx, db, &ms.strips); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT bucket FROM busy_hours`)
	if err != nil {
		return fmt.Errorf("read minute state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			return fmt.Errorf("read minute state: %w", err)
		}
		ms.busy[h] = true
	}
	return rows.Err()
}
