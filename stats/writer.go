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

// seqBits is how many records one second can hold: a row id is (unix second << seqBits | sequence).
const (
	seqBits = 24
	seqMask = 1<<seqBits - 1
	// maxGroup bounds how many records one transaction takes, so one commit stays short.
	maxGroup = 50000
)

// rollupUpsert adds rows of totals to rollup buckets, many rows per statement.
func rollupUpsert() multiStmt {
	return multiStmt{head: `INSERT INTO rollup(level, dim, bucket, key, requests, input, output, cached,
	reasoning, cache_creation) VALUES `, group: "(?,?,?,?,?,?,?,?,?,?)", sep: ",",
		tail: ` ON CONFLICT(level, dim, bucket, key) DO UPDATE SET
	requests = requests + excluded.requests, input = input + excluded.input, output = output + excluded.output,
	cached = cached + excluded.cached, reasoning = reasoning + excluded.reasoning,
	cache_creation = cache_creation + excluded.cache_creation`}
}

// Result is what one Record call stored.
type Result struct {
	Accepted   int // records stored now
	Duplicates int // records whose request id was stored before; not counted again
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store is closed")

type writeReq struct {
	recs []Record
	op   func(ctx context.Context, w *writer) (changed bool, err error) // a non-record write, run alone
	res  Result
	err  error
	done chan struct{}
}

// writer owns the only write connection. One goroutine runs it, so its caches need no locks.
type writer struct {
	db   *sql.DB
	conn *sql.Conn
	loc  *time.Location
	hub  *hub

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	reqs   chan *writeReq
	done   chan struct{}

	ids     map[nameKey]int64
	newIDs  []nameKey // names first stored in the open transaction, forgotten if it rolls back
	seq     map[int64]int64
	agg     aggregator
	records int64 // change of the record count in the open transaction

	// top is an upper bound of the largest row id in usage (-1: none): a second above it holds no row
	// yet, so its sequence starts at 0 without asking SQLite. Live records always arrive there.
	top int64
	// Rows wait in rows (11 values each) until a multi-row INSERT takes chunk of them: one
	// statement per chunk costs far less than one per row.
	rows   []any
	nrows  int
	txSeen map[int64]struct{} // request id hashes stored in the open transaction
	hbuf   []any
	hidx   []int

	cache  *trendCache   // nil when rebuilding rollups at open
	deltas []rollupDelta // rollup changes of the open transaction, for the cache
	opTx   bool          // the open transaction is not records

	insUsage, insSeen, upRollup multiStmt
	maxID                       *sql.Stmt
}

// chunk is how many rows one multi-row statement carries.
const chunk = 64

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

type nameKey struct {
	kind int
	name string
}

func newWriter(ctx context.Context, db *sql.DB, loc *time.Location, h *hub, cache *trendCache) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	w := &writer{
		db: db, conn: conn, loc: loc, hub: h, cache: cache,
		reqs: make(chan *writeReq, 1024), done: make(chan struct{}),
		ids: map[nameKey]int64{}, seq: map[int64]int64{}, txSeen: map[int64]struct{}{},
		insUsage: multiStmt{head: `INSERT INTO usage(id, account, model, input, output, cached, reasoning,
			cache_creation, flags, credential, source) VALUES `, group: "(?,?,?,?,?,?,?,?,?,?,?)", sep: ","},
		upRollup: rollupUpsert(),
		insSeen: multiStmt{head: `INSERT OR IGNORE INTO request_ids(h) VALUES `, group: "(?)", sep: ",",
			tail: " RETURNING h"},
	}
	w.agg.reset(loc)
	if err := w.readTop(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	prep := []struct {
		dst **sql.Stmt
		q   string
	}{
		{&w.maxID, `SELECT coalesce(max(id), -1) FROM usage WHERE id >= ? AND id < ?`},
	}
	for _, p := range prep {
		if *p.dst, err = conn.PrepareContext(ctx, p.q); err != nil {
			conn.Close()
			return nil, fmt.Errorf("prepare %q: %w", p.q[:30], err)
		}
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
	w.maxID.Close()
	for _, m := range []*multiStmt{&w.insUsage, &w.insSeen, &w.upRollup} {
		m.close()
	}
	cerr := w.conn.Close()
	// A clean close checkpoints the WAL into the main file, so the next start reads one file.
	_, perr := w.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return errors.Join(cerr, perr, w.db.Close())
}

// lingerFor and lingerRecords bound the wait for more requests under load (see run).
const (
	lingerFor     = 300 * time.Microsecond
	lingerRecords = 64
)

func (w *writer) run() {
	defer close(w.done)
	busy := false
	var timer *time.Timer
	for first := range w.reqs {
		if first.op != nil {
			w.runOp(first)
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
	}
}

func (w *writer) runOp(r *writeReq) {
	ctx := context.Background()
	var changed bool
	w.opTx = true // any write but records drops the trend cache
	r.err = w.inTx(ctx, func() (err error) {
		changed, err = r.op(ctx, w)
		return err
	})
	w.opTx = false
	if r.err == nil && changed {
		w.hub.notify()
	}
	close(r.done)
}

// runRecords commits a group of requests in one transaction. If that fails, each request is tried on
// its own, so one request's failure is never another's.
func (w *writer) runRecords(group []*writeReq) {
	ctx := context.Background()
	err := w.inTx(ctx, func() error {
		for _, r := range group {
			res, err := w.insert(ctx, r.recs)
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
				r.res, err = w.insert(ctx, r.recs)
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
		} else if r.res.Accepted > 0 {
			changed = true
		}
		close(r.done)
	}
	if changed {
		w.hub.notify()
	}
}

// inTx runs fn in a transaction on the writer connection. On failure every cache the transaction
// touched is put back, so the next transaction starts from what is really on disk.
func (w *writer) inTx(ctx context.Context, fn func() error) error {
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err := fn()
	if err == nil {
		err = w.flush(ctx)
	}
	if err == nil {
		err = w.cache.commitWith(func() error {
			if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
				return fmt.Errorf("commit: %w", err)
			}
			return nil
		}, w.deltas, w.opTx)
	}
	w.deltas = w.deltas[:0]
	if err != nil {
		if _, rerr := w.conn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		for _, k := range w.newIDs {
			delete(w.ids, k)
		}
		clear(w.seq)
		w.agg.reset(w.loc)
		// Rolled-back rows leave top too high, which is safe (it only costs a query).
	}
	w.newIDs = w.newIDs[:0]
	w.records = 0
	clear(w.rows)
	w.rows, w.nrows = w.rows[:0], 0
	clear(w.txSeen)
	if len(w.seq) > 4096 {
		clear(w.seq)
	}
	return err
}

func (w *writer) insert(ctx context.Context, recs []Record) (Result, error) {
	var res Result
	for lo := 0; lo < len(recs); lo += chunk {
		part := recs[lo:min(lo+chunk, len(recs))]
		dups, err := w.seen(ctx, part)
		if err != nil {
			return res, err
		}
		for i := range part {
			if dups&(1<<i) != 0 {
				res.Duplicates++
				continue
			}
			r := &part[i]
			acc, err := w.nameID(ctx, kindAccount, r.Account)
			if err != nil {
				return res, err
			}
			model, err := w.nameID(ctx, kindModel, r.Model)
			if err != nil {
				return res, err
			}
			cred, err := w.optionalID(ctx, kindCredential, r.Credential)
			if err != nil {
				return res, err
			}
			src, err := w.optionalID(ctx, kindSource, r.Source)
			if err != nil {
				return res, err
			}
			ts := r.Time.Unix()
			id, err := w.nextID(ctx, ts)
			if err != nil {
				return res, err
			}
			flags := 0
			if r.IsAntigravity {
				flags = 1
			}
			w.rows = append(w.rows, id, acc, model, r.InputTokens, r.OutputTokens, r.CachedTokens,
				r.ReasoningTokens, r.CacheCreationTokens, flags, cred, src)
			if w.nrows++; w.nrows == chunk {
				if err := w.flushRows(ctx); err != nil {
					return res, err
				}
			}
			w.agg.add(ts, model, acc, recordTotals(r), rollupLevels...)
			res.Accepted++
		}
	}
	w.records += int64(res.Accepted)
	return res, nil
}

// flushRows inserts the rows waiting in w.rows.
func (w *writer) flushRows(ctx context.Context) error {
	if w.nrows == 0 {
		return nil
	}
	st, err := w.insUsage.get(ctx, w.conn, w.nrows)
	if err == nil {
		_, err = st.ExecContext(ctx, w.rows...)
	}
	if err != nil {
		return fmt.Errorf("insert records: %w", err)
	}
	clear(w.rows)
	w.rows, w.nrows = w.rows[:0], 0
	return nil
}

// seen stores the request ids of up to chunk records and returns a bit mask of the records whose id
// was stored before (in an earlier transaction, this one, or earlier in part): the duplicates.
func (w *writer) seen(ctx context.Context, part []Record) (uint64, error) {
	var dups uint64
	w.hbuf, w.hidx = w.hbuf[:0], w.hidx[:0]
	for i := range part {
		if part[i].RequestID == "" {
			continue
		}
		h := hashID(part[i].RequestID)
		if _, ok := w.txSeen[h]; ok {
			dups |= 1 << i
			continue
		}
		w.txSeen[h] = struct{}{}
		w.hbuf = append(w.hbuf, h)
		w.hidx = append(w.hidx, i)
	}
	if len(w.hbuf) == 0 {
		return dups, nil
	}
	// INSERT OR IGNORE … RETURNING answers only the rows it inserted: the ids not seen before.
	st, err := w.insSeen.get(ctx, w.conn, len(w.hbuf))
	if err != nil {
		return 0, err
	}
	rows, err := st.QueryContext(ctx, w.hbuf...)
	if err != nil {
		return 0, fmt.Errorf("store request ids: %w", err)
	}
	fresh := 0
	var isNew map[int64]bool
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store request ids: %w", err)
		}
		fresh++
		if isNew == nil && fresh < len(w.hbuf) {
			isNew = map[int64]bool{}
		}
		if isNew != nil {
			isNew[h] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store request ids: %w", err)
	}
	if fresh < len(w.hbuf) {
		if isNew == nil {
			isNew = map[int64]bool{}
		}
		for j, v := range w.hbuf {
			if !isNew[v.(int64)] {
				dups |= 1 << w.hidx[j]
			}
		}
	}
	return dups, nil
}

// hashID is the 64-bit FNV-1a hash of a request id (written out to avoid an allocation per record).
func hashID(id string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return int64(h)
}

// readTop sets top from the table.
func (w *writer) readTop(ctx context.Context) error {
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(max(id), -1) FROM usage`).Scan(&w.top); err != nil {
		return fmt.Errorf("find last record: %w", err)
	}
	return nil
}

func (w *writer) optionalID(ctx context.Context, kind int, name string) (any, error) {
	if name == "" {
		return nil, nil
	}
	return w.nameID(ctx, kind, name)
}

func (w *writer) nameID(ctx context.Context, kind int, name string) (int64, error) {
	k := nameKey{kind, name}
	if id, ok := w.ids[k]; ok {
		return id, nil
	}
	var id int64
	err := w.conn.QueryRowContext(ctx, `SELECT id FROM names WHERE kind = ? AND name = ?`, kind, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		res, err = w.conn.ExecContext(ctx, `INSERT INTO names(kind, name) VALUES (?, ?)`, kind, name)
		if err == nil {
			id, err = res.LastInsertId()
			w.newIDs = append(w.newIDs, k)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("store name: %w", err)
	}
	w.ids[k] = id
	return id, nil
}

func (w *writer) nextID(ctx context.Context, ts int64) (int64, error) {
	seq, ok := w.seq[ts]
	if !ok && ts<<seqBits > w.top {
		seq, ok = 0, true
	}
	if !ok {
		var max int64
		if err := w.maxID.QueryRowContext(ctx, ts<<seqBits, (ts+1)<<seqBits).Scan(&max); err != nil {
			return 0, fmt.Errorf("find free id: %w", err)
		}
		seq = 0
		if max >= 0 {
			seq = max&seqMask + 1
		}
	}
	if seq > seqMask {
		return 0, fmt.Errorf("more than %d records in one second (%d)", seqMask+1, ts)
	}
	w.seq[ts] = seq + 1
	id := ts<<seqBits | seq
	w.top = max(w.top, id)
	return id, nil
}

// flush writes the rollup changes gathered in the open transaction, and the record count.
func (w *writer) flush(ctx context.Context) error {
	if err := w.flushRows(ctx); err != nil {
		return err
	}
	args, n := w.rows[:0], 0
	put := func() error {
		st, err := w.upRollup.get(ctx, w.conn, n)
		if err == nil {
			_, err = st.ExecContext(ctx, args...)
		}
		if err != nil {
			return fmt.Errorf("update rollup: %w", err)
		}
		clear(args)
		args, n = args[:0], 0
		return nil
	}
	for k, t := range w.agg.m {
		if w.cache != nil && !w.opTx && k.lvl != levelMonth {
			w.deltas = append(w.deltas, rollupDelta{k.lvl, k.dim, k.bucket, k.key, t.TotalTokens()})
		}
		args = append(args, int(k.lvl), int(k.dim), k.bucket, k.key, t.Requests, t.InputTokens, t.OutputTokens,
			t.CachedTokens, t.ReasoningTokens, t.CacheCreationTokens)
		if n++; n == chunk {
			if err := put(); err != nil {
				return err
			}
		}
	}
	if n > 0 {
		if err := put(); err != nil {
			return err
		}
	}
	w.rows = args[:0]
	w.agg.reset(w.loc)
	if w.records != 0 {
		if _, err := w.conn.ExecContext(ctx, `UPDATE meta SET value = value + ? WHERE key = 'records'`,
			w.records); err != nil {
			return fmt.Errorf("update record count: %w", err)
		}
	}
	return nil
}

// aggregator sums records into rollup buckets before they are written, remembering the last bucket of
// each level because records of one batch mostly share it.
type aggregator struct {
	loc  *time.Location
	m    map[aggKey]*Totals
	last [4]struct{ start, end int64 }
}

type aggKey struct {
	lvl    level
	dim    Dimension
	bucket int64
	key    int64
}

func (a *aggregator) reset(loc *time.Location) {
	a.loc = loc
	if a.m == nil {
		a.m = map[aggKey]*Totals{}
	}
	clear(a.m)
	for i := range a.last {
		a.last[i].start, a.last[i].end = 0, -1
	}
}

func (a *aggregator) bucket(l level, ts int64) int64 {
	c := &a.last[l]
	if ts < c.start || ts >= c.end {
		c.start, c.end = span(l, ts, a.loc)
	}
	return c.start
}

func (a *aggregator) add(ts, model, account int64, t Totals, levels ...level) {
	for _, l := range levels {
		b := a.bucket(l, ts)
		for _, k := range [2]aggKey{{l, ByModel, b, model}, {l, ByAccount, b, account}} {
			if cur := a.m[k]; cur != nil {
				cur.Add(t)
			} else {
				tt := t
				a.m[k] = &tt
			}
		}
	}
}

// aggregateRaw adds the raw rows with timestamps in [lo, hi) to the given rollup levels.
func (w *writer) aggregateRaw(ctx context.Context, lo, hi int64, levels ...level) error {
	rows, err := w.conn.QueryContext(ctx, `SELECT id, account, model, input, output, cached, reasoning,
		cache_creation FROM usage WHERE id >= ? AND id < ?`, lo<<seqBits, hi<<seqBits)
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, acc, model int64
		t := Totals{Requests: 1}
		if err := rows.Scan(&id, &acc, &model, &t.InputTokens, &t.OutputTokens, &t.CachedTokens,
			&t.ReasoningTokens, &t.CacheCreationTokens); err != nil {
			return fmt.Errorf("read records: %w", err)
		}
		w.agg.add(id>>seqBits, model, acc, t, levels...)
		if len(w.agg.m) > 200000 {
			// Keep memory flat when rebuilding years of data.
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

// Record stores records, each committed before Record returns. Records must be valid (see Validate);
// a record whose request id was stored before is counted in Duplicates and not stored again.
func (s *Store) Record(ctx context.Context, recs ...Record) (Result, error) {
	if len(recs) == 0 {
		return Result{}, nil
	}
	r := &writeReq{recs: recs}
	if err := s.w.submit(ctx, r); err != nil {
		return Result{}, fmt.Errorf("store records: %w", err)
	}
	return r.res, nil
}

// Clear removes records. With olderThan nil it removes everything (and forgets request ids); otherwise
// it removes exactly the records with timestamp ≤ *olderThan and keeps every view consistent.
// It returns how many records were removed.
func (s *Store) Clear(ctx context.Context, olderThan *time.Time) (int64, error) {
	var removed int64
	r := &writeReq{op: func(ctx context.Context, w *writer) (bool, error) {
		var err error
		if olderThan == nil {
			removed, err = w.clearAll(ctx)
		} else {
			removed, err = w.clearBefore(ctx, olderThan.Unix()+1)
		}
		return removed > 0, err
	}}
	if err := s.w.submit(ctx, r); err != nil {
		return 0, fmt.Errorf("clear records: %w", err)
	}
	return removed, nil
}

func (w *writer) clearAll(ctx context.Context) (int64, error) {
	var n int64
	if err := w.conn.QueryRowContext(ctx, `SELECT count(*) FROM usage`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	for _, q := range []string{`DELETE FROM usage`, `DELETE FROM rollup`, `DELETE FROM request_ids`,
		`DELETE FROM names`, `UPDATE meta SET value = 0 WHERE key = 'records'`} {
		if _, err := w.conn.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("clear: %w", err)
		}
	}
	// Ids are AUTOINCREMENT, never reused, so readers' caches of old names stay harmless.
	clear(w.ids)
	clear(w.seq)
	return n, nil
}

// clearBefore removes records with timestamp < keep. Rollup buckets wholly before keep go; the bucket
// that keep cuts is rebuilt from the raw rows that remain in it.
func (w *writer) clearBefore(ctx context.Context, keep int64) (int64, error) {
	res, err := w.conn.ExecContext(ctx, `DELETE FROM usage WHERE id < ?`, keep<<seqBits)
	if err != nil {
		return 0, fmt.Errorf("delete records: %w", err)
	}
	n, _ := res.RowsAffected()
	for _, l := range rollupLevels {
		start, end := span(l, keep, w.loc)
		cut := keep
		if start < keep {
			cut = start + 1 // the cut bucket itself goes too, and is rebuilt below
		}
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM rollup WHERE level = ? AND bucket < ?`, int(l), cut); err != nil {
			return 0, fmt.Errorf("delete rollups: %w", err)
		}
		if start < keep {
			if err := w.aggregateRaw(ctx, keep, end, l); err != nil {
				return 0, err
			}
		}
	}
	w.records -= n
	clear(w.seq)
	return n, nil
}
