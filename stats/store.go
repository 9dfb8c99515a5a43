package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// schemaVersion is PRAGMA user_version of a current store; migrations bring older files up to it.
const schemaVersion = 1

// Name kinds in the names table: strings are stored once and rows refer to them by id.
const (
	kindAccount    = 1
	kindModel      = 2
	kindCredential = 3
	kindSource     = 4
)

// Options configure a store.
type Options struct {
	// Location is the time zone of hourly and daily buckets; nil means time.Local.
	Location *time.Location
	// Readers is the number of read connections; 0 means 4.
	Readers int
}

// Store is one SQLite file of usage records. Writes go through a single writer goroutine that groups
// concurrent records into one transaction; reads use a pool of read-only connections (WAL lets them run
// beside the writer).
type Store struct {
	path  string
	loc   *time.Location
	rdb   *sql.DB
	w     *writer
	names nameCache
	cache trendCache
	hub   hub

	queries struct{ summaries, breakdowns, trends atomic.Int64 }

	closeOnce sync.Once
	closeErr  error
}

// ErrCorrupt is returned (wrapped) by Open when the file at path is not a usable SQLite database.
var ErrCorrupt = errors.New("database file is corrupt")

// Open opens or creates the store at path (mode 0600). A file that SQLite reports as corrupt or not a
// database is moved aside to path.corrupt-<time> (never deleted) and a fresh store is started; the
// returned Recovered value names the kept file so the caller can tell the user.
func Open(path string, opt Options) (*Store, Recovered, error) {
	var rec Recovered
	s, err := open(path, opt)
	if err != nil && errors.Is(err, ErrCorrupt) {
		aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if rerr := moveAside(path, aside); rerr != nil {
			return nil, rec, fmt.Errorf("%w; moving it aside failed: %v", err, rerr)
		}
		rec = Recovered{CorruptFile: aside, Cause: err}
		s, err = open(path, opt)
	}
	return s, rec, err
}

// Recovered tells what Open did with a corrupt file; CorruptFile is empty when nothing happened.
type Recovered struct {
	CorruptFile string
	Cause       error
}

func moveAside(path, aside string) error {
	if err := os.Rename(path, aside); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			if err := os.Rename(path+suffix, aside+suffix); err != nil {
				return err
			}
		}
	}
	return nil
}

func open(path string, opt Options) (*Store, error) {
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.Readers <= 0 {
		opt.Readers = 4
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	// SQLite gives the -wal and -shm files the database file's mode, so creating it 0600 covers all three.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database file: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("restrict database file: %w", err)
	}

	wdb, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	ctx := context.Background()
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, classify(fmt.Errorf("prepare schema of %s: %w", path, err))
	}
	if err := setLocation(ctx, wdb, opt.Location); err != nil {
		wdb.Close()
		return nil, classify(fmt.Errorf("rebuild rollups for %s: %w", opt.Location, err))
	}
	rdb, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open database for reading: %w", err)
	}
	rdb.SetMaxOpenConns(opt.Readers)
	rdb.SetMaxIdleConns(opt.Readers)
	s := &Store{path: path, loc: opt.Location, rdb: rdb}
	s.w, err = newWriter(ctx, wdb, opt.Location, &s.hub, &s.cache)
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, classify(err)
	}
	return s, nil
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode: a commit is in the WAL (the OS has it) before we acknowledge, so a killed process
	// loses nothing; only a power cut can lose the last commits. See docs/decisions.md.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Checkpoint every ~16 MB of WAL instead of 4 MB: rollup and request-id pages rewritten by many
		// commits are copied into the database once per checkpoint, so fewer checkpoints copy less.
		q.Add("_pragma", "wal_autocheckpoint(4000)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// classify marks SQLite's "corrupt" and "not a database" answers so Open can keep the file aside.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return err
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Location is the time zone of the store's buckets.
func (s *Store) Location() *time.Location { return s.loc }

// Close stops the writer after it has committed everything already handed to it, then closes the file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		werr := s.w.close()
		rerr := s.rdb.Close()
		s.hub.closeAll()
		s.closeErr = errors.Join(werr, rerr)
	})
	return s.closeErr
}

// Changes returns a channel that receives a value after each commit that changed the data, and a
// function to stop. It holds at most one pending value, so a slow reader sees bursts as one change.
func (s *Store) Changes() (<-chan struct{}, func()) { return s.hub.subscribe() }

var migrations = []string{
	// 1: the first schema.
	`CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
	CREATE TABLE names(id INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL, name TEXT NOT NULL,
		UNIQUE(kind, name));
	-- id is (unix second << 24 | sequence): the primary key is the time index, so no other index is needed.
	CREATE TABLE usage(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, model INTEGER NOT NULL,
		input INTEGER NOT NULL, output INTEGER NOT NULL, cached INTEGER NOT NULL, reasoning INTEGER NOT NULL,
		cache_creation INTEGER NOT NULL, flags INTEGER NOT NULL, credential INTEGER, source INTEGER);
	-- 64-bit hashes of request ids seen, for idempotent retries.
	CREATE TABLE request_ids(h INTEGER PRIMARY KEY);
	CREATE TABLE rollup(level INTEGER NOT NULL, dim INTEGER NOT NULL, bucket INTEGER NOT NULL,
		key INTEGER NOT NULL, requests INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL,
		cached INTEGER NOT NULL, reasoning INTEGER NOT NULL, cache_creation INTEGER NOT NULL,
		PRIMARY KEY(level, dim, bucket, key)) WITHOUT ROWID;
	INSERT INTO meta(key, value) VALUES ('records', 0), ('zone', '');`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("the file has schema version %d, newer than this program's %d", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// hub fans change notifications out to subscribers.
type hub struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func (h *hub) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan struct{}]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			if _, ok := h.subs[ch]; ok {
				delete(h.subs, ch)
				close(ch)
			}
			h.mu.Unlock()
		})
	}
}

func (h *hub) notify() {
	h.mu.Lock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()
}

func (h *hub) closeAll() {
	h.mu.Lock()
	for ch := range h.subs {
		close(ch)
		delete(h.subs, ch)
	}
	h.mu.Unlock()
}
