package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The commit queue: one goroutine owns the only write connection and runs every write, so its caches
// need no locks. Concurrent Record calls queue up; the writer takes everything queued (up to maxGroup
// records) into one transaction, and answers each caller only after COMMIT.

const (
	// maxGroup bounds how many records one transaction takes, so one commit stays short.
	maxGroup = 50000
	// lingerFor and lingerRecords bound the wait for more requests under load (see run).
	lingerFor     = 300 * time.Microsecond
	lingerRecords = 64
	// chunk is how many rows one multi-row statement carries.
	chunk = 64
	// compactEvery is how often the writer looks for hours whose minute rollups can go.
	compactEvery = time.Minute
)

// Result is what one Record call stored.
type Result struct {
	Accepted   int // records stored now
	Duplicates int // records whose request id was stored before; not counted again
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store is closed")

// writeReq is one caller's write: records (with key-value states to set in the same transaction), or an
// op that is not records, which runs in a transaction of its own.
type writeReq struct {
	recs  []Record
	state map[string][]byte
	op    func(ctx context.Context, w *writer) (changed bool, err error)
	res   Result
	err   error
	done  chan struct{}

	// keepsCache: the op changes nothing the trend cache holds, or changes rollups only through the
	// writer's rollup builder (re-pricing), so the cache takes its deltas instead of being dropped; bare:
	// it runs outside a transaction (a checkpoint).
	keepsCache, bare bool
}

// writer owns the write connection and what the open transaction has changed.
type writer struct {
	s    *Store
	db   *sql.DB
	conn *sql.Conn

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	reqs   chan *writeReq
	done   chan struct{}

	ins         inserter
	rb          *rollupBuilder
	deltas      []rollupDelta // hour and day rollup changes of the open transaction, for the trend cache
	opTx        bool          // the open transaction is not records: it drops the trend cache
	nextCompact time.Time
	// Set by an op, applied after its commit: an alias changed (readers reload names); the minute state
	// changed (readers see it only once the rows match it).
	aliasChanged bool
	minutes      *minuteChange
	cutoff       *int64      // a new retention cutoff
	sealed       *sealMarks  // new sealed marks (seal.go)
	strips       *stripMarks // new strip marks (strip.go)
	// onCommit runs after the open transaction commits (in-memory state that must match the file);
	// dropped when it rolls back.
	onCommit []func()
	rp       repricer
	build    PriceBuilder // makes the pricer from the overrides; nil when it was given as it is
}

// minuteChange is a compaction's new minute state, published with its commit.
type minuteChange struct {
	from int64
	busy []int64
}

// multiStmt prepares, once per row count, a statement whose VALUES or IN list repeats one group.
type multiStmt struct {
	head, group, sep, tail string
	stmts                  map[int]*sql.Stmt
}

func (m *multiStmt) get(ctx context.Context, conn *sql.Conn, n int) (*sql.Stmt, error) {
	if st := m.stmts[n]; st != nil {
		return st, nil
	}
	var b strings.Builder
	b.WriteString(m.head)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(m.sep)
		}
		b.WriteString(m.group)
	}
	b.WriteString(m.tail)
	st, err := conn.PrepareContext(ctx, b.String())
	if err != nil {
		return nil, fmt.Errorf("prepare %.30q: %w", m.head, err)
	}
	if m.stmts == nil {
		m.stmts = map[int]*sql.Stmt{}
	}
	m.stmts[n] = st
	return st, nil
}

func (m *multiStmt) close() {
	for _, st := range m.stmts {
		st.Close()
	}
}

func newWriter(ctx context.Context, s *Store, db *sql.DB) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	w := &writer{s: s, db: db, conn: conn, reqs: make(chan *writeReq, 1024), done: make(chan struct{}),
		rb: newRollupBuilder(s.loc)}
	w.rb.deltas = &w.deltas
	w.rp.init()
	if err := w.ins.init(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	go w.run()
	return w, nil
}

// submit hands a request to the writer and waits until it is committed or failed.
func (w *writer) submit(ctx context.Context, r *writeReq) error {
	r.done = make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	// Once queued the request is committed or failed whatever the caller does; wait for the answer so
	// that an acknowledgement always means "committed".
	<-r.done
	return r.err
}

func (w *writer) close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.reqs)
	}
	w.mu.Unlock()
	<-w.done
	w.ins.close()
	w.rb.close()
	w.rp.upd.close()
	cerr := w.conn.Close()
	// A clean close checkpoints the WAL into the main file, so the next start reads one file.
	_, perr := w.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return errors.Join(cerr, perr, w.db.Close())
}

