package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the store to dst (mode 0600), while records keep arriving: see
// BackupFile.
func (s *Store) Backup(ctx context.Context, dst string) error {
	return BackupFile(ctx, s.path, dst)
}

// BackupFile copies the Token Stats database at src to dst (mode 0600) with SQLite's VACUUM INTO, on a
// read-only connection of its own: the copy is one read transaction, so it holds exactly what was
// committed when the copy began, whether or not another process (the running app) writes src
// meanwhile; WAL lets that writer go on. The copy is written under a temporary name beside dst and
// renamed when complete, so dst is never half a file. dst must not exist. src must be a Token Stats
// database this version can open.
func BackupFile(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("backup: %s already exists", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := sql.Open("sqlite", readOnlyDSN(src))
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := checkOurs(ctx, db, src); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("backup: create folder: %w", err)
	}
	// VACUUM INTO accepts an empty file: creating it first gives it mode 0600 from its first byte.
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp.Name()); err != nil {
		return classify(fmt.Errorf("backup: copy %s: %w", src, err))
	}
	if err := syncFile(tmp.Name()); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done = true
	return nil
}

// readOnlyDSN opens a database file for reading only (not query_only: VACUUM INTO needs a connection
// that may write, just not to this file).
func readOnlyDSN(path string) string {
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// checkOurs refuses a file that is not a Token Stats database this version can read.
func checkOurs(ctx context.Context, db *sql.DB, path string) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return classify(fmt.Errorf("%s: %w", path, err))
	}
	if v > len(migrations) {
		return fmt.Errorf("%s has schema version %d, newer than this program's %d", path, v, len(migrations))
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('meta', 'usage')`).Scan(&n); err != nil {
		return classify(fmt.Errorf("%s: %w", path, err))
	}
	if v == 0 || n != 2 {
		return fmt.Errorf("%s is not a Token Stats database", path)
	}
	return nil
}

// CheckFile runs SQLite's quick_check on a Token Stats database file, read-only: what restore checks
// before it puts a backup in place.
func CheckFile(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	if err := checkOurs(ctx, db, path); err != nil {
		return err
	}
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil {
		return classify(fmt.Errorf("check %s: %w", path, err))
	}
	if res != "ok" {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, res)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// MoveAside renames a database file together with its -wal and -shm files (those hold committed
// records a checkpoint has not yet copied), so the three stay one database under the new name.
func MoveAside(path, aside string) error { return moveAside(path, aside) }
