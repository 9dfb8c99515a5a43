package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

// Retention (docs/retention.md): raw rows before a cutoff are removed while the day and month rollups
// (per dimension and per combo) stay, so every view stays exact to the day there. The cutoff is the
// start of a local day bucket; it only moves forward. Work is done through the writer in small
// transactions, so records queued meanwhile wait for at most one of them.

const (
	// retireChunk bounds the rows one retirement transaction deletes.
	retireChunk = 10000
	// vacuumPages bounds the pages one incremental vacuum step gives back to the file system.
	vacuumPages = 2048
	// retainEvery is how often a store with RetentionDays applies it again.
	retainEvery = time.Hour
)

// RetireResult is what Retire did.
type RetireResult struct {
	// Cutoff is the retention cutoff now in force: records before it are kept as day totals only. Zero
	// when nothing was ever retired.
	Cutoff time.Time
	// Removed counts the raw rows removed.
	Removed int64
}

// Retire removes the raw records before the start of the local day that holds before, keeping their
// day and month totals, and gives the freed space back to the file system (when the file was opened
// with RetentionDays or created by this version: see Options). A cutoff earlier than the one in force
// changes nothing; before may not lie after the store's clock. It runs in small transactions through
// the writer and returns when all is done or ctx ends (what was done stays done).
func (s *Store) Retire(ctx context.Context, before time.Time) (RetireResult, error) {
	if before.After(s.now()) {
		return RetireResult{}, fmt.Errorf("retire: %s is in the future", before.Format(time.RFC3339))
	}
	return s.retire(ctx, floorBoundary(levelDay, before.Unix(), s.loc))
}

func (s *Store) retire(ctx context.Context, target int64) (RetireResult, error) {
	var res RetireResult
	for {
		var more bool
		var n int64
		r := &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (changed bool, err error) {
			more, changed, n, err = w.retireStep(ctx, target)
			return changed, err
		}}
		if err := s.w.submit(ctx, r); err != nil {
			return res, fmt.Errorf("retire records: %w", err)
		}
		res.Removed += n
		if !more {
			break
		}
	}
	if res.Removed > 0 {
		// Copy the WAL into the file now, so the file shrinks now (a checkpoint truncates it to its
		// pages in use) rather than at the next automatic checkpoint.
		r := &writeReq{bare: true, op: func(ctx context.Context, w *writer) (bool, error) {
			_, err := w.conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			return false, err
		}}
		if err := s.w.submit(ctx, r); err != nil {
			return res, fmt.Errorf("checkpoint after retiring: %w", err)
		}
	}
	res.Cutoff = s.cutoff()
	return res, nil
}

// cutoff is the retention cutoff in force; zero when nothing was ever retired.
func (s *Store) cutoff() time.Time {
	s.minutes.mu.RLock()
	defer s.minutes.mu.RUnlock()
	if c := s.minutes.retired; c > 0 {
		return time.Unix(c, 0).In(s.loc)
	}
	return time.Time{}
}

