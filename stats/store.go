package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// Options configure a store.
type Options struct {
	// Location is the time zone of hourly and daily buckets; nil means time.Local.
	Location *time.Location
	// Readers is the number of read connections; 0 means 4.
	Readers int
	// Pricer estimates each record's cost as it is stored; nil stores every record unpriced. The stored
	// records of models it prices otherwise than the prices that priced them are re-priced (reprice.go);
	// with nil, stored costs are left as they are.
	Pricer Pricer
	// Prices, when set, builds the Pricer from the price overrides the file holds, at open and whenever
	// they change; Pricer is then not used.
	Prices PriceBuilder
	// Now is the clock records are validated against (a record may be at most MaxFuture ahead of it);
	// nil means time.Now.
	Now func() time.Time
	// Logger receives what goes wrong in the background (the writer's housekeeping); nil discards it.
	Logger *slog.Logger
	// RetentionDays, when above 0, keeps raw records for that many local days before today: older ones
	// are removed in the background (at open and every hour) while their day and month totals stay
	// (docs/retention.md). A file made before this option existed is rewritten once at open (VACUUM)
	// so removed rows give their space back. 0 keeps every record.
	RetentionDays int
	// rebuildKeys bounds the rollup keys a rebuild holds before writing them (0: maxBuilderKeys); tests
	// make it small to rebuild in many parts.
	rebuildKeys int
	// retireChunk bounds the rows one retirement transaction deletes (0: retireChunk); tests make it
	// small to retire in many parts.
	retireChunk int
	// sealChunk bounds the rows one sealing step moves (0: sealBudget); tests make it small to seal in
	// many steps.
	sealChunk int
	// repriceChunk fixes how many records one re-pricing transaction checks (0: it adapts), and
	// beforeReprice runs before each: tests pause re-pricing half-way with them.
	repriceChunk  int
	beforeReprice func()
}

