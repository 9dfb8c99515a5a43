package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// Retention and backups (docs/retention.md): the flags, the backup and restore commands, and the daily
// automatic backup.

const (
	// DefaultBackups is how many daily backups are kept unless the user says otherwise: three days to
	// notice a mistake (a clear, a bad import), at three times the file's size on disk.
	DefaultBackups = 3
	// maxRetentionDays and maxBackups bound what the flags and settings take.
	maxRetentionDays = 36500
	maxBackups       = 365
	// backupEvery is how often the app looks whether a daily backup is due.
	backupEvery = time.Hour
)

// countSetting is a whole number set by a flag, its environment variable or settings.json, in that
// order of precedence.
type countSetting struct {
	flag, env, what, usage string
	max                    int
	saved                  func(*savedSettings) **int
	of                     func(*Config) *int
}

var countSettings = []countSetting{
	{"retention-days", "TOKENSTATS_RETENTION_DAYS", "days to keep raw records",
		"keep raw records this many `days`; older ones are kept as day totals only " +
			"(TOKENSTATS_RETENTION_DAYS; default 0: keep every record)", maxRetentionDays,
		func(s *savedSettings) **int { return &s.RetentionDays }, func(c *Config) *int { return &c.RetentionDays }},
	{"backups", "TOKENSTATS_BACKUPS", "daily backups to keep",
		"keep this `count` of daily backups in the data folder's backups folder (TOKENSTATS_BACKUPS; default 3; 0: none)",
		maxBackups, func(s *savedSettings) **int { return &s.Backups }, func(c *Config) *int { return &c.Backups }},
}

// intFlags adds --retention-days and --backups, with their environment variables as defaults.
func intFlags(fs *flag.FlagSet, c *Config, getenv func(string) string) error {
	c.Backups = DefaultBackups
	for _, cs := range countSettings {
		dst, max := cs.of(c), cs.max
		set := func(v string) error {
			n, err := parseCount(v, max)
			if err == nil {
				*dst = n
			}
			return err
		}
		if v := getenv(cs.env); v != "" {
			if err := set(v); err != nil {
				return fmt.Errorf("%s=%q: %w", cs.env, v, err)
			}
		}
		fs.Func(cs.flag, cs.usage, set)
	}
	return nil
}

// parseCount reads a whole number from 0 to max.
func parseCount(v string, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("want a whole number from 0 to %d", max)
	}
	return n, nil
}

// runBackup is the backup command: a consistent copy of the database, made on a read-only connection of
// its own, so it works the same whether the app runs (WAL lets a reader beside the writer; the copy is
// one read transaction) or not, and needs neither the token nor the listener.
func runBackup(cfg Config, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" {
		fmt.Fprintln(stderr, "usage: tokenstats [--data-dir DIR] backup FILE")
		return 2
	}
	if _, err := os.Stat(cfg.DBPath()); err != nil {
		fmt.Fprintf(stderr, "tokenstats backup: no database to back up: %v\n", err)
		return 1
	}
	if err := stats.BackupFile(context.Background(), cfg.DBPath(), args[0]); err != nil {
		fmt.Fprintln(stderr, "tokenstats backup:", err)
		return 1
	}
	fmt.Fprintln(stdout, "backup written to", args[0])
	return 0
}

// runRestore is the restore command. It takes the data folder's lock, so it refuses while an instance
// runs; checks the backup (a Token Stats database SQLite finds intact); copies it in under a temporary
// name; keeps the database it replaces (with its WAL) as tokenstats.db.before-restore-<time>; and
// renames the copy into place. The next start opens it (and rebuilds its rollups if its time zone
// differs).
func runRestore(cfg Config, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" {
		fmt.Fprintln(stderr, "usage: tokenstats [--data-dir DIR] restore FILE")
		return 2
	}
	src := args[0]
	fail := func(err error) int {
		fmt.Fprintln(stderr, "tokenstats restore:", err)
		return 1
	}
	lock, err := lockDataDir(cfg.DataDir)
	if errors.Is(err, errLocked) {
		return fail(fmt.Errorf("%w; quit it first, then restore", err))
	}
	if err != nil {
		return fail(err)
	}
	defer lock.Close()
	ctx := context.Background()
	if err := stats.CheckFile(ctx, src); err != nil {
		return fail(err)
	}
	db := cfg.DBPath()
	tmp := db + ".restoring"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(err)
		}
	}
	if err := stats.BackupFile(ctx, src, tmp); err != nil {
		return fail(err)
	}
	kept := ""
	if _, err := os.Stat(db); err == nil {
		kept = fmt.Sprintf("%s.before-restore-%s", db, time.Now().UTC().Format("20060102T150405Z"))
		if err := stats.MoveAside(db, kept); err != nil {
			os.Remove(tmp)
			return fail(fmt.Errorf("keep the current database: %w", err))
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		return fail(fmt.Errorf("put the backup in place (the previous database is %s): %w", kept, err))
	}
	fmt.Fprintln(stdout, "restored", src)
	if kept != "" {
		fmt.Fprintln(stdout, "the database it replaced is kept as", kept)
	}
	return 0
}