// retireStep does one bounded part of retiring up to target, in this order: move the cutoff (one
// row, and from its commit on every query answers days before it from day buckets, so the rows left
// before it are never read again); delete those raw rows; delete the hour and minute rollups before
// it; give free pages back. It reports whether more is left, whether views changed and the raw rows
// it removed.
func (w *writer) retireStep(ctx context.Context, target int64) (more, changed bool, removed int64, err error) {
	cut := w.s.minutes.retired // only this goroutine changes it
	if target > cut {
		if _, err := w.conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'retired_before'`, target); err != nil {
			return false, false, 0, fmt.Errorf("move retention cutoff: %w", err)
		}
		// Hour strips before it are no longer read, and go with the hour rollups below.
		if err := w.unstripBefore(ctx, target, false, levelHour); err != nil {
			return false, false, 0, err
		}
		w.cutoff = &target
		return true, true, 0, nil
	}
	if cut == 0 {
		return false, false, 0, nil
	}
	hi := cut << seqBits
	var bound int64
	err = w.conn.QueryRowContext(ctx, `SELECT id FROM usage WHERE id < ? ORDER BY id LIMIT 1 OFFSET ?`,
		hi, w.s.retireChunk-1).Scan(&bound)
	switch {
	case err == nil:
		hi = bound + 1
	case !errors.Is(err, sql.ErrNoRows):
		return false, false, 0, fmt.Errorf("find records to retire: %w", err)
	}
	res, err := w.conn.ExecContext(ctx, `DELETE FROM usage WHERE id < ?`, hi)
	if err != nil {
		return false, false, 0, fmt.Errorf("retire records: %w", err)
	}
	if removed, _ = res.RowsAffected(); removed > 0 {
		if _, err := w.conn.ExecContext(ctx, `UPDATE meta SET value = value - ? WHERE key = 'records'`, removed); err != nil {
			return false, false, 0, fmt.Errorf("retire records: %w", err)
		}
		return true, false, removed, nil
	}
	budget := int64(w.s.retireChunk)
	for _, l := range []level{levelMinute, levelHour} {
		for _, d := range allDims {
			res, err := w.conn.ExecContext(ctx, `DELETE FROM rollup WHERE (level, dim, bucket, key) IN
				(SELECT level, dim, bucket, key FROM rollup WHERE level = ? AND dim = ? AND bucket < ? LIMIT ?)`,
				int(l), int(d), cut, budget)
			if err != nil {
				return false, false, 0, fmt.Errorf("retire rollups: %w", err)
			}
			n, _ := res.RowsAffected()
			if budget -= n; budget == 0 {
				return true, false, 0, nil
			}
		}
		// cube_sealed and strips are keyed combo first: their old rows are found combo by combo.
		for _, q := range []string{`DELETE FROM cube WHERE (level, bucket, combo) IN
			(SELECT level, bucket, combo FROM cube WHERE level = ? AND bucket < ? LIMIT ?)`,
			`DELETE FROM cube_sealed WHERE (level, combo, bucket) IN (SELECT level, combo, bucket FROM cube_sealed
			WHERE level = ? AND combo IN (SELECT id FROM combos) AND bucket < ? LIMIT ?)`,
			`DELETE FROM strips WHERE (level, combo, start) IN (SELECT level, combo, start FROM strips
			WHERE level = ? AND combo IN (SELECT id FROM combos) AND start < ? LIMIT ?)`} {
			res, err := w.conn.ExecContext(ctx, q, int(l), cut, budget)
			if err != nil {
				return false, false, 0, fmt.Errorf("retire rollups: %w", err)
			}
			n, _ := res.RowsAffected()
			if budget -= n; budget == 0 {
				return true, false, 0, nil
			}
		}
	}
	if _, err := w.conn.ExecContext(ctx, `DELETE FROM busy_hours WHERE bucket < ?`, cut); err != nil {
		return false, false, 0, fmt.Errorf("retire busy hours: %w", err)
	}
	if budget < int64(w.s.retireChunk) {
		return true, false, 0, nil // deleting rollups freed pages: the next step gives them back
	}
	more, err = w.vacuumStep(ctx)
	return more, false, 0, err
}

// vacuumStep gives up to vacuumPages free pages back to the file system, when the file keeps an
// incremental auto-vacuum map; it reports whether free pages are left.
func (w *writer) vacuumStep(ctx context.Context) (bool, error) {
	var mode, free int64
	if err := w.conn.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return false, fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode != autoVacuumIncremental {
		return false, nil
	}
	if err := w.conn.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
		return false, fmt.Errorf("read free pages: %w", err)
	}
	if free == 0 {
		return false, nil
	}
	if _, err := w.conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumPages)); err != nil {
		return false, fmt.Errorf("incremental vacuum: %w", err)
	}
	return free > vacuumPages, nil
}

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// isEmptyDatabase reports whether path and its write-ahead log hold nothing yet (or do not exist).
func isEmptyDatabase(path string) bool {
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			return false
		}
	}
	return true
}

// useIncrementalVacuum makes the file keep the map incremental vacuum needs. A file created by this
// version has it (open asks for it on a fresh file); an older one is rewritten once by VACUUM, which takes about
// as long as copying the file and needs as much free disk.
func useIncrementalVacuum(ctx context.Context, db *sql.DB) error {
	var mode int64
	if err := db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode == autoVacuumIncremental {
		return nil
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA auto_vacuum = %d`, autoVacuumIncremental)); err != nil {
		return fmt.Errorf("set auto_vacuum: %w", err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("rewrite the file for incremental vacuum: %w", err)
	}
	return nil
}

// retainLoop applies the retention of days at once and then every retainEvery until Close; with days
// 0 it only finishes a retirement an earlier run left half done (rows before the cutoff not yet
// deleted).
func (s *Store) retainLoop(ctx context.Context, days int) {
	defer close(s.retainDone)
	if days <= 0 && s.cutoff().IsZero() {
		return
	}
	for {
		target := int64(-1) // at or below any cutoff: only finish what is left
		if days > 0 {
			target = floorBoundary(levelDay, s.now().In(s.loc).AddDate(0, 0, -days).Unix(), s.loc)
		}
		if _, err := s.retire(ctx, target); err != nil && ctx.Err() == nil {
			s.log(fmt.Errorf("retention: %w", err))
		}
		if days <= 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retainEvery):
		}
	}
}
