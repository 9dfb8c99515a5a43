package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// seqBits is how many records one second can hold: a row id is (unix second << seqBits | sequence), so
// the primary key is also the time index.
const (
	seqBits = 24
	seqMask = 1<<seqBits - 1
)

// inserter is the writer's part that turns records into rows: request-id deduplication, name and combo
// ids, row ids, the sources registry and key-value states. Rows wait in batches until a multi-row INSERT
// takes them: one statement per chunk costs far less than one per row.
type inserter struct {
	ids       map[nameKey]int64
	newIDs    []nameKey // names first stored in the open transaction, forgotten if it rolls back
	combos    map[combo]int64
	newCombos []combo
	byID      map[int64]combo // combos by id, for re-aggregating raw rows
	seq       map[int64]int64
	records   int64 // change of the raw row count in the open transaction
	// top is an upper bound of the largest row id in usage (-1: none): a second above it holds no row
	// yet, so its sequence starts at 0 without asking SQLite. Live records always arrive there.
	top     int64
	rows    []any // 9 values a row
	nrows   int
	txSeen  map[int64]struct{} // request id hashes stored in the open transaction
	hbuf    []any
	hidx    []int
	sources map[int64]*sourceSeen // sources of the open transaction's records
	state   map[string][]byte     // states the open transaction sets (nil value: delete)
	// keyed holds the model name ids whose stored price key is the pricer's (reprice.go); newKeyed those
	// the open transaction added, forgotten if it rolls back.
	keyed    map[int64]bool
	newKeyed []int64

	insUsage, insSeen, upSource multiStmt
	maxID                       *sql.Stmt
}

type nameKey struct {
	kind int
	name string
}

// sourceSeen is what a transaction's records say of their source: its kind (of the newest record) and
// the first and last record time.
type sourceSeen struct {
	kind        string
	first, last int64
}

