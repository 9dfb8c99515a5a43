package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sealing: the per-combo rollups live in two tables. cube is keyed bucket first, so a commit writes into
// the few pages of the current buckets; cube_sealed is keyed combo first, so a filtered query reads only
// its combos' rows (one account's or one model's hours over a month are a few thousand rows, where the
// buckets read whole are every combo's). Once a bucket has been over for sealLag, the writer moves its
// rows from cube to cube_sealed, a budget at a time; a record that arrives later for a sealed bucket
// goes straight to cube_sealed. Which buckets are sealed is the minute state's sealed marks, published
// with the commit that moves them, so a query never reads a bucket in one table that has left it.
// docs/decisions.md ("Sealed per-combo rollups") has the measurements.

// A new file seals at its first compaction, right after its first write; from then on what it is given
// of the past (an import, a benchmark's year) is written sealed.

// sealMarks holds, per level, the first bucket whose per-combo rows are still in cube (0: none sealed).
// Only the hour, day and month levels seal; minute rows stay in cube until compaction drops them.
type sealMarks [levelMonth + 1]int64

var sealLevels = [...]level{levelHour, levelDay, levelMonth}

const (
	// sealLag is how long a bucket is over before it is sealed: records a few minutes late still find
	// their bucket in cube, where writing costs least.
	sealLag = 2 * time.Hour
	// sealBudget is how many rows one step moves; a file from before schema 5 catches up a step every
	// sealAgain, so the writer is never held long (about 0.3 s a step here).
	sealBudget = 100000
	sealAgain  = 5 * time.Second
)

// has reports whether the per-combo row of level l and the bucket starting at b is sealed.
func (m *sealMarks) has(l level, b int64) bool { return m != nil && l >= levelHour && b < m[l] }

// table is the table that holds the per-combo row of level l and the bucket starting at b.
func (m *sealMarks) table(l level, b int64) string {
	if m.has(l, b) {
		return "cube_sealed"
	}
	return "cube"
}

// sealTarget is the first bucket of level l that is not over for sealLag at now.
func sealTarget(l level, now int64, loc *time.Location) int64 {
	return floorBoundary(l, now-int64(sealLag/time.Second), loc)
}

func sealKey(l level) string { return "sealed_" + strconv.Itoa(int(l)) }

// loadSealMarks reads the sealed marks.
func loadSealMarks(ctx context.Context, db *sql.DB, m *sealMarks) error {
	for _, l := range sealLevels {
		if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, sealKey(l)).Scan(&m[l]); err != nil {
			return fmt.Errorf("read sealed rollups: %w", err)
		}
	}
	return nil
}

// seal moves up to sealBudget rows of buckets that are over from cube to cube_sealed, whole buckets,
// oldest first, in the writer's transaction; the new marks are published with its commit. It reports
// whether rows are left to move.
func (w *writer) seal(ctx context.Context, now int64) (behind bool, err error) {
	marks := w.s.minutes.sealed // only this goroutine changes it
	if w.sealed != nil {
		marks = *w.sealed // a step earlier in this transaction
	}
	budget, moved := int64(w.s.sealChunk), false
	for _, l := range sealLevels {
		from, to := marks[l], sealTarget(l, now, w.s.loc)
		if from >= to {
			continue
		}
		if budget <= 0 {
			behind = true
			break
		}
		// The bucket of the row past the budget ends the step (or, when one bucket holds more than the
		// budget, the bucket after it).
		upto := to
		var b int64
		err := w.conn.QueryRowContext(ctx, `SELECT bucket FROM cube WHERE level = ? AND bucket >= ? AND bucket < ?
			ORDER BY bucket LIMIT 1 OFFSET ?`, int(l), from, to, budget).Scan(&b)
		switch {
		case err == nil:
			if upto = b; upto <= from {
				_, upto = span(l, b, w.s.loc)
			}
			behind = true
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("seal rollups: %w", err)
		}
		res, err := w.conn.ExecContext(ctx, `INSERT INTO cube_sealed(level, combo, bucket, `+rollupSums+`)
			SELECT level, combo, bucket, `+rollupSums+` FROM cube WHERE level = ? AND bucket >= ? AND bucket < ?
			ORDER BY combo, bucket ON CONFLICT(level, combo, bucket) DO UPDATE SET `+rollupAdd, int(l), from, upto)
		if err != nil {
			return false, fmt.Errorf("seal rollups: %w", err)
		}
		n, _ := res.RowsAffected()
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM cube WHERE level = ? AND bucket >= ? AND bucket < ?`,
			int(l), from, upto); err != nil {
			return false, fmt.Errorf("seal rollups: %w", err)
		}
		if _, err := w.conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = ?`, upto, sealKey(l)); err != nil {
			return false, fmt.Errorf("seal rollups: %w", err)
		}
		marks[l], budget, moved = upto, budget-n, true
		if upto < to {
			break
		}
	}
	if moved {
		w.sealed = &marks
	}
	return behind, nil
}

// unseal puts every sealed row back in scope of a rebuild: the zone rebuild deletes both tables and
// writes everything to cube again, to be sealed anew in the new zone's buckets.
func unseal(ctx context.Context, conn *sql.Conn) error {
	for _, l := range sealLevels {
		if _, err := conn.ExecContext(ctx, `UPDATE meta SET value = 0 WHERE key = ?`, sealKey(l)); err != nil {
			return fmt.Errorf("unseal rollups: %w", err)
		}
	}
	return nil
}

// cubeTables are both homes of the per-combo rollups, for what deletes by level and bucket.
var cubeTables = [...]string{"cube", "cube_sealed"}

// cubeLevel is a subquery of every per-combo row of one level (bound as its two parameters), sealed or
// not: combo and the ten sums.
const cubeLevel = `(SELECT combo, bucket, ` + rollupSums + ` FROM cube WHERE level = ? UNION ALL
	SELECT combo, bucket, ` + rollupSums + ` FROM cube_sealed WHERE level = ?)`