func (w *writer) run() {
	defer close(w.done)
	busy := false
	var timer *time.Timer
	for first := range w.reqs {
		if first.op != nil {
			w.runOp(first)
			w.maybeCompact()
			continue
		}
		group, n := []*writeReq{first}, len(first.recs)
		var op *writeReq
		// Under concurrent load (the last group had several requests) wait a moment for more when the
		// group is small: a commit costs far more than a row, so fewer, larger transactions go faster.
		var linger <-chan time.Time
		if busy && n < lingerRecords {
			if timer == nil {
				timer = time.NewTimer(lingerFor)
			} else {
				timer.Reset(lingerFor)
			}
			linger = timer.C
		}
	drain:
		for n < maxGroup {
			if n >= lingerRecords {
				linger = nil
			}
			var r *writeReq
			var ok bool
			if linger == nil {
				select {
				case r, ok = <-w.reqs:
				default:
					break drain
				}
			} else {
				select {
				case r, ok = <-w.reqs:
				case <-linger:
					linger = nil
					continue
				}
			}
			if !ok {
				break drain
			}
			if r.op != nil {
				op = r
				break drain
			}
			group = append(group, r)
			n += len(r.recs)
		}
		if timer != nil {
			timer.Stop() // Go ≥ 1.23: no stale tick is left in the channel after Stop
		}
		busy = len(group) > 1
		w.runRecords(group)
		if op != nil {
			w.runOp(op)
		}
		w.maybeCompact()
	}
}

func (w *writer) runOp(r *writeReq) {
	ctx := context.Background()
	var changed bool
	if r.bare {
		changed, r.err = r.op(ctx, w)
	} else {
		w.opTx = !r.keepsCache // any other write but records drops the trend cache
		r.err = w.inTx(ctx, func() (err error) {
			changed, err = r.op(ctx, w)
			return err
		})
		w.opTx = false
	}
	if r.err == nil && changed {
		w.s.hub.notify()
	}
	close(r.done)
}

// runRecords commits a group of requests in one transaction. If that fails, each request is tried on
// its own, so one request's failure is never another's.
func (w *writer) runRecords(group []*writeReq) {
	ctx := context.Background()
	err := w.inTx(ctx, func() error {
		for _, r := range group {
			res, err := w.insert(ctx, r.recs, r.state)
			if err != nil {
				return err
			}
			r.res = res
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		for _, r := range group {
			r.err = w.inTx(ctx, func() (err error) {
				r.res, err = w.insert(ctx, r.recs, r.state)
				return err
			})
		}
	} else {
		for _, r := range group {
			r.err = err
		}
	}
	changed := false
	for _, r := range group {
		if r.err != nil {
			r.res = Result{}
		} else if r.res.Accepted > 0 || len(r.state) > 0 {
			changed = true
		}
		close(r.done)
	}
	if changed {
		w.s.hub.notify()
	}
}

// inTx runs fn in a transaction on the writer connection and commits what it gathered. On failure
// every cache the transaction touched is put back, so the next transaction starts from what is really
// on disk.
func (w *writer) inTx(ctx context.Context, fn func() error) error {
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err := fn()
	if err == nil {
		err = w.ins.flush(ctx, w.conn)
	}
	if err == nil {
		err = w.rb.write(ctx, w.conn, w.combo)
	}
	if err == nil {
		err = w.commit(ctx)
	}
	w.deltas = w.deltas[:0]
	if err != nil {
		if _, rerr := w.conn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		w.ins.rollback()
		w.rb.reset()
	} else {
		w.ins.committed()
		if w.aliasChanged {
			w.s.names.mu.Lock()
			w.s.names.stale = true
			w.s.names.mu.Unlock()
		}
		for _, f := range w.onCommit {
			f()
		}
	}
	clear(w.onCommit)
	w.aliasChanged, w.minutes, w.cutoff, w.sealed, w.strips, w.onCommit = false, nil, nil, nil, nil, w.onCommit[:0]
	return err
}

// commit runs COMMIT. When the transaction changed which hours have minute rollups (or the retention
// cutoff), it publishes that change under the minute state's lock, so no query plans with one and
// reads the other. Lock order, here as in every reader: the minute state, then the trend cache.
func (w *writer) commit(ctx context.Context) error {
	exec := func() error {
		if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	mc, cut, sealed, strips := w.minutes, w.cutoff, w.sealed, w.strips
	if mc == nil && cut == nil && sealed == nil && strips == nil {
		return w.s.cache.commitWith(exec, w.deltas, w.opTx)
	}
	ms := &w.s.minutes
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if err := w.s.cache.commitWith(exec, w.deltas, w.opTx); err != nil {
		return err
	}
	if mc != nil {
		ms.from = mc.from
		for _, h := range mc.busy {
			ms.busy[h] = true
		}
	}
	if sealed != nil {
		ms.sealed = *sealed
	}
	if strips != nil {
		ms.strips = *strips
	}
	if cut != nil {
		ms.retired = *cut
		for h := range ms.busy {
			if h < *cut {
				delete(ms.busy, h)
			}
		}
	}
	return nil
}