// Store is one SQLite file of usage records. Writes go through a single writer goroutine that groups
// concurrent records into one transaction; reads use a pool of read-only connections (WAL lets them run
// beside the writer).
type Store struct {
	path    string
	loc     *time.Location
	rdb     *sql.DB
	w       *writer
	pricer  Pricer
	now     func() time.Time
	logger  *slog.Logger
	names   names
	minutes minuteState
	cache   trendCache
	hub     hub

	queries struct{ summaries, breakdowns, trends atomic.Int64 }
	shown   atomic.Value // pricerBox: the pricer, for readers (the writer's own is pricer)
	rp      struct {
		mu               sync.Mutex
		now              Repricing
		wake, quit, done chan struct{}
		// compare is the pricer the stored costs are still to be compared with (opening does it in the
		// background, so it never waits for another process's write lock); nil once done.
		compare Pricer
		gen     int // counts dropCompare calls: a comparison began before one is stale
	}

	retireChunk, sealChunk int
	edges                  edgeMode // tests read every edge one way

	stopRetain func()
	retainDone chan struct{}

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
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	fresh := isEmptyDatabase(path)
	// SQLite gives the -wal and -shm files the database file's mode, so creating it 0600 covers all three.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database file: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("restrict database file: %w", err)
	}

	wdsn := dsn(path, false)
	if fresh {
		// A new file keeps the map that lets retention give freed pages back. SQLite takes the setting
		// only before the file's first page exists (modernc applies _pragma values in name order, so
		// before journal_mode); asked of an existing file it would write the header, which a damaged
		// file that must be kept aside untouched may not get.
		wdsn += "&_pragma=" + url.QueryEscape(fmt.Sprintf("auto_vacuum(%d)", autoVacuumIncremental))
	}
	wdb, err := sql.Open("sqlite", wdsn)
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
	if opt.RetentionDays > 0 {
		if err := useIncrementalVacuum(ctx, wdb); err != nil {
			wdb.Close()
			return nil, classify(fmt.Errorf("prepare %s for retention: %w", path, err))
		}
	}
	if err := setLocation(ctx, wdb, opt.Location, opt.Now().Unix(), opt.rebuildKeys); err != nil {
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
	if opt.Prices != nil {
		ovs, err := readOverrides(ctx, rdb)
		if err == nil {
			opt.Pricer, err = opt.Prices(ovs)
		}
		if err != nil {
			wdb.Close()
			rdb.Close()
			return nil, classify(fmt.Errorf("build prices: %w", err))
		}
	}
	s := &Store{path: path, loc: opt.Location, rdb: rdb, pricer: opt.Pricer, now: opt.Now, logger: opt.Logger,
		retireChunk: opt.retireChunk, sealChunk: opt.sealChunk}
	if s.retireChunk <= 0 {
		s.retireChunk = retireChunk
	}
	if s.sealChunk <= 0 {
		s.sealChunk = sealBudget
	}
	s.shown.Store(pricerBox{opt.Pricer})
	if err := loadMinuteState(ctx, rdb, &s.minutes); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, classify(err)
	}
	s.w, err = newWriter(ctx, s, wdb)
	if err == nil {
		s.w.build = opt.Prices
	}
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, classify(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.stopRetain, s.retainDone = cancel, make(chan struct{})
	go s.retainLoop(rctx, opt.RetentionDays)
	// The records of models priced otherwise than opt.Pricer prices them are re-priced in the background.
	// Without a pricer nothing is: a tool that opens the file without prices leaves the costs alone (the
	// records it stores are unpriced, and their models' keys say so).
	s.rp.wake, s.rp.quit, s.rp.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	// Stored costs are compared with the prices now, when the file can be written; when another process
	// holds the write lock, the re-pricing goroutine does it once it can, so opening never fails for it.
	s.rp.compare = opt.Pricer
	if err := s.tryCompare(); err != nil {
		s.log(fmt.Errorf("compare prices: %w (done in the background)", err))
	}
	go s.repriceLoop(opt.repriceChunk, opt.beforeReprice)
	s.wakeRepricer()
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
		// Statement journals (the multi-row upserts of the rollups need them) in memory, not temp files:
		// re-pricing a year of records upserts thousands of rollup rows per transaction.
		q.Add("_pragma", "temp_store(MEMORY)")
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
		s.stopRetain()
		<-s.retainDone
		close(s.rp.quit)
		werr := s.w.close()
		<-s.rp.done
		rerr := s.rdb.Close()
		s.hub.closeAll()
		s.closeErr = errors.Join(werr, rerr)
	})
	return s.closeErr
}

// Record validates and stores records, each committed before Record returns; all are stored or none.
// A record that breaks a rule is refused with a *FieldError naming it (Index is its position when more
// than one record was given). A record whose request id was stored before is counted in Duplicates and
// not stored again.
func (s *Store) Record(ctx context.Context, recs ...Record) (Result, error) {
	return s.RecordWithState(ctx, recs, nil)
}

// RecordWithState is Record that also sets key-value states in the same transaction, so a state that
// says what was counted (an exporter's last cumulative value, say) can never disagree with the records.
// A nil value deletes its key.
func (s *Store) RecordWithState(ctx context.Context, recs []Record, state map[string][]byte) (Result, error) {
	if len(recs) == 0 && len(state) == 0 {
		return Result{}, nil
	}
	now := s.now()
	for i := range recs {
		if err := recs[i].Validate(now); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && len(recs) > 1 {
				fe.Index = i
			}
			return Result{}, err
		}
	}
	r := &writeReq{recs: recs, state: state}
	if err := s.w.submit(ctx, r); err != nil {
		return Result{}, fmt.Errorf("store records: %w", err)
	}
	return r.res, nil
}

// State reads the key-value states whose keys start with prefix.
func (s *Store) State(ctx context.Context, prefix string) (map[string][]byte, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT key, value FROM state WHERE key >= ? AND key < ?`,
		prefix, prefix+"\U0010FFFF")
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// log reports a background failure that has no caller to return it to.
func (s *Store) log(err error) { s.logger.Error("store", "err", err) }

// Changes returns a channel that receives a value after each commit that changed the data, and a
// function to stop. It holds at most one pending value, so a slow reader sees bursts as one change.
func (s *Store) Changes() (<-chan struct{}, func()) { return s.hub.subscribe() }

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
