package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sealing: the per-combo rollups live in two tables. Every write goes to cube, keyed bucket first, so a
// commit writes into the few pages of the buckets it touches. cube_sealed holds the same rows keyed combo
// first, so a filtered query reads only its combos' rows (one model's hours over a month are a few
// thousand rows, where the buckets read whole are every combo's). Once a bucket has been over for
// sealLag, the writer's compaction merges its rows from cube into cube_sealed, a budget at a time, and
// with them whatever arrived since for buckets already sealed (late records, the deltas of a re-pricing).
// So a sealed bucket's totals are its cube_sealed rows plus any cube rows not yet merged: a query reads
// both. The merge commits under the minute state's lock, so no query reads a row in one table and then
// again, or not at all, in the other. docs/decisions.md ("Sealed per-combo rollups") has the measurements.

// sealMarks holds, per level, the bucket before which cube_sealed may hold rows (0: none). Only the hour,
// day and month levels seal; minute rows stay in cube until compaction drops them.
type sealMarks [levelMonth + 1]int64

var sealLevels = [...]level{levelHour, levelDay, levelMonth}

const (
	// sealLag is how long a bucket is over before it is sealed: records a few minutes late still find
	// their bucket in cube alone.
	sealLag = 2 * time.Hour
	// sealBudget is how many rows one step merges; a file from before schema 5, or one that was just
	// re-priced, catches up a step every sealAgain, so the writer is never held long.
	sealBudget = 100000
	sealAgain  = 5 * time.Second
)

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

// seal merges up to the budget's rows of buckets that are over from cube into cube_sealed, whole
// buckets, oldest first, in the writer's transaction; the marks and the merge are published with its
// commit. It reports whether rows are left to merge.
func (w *writer) seal(ctx context.Context, now int64) (behind bool, err error) {
	marks := w.s.minutes.sealed // only this goroutine changes it
	if w.sealed != nil {
		marks = *w.sealed // a step earlier in this transaction
	}
	budget, merged := int64(w.s.sealChunk), false
	for _, l := range sealLevels {
		to := sealTarget(l, now, w.s.loc)
		if budget <= 0 {
			behind = true
			break
		}
		// The bucket of the row past the budget ends the step (or, when one bucket holds more than the
		// budget, the bucket after it). Rows before to are few once the file is sealed: the bucket just
		// over, and what came late.
		upto := to
		var first, b int64
		err := w.conn.QueryRowContext(ctx, `SELECT bucket FROM cube WHERE level = ? AND bucket < ? ORDER BY bucket LIMIT 1`,
			int(l), to).Scan(&first)
		if errors.Is(err, sql.ErrNoRows) {
			if marks[l] < to {
				marks[l], merged = to, true
			}
			continue
		}
		if err != nil {
			return false, fmt.Errorf("seal rollups: %w", err)
		}
		err = w.conn.QueryRowContext(ctx, `SELECT bucket FROM cube WHERE level = ? AND bucket < ?
			ORDER BY bucket LIMIT 1 OFFSET ?`, int(l), to, budget).Scan(&b)
		switch {
		case err == nil:
			if upto = b; upto <= first {
				_, upto = span(l, b, w.s.loc)
			}
			behind = true
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("seal rollups: %w", err)
		}
		var touched []int64
		if l != levelMonth {
			if touched, err = w.stripsTouched(ctx, l, upto); err != nil {
				return false, err
			}
		}
		res, err := w.conn.ExecContext(ctx, `INSERT INTO cube_sealed(level, combo, bucket, `+rollupSums+`)
			SELECT level, combo, bucket, `+rollupSums+` FROM cube WHERE level = ? AND bucket < ?
			ORDER BY combo, bucket ON CONFLICT(level, combo, bucket) DO UPDATE SET `+rollupAdd, int(l), upto)
		if err != nil {
			return false, fmt.Errorf("seal rollups: %w", err)
		}
		n, _ := res.RowsAffected()
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM cube WHERE level = ? AND bucket < ?`, int(l), upto); err != nil {
			return false, fmt.Errorf("seal rollups: %w", err)
		}
		if err := w.restrip(ctx, l, touched); err != nil {
			return false, err
		}
		marks[l], budget, merged = max(marks[l], upto), budget-n, true
		if upto < to {
			break
		}
	}
	if merged {
		for _, l := range sealLevels {
			if _, err := w.conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = ?`, marks[l], sealKey(l)); err != nil {
				return false, fmt.Errorf("seal rollups: %w", err)
			}
		}
		w.sealed = &marks
	}
	return behind, nil
}

// sealStep seals a budget's rows, then strips a budget's spans (strip.go); it reports whether either
// is behind.
func (w *writer) sealStep(ctx context.Context, now int64) (bool, error) {
	sealBehind, err := w.seal(ctx, now)
	if err != nil {
		return false, err
	}
	stripBehind, err := w.buildStrips(ctx, now)
	return sealBehind || stripBehind, err
}

// CatchUp runs the writer's sealing and stripping steps until neither is behind, which it otherwise
// does a step every sealAgain: for a caller that writes a whole history at once and reads it next (the
// benchmarks' data sets).
func (s *Store) CatchUp(ctx context.Context) error {
	for {
		if behind, err := s.sealOnce(ctx); err != nil || !behind {
			return err
		}
	}
}

// sealOnce submits one sealStep at the store clock; it reports whether more is left.
func (s *Store) sealOnce(ctx context.Context) (behind bool, err error) {
	err = s.w.submit(ctx, &writeReq{op: func(ctx context.Context, w *writer) (bool, error) {
		var err error
		behind, err = w.sealStep(ctx, s.now().Unix())
		return false, err
	}})
	return behind, err
}

// unseal puts every sealed row back in scope of a rebuild: the zone rebuild deletes both tables and
// writes everything to cube again, to be sealed (and stripped) anew in the new zone's buckets.
func unseal(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, `DELETE FROM strips`); err != nil {
		return fmt.Errorf("unseal rollups: %w", err)
	}
	for _, l := range sealLevels {
		if _, err := conn.ExecContext(ctx, `UPDATE meta SET value = 0 WHERE key = ?`, sealKey(l)); err != nil {
			return fmt.Errorf("unseal rollups: %w", err)
		}
	}
	return saveStripMarks(ctx, conn, stripMarks{})
}

// cubeLevel is a subquery of every per-combo row of one level (bound as its two parameters), sealed or
// not: combo and the ten sums.
const cubeLevel = `(SELECT combo, bucket, ` + rollupSums + ` FROM cube WHERE level = ? UNION ALL
	SELECT combo, bucket, ` + rollupSums + ` FROM cube_sealed WHERE level = ?)`