func (in *inserter) init(ctx context.Context, conn *sql.Conn) error {
	in.ids, in.combos, in.byID, in.seq = map[nameKey]int64{}, map[combo]int64{}, map[int64]combo{}, map[int64]int64{}
	in.txSeen, in.sources, in.state = map[int64]struct{}{}, map[int64]*sourceSeen{}, map[string][]byte{}
	in.keyed = map[int64]bool{}
	in.insUsage = multiStmt{head: `INSERT INTO usage(id, combo, input, output, cached, reasoning, cache_creation,
		cost, agent_cost) VALUES `, group: "(?,?,?,?,?,?,?,?,?)", sep: ","}
	in.insSeen = multiStmt{head: `INSERT OR IGNORE INTO request_ids(h) VALUES `, group: "(?)", sep: ",",
		tail: " RETURNING h"}
	in.upSource = multiStmt{head: `INSERT INTO sources(name, kind, first, last) VALUES `, group: "(?,?,?,?)",
		sep: ",", tail: ` ON CONFLICT(name) DO UPDATE SET
		kind = CASE WHEN excluded.last >= sources.last THEN excluded.kind ELSE sources.kind END,
		first = min(sources.first, excluded.first), last = max(sources.last, excluded.last)`}
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(id), -1) FROM usage`).Scan(&in.top); err != nil {
		return fmt.Errorf("find last record: %w", err)
	}
	var err error
	in.maxID, err = conn.PrepareContext(ctx, `SELECT coalesce(max(id), -1) FROM usage WHERE id >= ? AND id < ?`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

func (in *inserter) close() {
	in.maxID.Close()
	for _, m := range []*multiStmt{&in.insUsage, &in.insSeen, &in.upSource} {
		m.close()
	}
}

// rollback forgets what the rolled-back transaction taught the caches. Rolled-back rows leave top too
// high, which is safe (it only costs a query).
func (in *inserter) rollback() {
	for _, k := range in.newIDs {
		delete(in.ids, k)
	}
	for _, c := range in.newCombos {
		delete(in.byID, in.combos[c])
		delete(in.combos, c)
	}
	for _, m := range in.newKeyed {
		delete(in.keyed, m)
	}
	clear(in.seq)
	in.reset()
}

// committed ends a transaction that committed.
func (in *inserter) committed() {
	if len(in.seq) > 4096 {
		clear(in.seq)
	}
	in.reset()
}

func (in *inserter) reset() {
	in.newIDs, in.newCombos, in.newKeyed = in.newIDs[:0], in.newCombos[:0], in.newKeyed[:0]
	in.records = 0
	clear(in.rows)
	in.rows, in.nrows = in.rows[:0], 0
	clear(in.txSeen)
	clear(in.sources)
	clear(in.state)
}

// insert adds records (and states) to the open transaction.
func (w *writer) insert(ctx context.Context, recs []Record, state map[string][]byte) (Result, error) {
	in := &w.ins
	var res Result
	for lo := 0; lo < len(recs); lo += chunk {
		part := recs[lo:min(lo+chunk, len(recs))]
		dups, err := in.seen(ctx, w.conn, part)
		if err != nil {
			return res, err
		}
		for i := range part {
			if dups&(1<<i) != 0 {
				res.Duplicates++
				continue
			}
			if err := w.insertOne(ctx, &part[i]); err != nil {
				return res, err
			}
			res.Accepted++
		}
	}
	for k, v := range state {
		in.state[k] = v
	}
	return res, nil
}

func (w *writer) insertOne(ctx context.Context, r *Record) error {
	in := &w.ins
	var c combo
	var err error
	for _, d := range allDims {
		if c.keys[d-1], err = in.nameID(ctx, w.conn, nameKind(d), nameOfDim(r, d)); err != nil {
			return err
		}
	}
	if r.IsAntigravity {
		c.flags = 1
	}
	cid, err := in.comboID(ctx, w.conn, c)
	if err != nil {
		return err
	}
	if err := w.keyModel(ctx, c.key(ByModel), r.Model); err != nil {
		return err
	}
	var cost Money
	priced := false
	if w.s.pricer != nil {
		cost, priced = w.s.pricer.Price(r)
	}
	ts := r.Time.Unix()
	// A record older than the retention cutoff (a late replay) joins only the day and month totals kept
	// there: no raw row, no hour or minute buckets. Only this goroutine changes the cutoff.
	finest := levelDay
	if ts >= w.s.minutes.retired {
		if err := w.insertRow(ctx, ts, cid, r, cost, priced); err != nil {
			return err
		}
		finest = levelHour
		if w.s.minutes.has(floorBoundary(levelHour, ts, w.s.loc)) {
			finest = levelMinute
		}
	}
	t := recordTotals(r, cost, priced)
	w.rb.add(ts, cid, &t, finest)
	kind := r.Kind
	if kind == "" {
		kind = KindPost
	}
	src := c.key(BySource)
	if seen := in.sources[src]; seen == nil {
		in.sources[src] = &sourceSeen{kind, ts, ts}
	} else {
		if ts >= seen.last {
			seen.kind = kind
		}
		seen.first, seen.last = min(seen.first, ts), max(seen.last, ts)
	}
	return nil
}

// insertRow queues the raw row of a record.
func (w *writer) insertRow(ctx context.Context, ts, cid int64, r *Record, cost Money, priced bool) error {
	in := &w.ins
	id, err := in.nextID(ctx, ts)
	if err != nil {
		return err
	}
	var costArg, agentArg any
	if priced {
		costArg = int64(cost)
	}
	if r.HasAgentCost {
		agentArg = int64(r.AgentCost)
	}
	in.rows = append(in.rows, id, cid, r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens,
		r.CacheCreationTokens, costArg, agentArg)
	in.records++
	if in.nrows++; in.nrows == chunk {
		return in.flushRows(ctx, w.conn)
	}
	return nil
}

// flush writes the rows still waiting, the sources seen, the states set, and the record count.
func (in *inserter) flush(ctx context.Context, conn *sql.Conn) error {
	if err := in.flushRows(ctx, conn); err != nil {
		return err
	}
	if len(in.sources) > 0 {
		args := make([]any, 0, 4*len(in.sources))
		for src, s := range in.sources {
			args = append(args, src, s.kind, s.first, s.last)
		}
		// A transaction sees few sources: one statement for all.
		st, err := in.upSource.get(ctx, conn, len(in.sources))
		if err == nil {
			_, err = st.ExecContext(ctx, args...)
		}
		if err != nil {
			return fmt.Errorf("update sources: %w", err)
		}
	}
	for k, v := range in.state {
		var err error
		if v == nil {
			_, err = conn.ExecContext(ctx, `DELETE FROM state WHERE key = ?`, k)
		} else {
			_, err = conn.ExecContext(ctx, `INSERT INTO state(key, value) VALUES (?, ?)
				ON CONFLICT(key) DO UPDATE SET value = excluded.value`, k, v)
		}
		if err != nil {
			return fmt.Errorf("store state %.40q: %w", k, err)
		}
	}
	if in.records != 0 {
		if _, err := conn.ExecContext(ctx, `UPDATE meta SET value = value + ? WHERE key = 'records'`, in.records); err != nil {
			return fmt.Errorf("update record count: %w", err)
		}
	}
	return nil
}

// flushRows inserts the rows waiting in rows.
func (in *inserter) flushRows(ctx context.Context, conn *sql.Conn) error {
	if in.nrows == 0 {
		return nil
	}
	st, err := in.insUsage.get(ctx, conn, in.nrows)
	if err == nil {
		_, err = st.ExecContext(ctx, in.rows...)
	}
	if err != nil {
		return fmt.Errorf("insert records: %w", err)
	}
	clear(in.rows)
	in.rows, in.nrows = in.rows[:0], 0
	return nil
}

// seen stores the request ids of up to chunk records and returns a bit mask of the records whose id
// was stored before (in an earlier transaction, this one, or earlier in part), or that an export of this
// store gave its own rows (ownExports): the duplicates.
func (in *inserter) seen(ctx context.Context, conn *sql.Conn, part []Record) (uint64, error) {
	dups, err := in.ownExports(ctx, conn, part) // exported from this store and imported back
	if err != nil {
		return 0, err
	}
	in.hbuf, in.hidx = in.hbuf[:0], in.hidx[:0]
	for i := range part {
		if part[i].RequestID == "" || dups&(1<<i) != 0 {
			continue
		}
		h := hashID(part[i].RequestID)
		if _, ok := in.txSeen[h]; ok {
			dups |= 1 << i
			continue
		}
		in.txSeen[h] = struct{}{}
		in.hbuf = append(in.hbuf, h)
		in.hidx = append(in.hidx, i)
	}
	if len(in.hbuf) == 0 {
		return dups, nil
	}
	// INSERT OR IGNORE … RETURNING answers only the rows it inserted: the ids not seen before.
	st, err := in.insSeen.get(ctx, conn, len(in.hbuf))
	if err != nil {
		return 0, err
	}
	rows, err := st.QueryContext(ctx, in.hbuf...)
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
		if isNew == nil && fresh < len(in.hbuf) {
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
	if fresh < len(in.hbuf) {
		if isNew == nil {
			isNew = map[int64]bool{}
		}
		for j, v := range in.hbuf {
			if !isNew[v.(int64)] {
				dups |= 1 << in.hidx[j]
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

// nameID is the id of a name, stored when new; "" is 0, none.
func (in *inserter) nameID(ctx context.Context, conn *sql.Conn, kind int, name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	k := nameKey{kind, name}
	if id, ok := in.ids[k]; ok {
		return id, nil
	}
	var id int64
	err := conn.QueryRowContext(ctx, `SELECT id FROM names WHERE kind = ? AND name = ?`, kind, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		res, err = conn.ExecContext(ctx, `INSERT INTO names(kind, name) VALUES (?, ?)`, kind, name)
		if err == nil {
			id, err = res.LastInsertId()
			in.newIDs = append(in.newIDs, k)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("store name: %w", err)
	}
	in.ids[k] = id
	return id, nil
}

// comboID is the id of a combination of names, stored when new.
func (in *inserter) comboID(ctx context.Context, conn *sql.Conn, c combo) (int64, error) {
	if id, ok := in.combos[c]; ok {
		return id, nil
	}
	var id int64
	args := []any{c.key(ByAccount), c.key(ByModel), c.key(BySource), c.key(ByCredential), c.flags}
	err := conn.QueryRowContext(ctx, `SELECT id FROM combos WHERE account = ? AND model = ? AND source = ?
		AND credential = ? AND flags = ?`, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		res, err = conn.ExecContext(ctx, `INSERT INTO combos(account, model, source, credential, flags)
			VALUES (?, ?, ?, ?, ?)`, args...)
		if err == nil {
			id, err = res.LastInsertId()
			in.newCombos = append(in.newCombos, c)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("store combo: %w", err)
	}
	in.combos[c] = id
	in.byID[id] = c
	return id, nil
}

func (in *inserter) nextID(ctx context.Context, ts int64) (int64, error) {
	seq, ok := in.seq[ts]
	if !ok && ts<<seqBits > in.top {
		seq, ok = 0, true
	}
	if !ok {
		var max int64
		if err := in.maxID.QueryRowContext(ctx, ts<<seqBits, (ts+1)<<seqBits).Scan(&max); err != nil {
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
	in.seq[ts] = seq + 1
	id := ts<<seqBits | seq
	in.top = max(in.top, id)
	return id, nil
}