// backupName is the name of a daily backup made at t; names sort by time.
func backupName(t time.Time) string {
	return "tokenstats-" + t.UTC().Format("20060102-150405") + ".db"
}

// backupsDir is where daily backups go.
func backupsDir(dataDir string) string { return filepath.Join(dataDir, "backups") }

// dailyBackup makes a backup in dir when the newest one there is 24 hours old or older (or there is
// none), then deletes the oldest beyond keep. It returns the backup made, if any. Only files named
// like backupName are counted or deleted.
func dailyBackup(ctx context.Context, store *stats.Store, dir string, keep int, now time.Time) (string, error) {
	if keep <= 0 {
		return "", nil
	}
	list := func() ([]string, error) {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("list backups: %w", err)
		}
		var names []string
		for _, e := range entries {
			if n := e.Name(); e.Type().IsRegular() && isBackupName(n) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return names, nil
	}
	names, err := list()
	if err != nil {
		return "", err
	}
	made := ""
	if len(names) == 0 || names[len(names)-1] <= backupName(now.Add(-24*time.Hour)) {
		made = filepath.Join(dir, backupName(now))
		if err := store.Backup(ctx, made); err != nil {
			return "", err
		}
		if names, err = list(); err != nil {
			return made, err
		}
	}
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return made, fmt.Errorf("delete old backup: %w", err)
		}
		names = names[1:]
	}
	return made, nil
}

func isBackupName(n string) bool {
	ts, ok := strings.CutPrefix(n, "tokenstats-")
	if !ok {
		return false
	}
	ts, ok = strings.CutSuffix(ts, ".db")
	if !ok {
		return false
	}
	_, err := time.Parse("20060102-150405", ts)
	return err == nil
}

// backupLoop runs dailyBackup at start and every backupEvery until ctx ends.
func backupLoop(ctx context.Context, wg *sync.WaitGroup, store *stats.Store, dir string, keep int, log *slog.Logger) {
	defer wg.Done()
	for {
		if made, err := dailyBackup(ctx, store, dir, keep, time.Now()); err != nil && ctx.Err() == nil {
			log.Error("daily backup", "err", err)
		} else if made != "" {
			log.Info("daily backup written", "file", made)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backupEvery):
		}
	}
}

// withSavedCounts applies the saved retention and backup counts where no flag or variable set them.
func withSavedCounts(cfg Config, s savedSettings, stderr io.Writer) Config {
	for _, cs := range countSettings {
		saved := *cs.saved(&s)
		if saved == nil || cfg.Given[cs.flag] {
			continue
		}
		if *saved < 0 || *saved > cs.max {
			fmt.Fprintf(stderr, "tokenstats: ignoring saved %s %d: want 0 to %d\n", cs.flag, *saved, cs.max)
			continue
		}
		*cs.of(&cfg) = *saved
	}
	return cfg
}

// count is the value of a count setting the next start will use.
func (b *settingsBackend) count(cs countSetting) int {
	s := b.saved()
	if saved := *cs.saved(&s); saved != nil && !b.cfg.Given[cs.flag] {
		return *saved
	}
	return *cs.of(&b.cfg)
}

// setCount saves a count setting for the next start.
func (b *settingsBackend) setCount(cs countSetting, n int) error {
	if n < 0 || n > cs.max {
		return fmt.Errorf("%s: want 0 to %d", cs.what, cs.max)
	}
	if b.cfg.Given[cs.flag] {
		return fmt.Errorf("%s: set by --%s or %s, which win over the saved setting", cs.what, cs.flag, cs.env)
	}
	return b.update(func(s *savedSettings) { *cs.saved(s) = &n })
}

// RetentionDays is the retention the next start will use (0: keep every record).
func (b *settingsBackend) RetentionDays() int { return b.count(countSettings[0]) }

// SetRetentionDays saves the retention for the next start.
func (b *settingsBackend) SetRetentionDays(days int) error { return b.setCount(countSettings[0], days) }

// Backups is how many daily backups the next start keeps (0: none).
func (b *settingsBackend) Backups() int { return b.count(countSettings[1]) }

// SetBackups saves how many daily backups to keep, for the next start.
func (b *settingsBackend) SetBackups(n int) error { return b.setCount(countSettings[1], n) }
