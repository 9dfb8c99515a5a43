package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Re-pricing. Each stored record carries the cost its model's prices gave when it was stored. When the
// prices change (an override set or removed, a newer snapshot, or a file opened with other prices than
// the ones that priced it), the records of the models whose prices changed are priced again, in the
// background: in chunks, each one transaction of the writer that updates the raw rows' cost and applies
// the cost and unpriced deltas to every rollup (per dimension, per combo, and the trend cache), so every
// view agrees after each commit and ingest waits at most one chunk. docs/prices.md describes it.

// PriceKeyer is implemented by a Pricer that can name the prices it applies to a model. PriceKey returns
// "" when the model is unpriced, else a string that changes whenever the model's prices change (a
// fingerprint of its rates), never "?". The store keeps, per model, the key of the prices its stored
// costs were computed with, and re-prices a model's records when the key differs.
type PriceKeyer interface {
	PriceKey(model string) string
}

// unknownKey stands for the prices of a Pricer that is no PriceKeyer: the store cannot tell which
// models it changes, so replacing it re-prices every model.
const unknownKey = "?"

// keyOf is the key of the prices p applies to model; a nil Pricer prices nothing.
func keyOf(p Pricer, model string) string {
	switch k := p.(type) {
	case nil:
		return ""
	case PriceKeyer:
		return k.PriceKey(model)
	}
	return unknownKey
}

// Repricing is how far the background re-pricing has come: Models still to finish (the one under way
// included), and Done of Total records checked. Total counts the models' records when they were queued.
type Repricing struct {
	Models      int
	Done, Total int64
}

// Running reports whether records are being re-priced.
func (r Repricing) Running() bool { return r.Models > 0 }

// pricerBox lets an atomic.Value hold any Pricer, nil included.
type pricerBox struct{ p Pricer }

// Pricer is the Pricer records are stored with now (what SetPricer gave or the PriceBuilder built).
func (s *Store) Pricer() Pricer {
	b, _ := s.shown.Load().(pricerBox)
	return b.p
}

// Repricing reports the background re-pricing's progress.
func (s *Store) Repricing() Repricing {
	s.rp.mu.Lock()
	defer s.rp.mu.Unlock()
	return s.rp.now
}

// SetPricer replaces the prices records are stored with from now on, and re-prices in the background
// the stored records of every model whose prices changed (by PriceKey; every model when p is no
// PriceKeyer). A re-price under way starts over with the new prices.
func (s *Store) SetPricer(ctx context.Context, p Pricer) error {
	_, keyed := p.(PriceKeyer)
	if err := s.w.submit(ctx, &writeReq{keepCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		w.onCommit = append(w.onCommit, func() { w.build = nil })
		return true, w.queueReprice(ctx, p, p != nil && !keyed)
	}}); err != nil {
		return fmt.Errorf("set prices: %w", err)
	}
	s.wakeRepricer()
	return nil
}

// A re-pricing transaction checks about chunk records of the re-priced models (and reads at most four
// times as many). The chunk adapts so that one transaction takes about repriceTarget, from minChunk to
// maxChunk records: ingest waits at most one such transaction, whatever the records look like (a year
// of sparse records touches many more rollup rows per record than a busy hour does).
const (
	firstChunk    = 1024
	minChunk      = 64
	maxChunk      = 16384
	repriceTarget = 50 * time.Millisecond
)

// repricer is the writer's re-pricing state; only the writer goroutine touches it.
type repricer struct {
	queue   []int64        // model name ids to re-price
	pending map[int64]bool // the models of queue
	pass    *repricePass   // the pass under way over the records; nil before its first chunk
	upd     multiStmt
}

// repricePass goes once through the records, oldest first, re-pricing those of the queued models. In
// time order every transaction touches a few neighbouring rollup buckets, so the pages it writes stay
// few; a model's records scattered over a year, taken model by model, would rewrite most of the rollups
// for every chunk.
type repricePass struct {
	names  map[int64]string // model name id → name, of the queued models
	models map[int64]int64  // combo id → its model's name id, for the combos of the queued models
	in     string           // "combo IN (…)" when the combos are few enough to read through the index
	next   int64            // the first row id not yet checked
	end    int64            // one past the last row id when the pass began; later rows were priced as stored
	window int64            // seconds of records the next chunk reads, adapted to hold about a chunk
}

func (rp *repricer) init() {
	rp.pending = map[int64]bool{}
	// The ids twice: SQLite plans UPDATE … FROM (VALUES …) as a scan of usage, IN (…) as key lookups.
	rp.upd = multiStmt{head: `UPDATE usage SET cost = CASE id `, group: "WHEN ? THEN ?", sep: " ",
		tail: ` END WHERE id IN (SELECT value FROM json_each(?))`}
}

// keyModel stores the price key of a model the open transaction stores records of, unless it is
// known or waiting to be re-priced (its key is then written when its re-price ends).
func (w *writer) keyModel(ctx context.Context, model int64, name string) error {
	in := &w.ins
	if in.keyed[model] || w.rp.pending[model] {
		return nil
	}
	if _, err := w.conn.ExecContext(ctx, `INSERT OR REPLACE INTO price_keys(model, key) VALUES (?, ?)`,
		model, keyOf(w.s.pricer, name)); err != nil {
		return fmt.Errorf("store price key: %w", err)
	}
	in.keyed[model] = true
	in.newKeyed = append(in.newKeyed, model)
	return nil
}

// queueReprice makes p the pricer once the open transaction commits, and queues for re-pricing every
// model whose stored key is not p's (or every model, with all). The queued models' keys are deleted in
// the same transaction, so a re-price cut short (a crash, a quit) is done again at the next open. A pass
// under way starts over.
func (w *writer) queueReprice(ctx context.Context, p Pricer, all bool) error {
	rows, err := w.conn.QueryContext(ctx, `SELECT n.id, n.name, k.key FROM names n
		LEFT JOIN price_keys k ON k.model = n.id WHERE n.kind = ? ORDER BY n.id`, kindModel)
	if err != nil {
		return fmt.Errorf("read price keys: %w", err)
	}
	var stale []int64
	keyed := map[int64]bool{}
	for rows.Next() {
		var id int64
		var name string
		var key sql.NullString
		if err := rows.Scan(&id, &name, &key); err != nil {
			rows.Close()
			return fmt.Errorf("read price keys: %w", err)
		}
		if all || !key.Valid || key.String != keyOf(p, name) {
			stale = append(stale, id)
		} else {
			keyed[id] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read price keys: %w", err)
	}
	var total int64
	for lo := 0; lo < len(stale); lo += 500 {
		in := idList(stale[lo:min(lo+500, len(stale))])
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM price_keys WHERE model IN (`+in+`)`); err != nil {
			return fmt.Errorf("forget price keys: %w", err)
		}
		// The month rollups count every record still summed: a progress total without reading the rows.
		var n int64
		if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(sum(requests), 0) FROM rollup WHERE level = ?
			AND dim = ? AND key IN (`+in+`)`, int(levelMonth), int(ByModel)).Scan(&n); err != nil {
			return fmt.Errorf("count records to re-price: %w", err)
		}
		total += n
	}
	w.onCommit = append(w.onCommit, func() {
		w.s.pricer = p
		w.s.shown.Store(pricerBox{p})
		w.ins.keyed = keyed
		w.rp.queue, w.rp.pass = stale, nil
		clear(w.rp.pending)
		for _, m := range stale {
			w.rp.pending[m] = true
		}
		w.s.publishRepricing(Repricing{Models: len(stale), Total: total})
	})
	return nil
}

// idList writes ids for an IN (…) list: numbers, not user text, so nothing to escape.
func idList(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

// startPass prepares a pass over the records for the queued models.
func (w *writer) startPass(ctx context.Context) (*repricePass, error) {
	ps := &repricePass{names: map[int64]string{}, models: map[int64]int64{}, window: 3600}
	list := idList(w.rp.queue)
	rows, err := w.conn.QueryContext(ctx, `SELECT id, name FROM names WHERE id IN (`+list+`)`)
	if err != nil {
		return nil, fmt.Errorf("read models to re-price: %w", err)
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read models to re-price: %w", err)
		}
		ps.names[id] = name
	}
	rows.Close()
	if rows, err = w.conn.QueryContext(ctx, `SELECT id, model FROM combos WHERE model IN (`+list+`)`); err != nil {
		return nil, fmt.Errorf("read combos to re-price: %w", err)
	}
	var combos []int64
	for rows.Next() {
		var id, model int64
		if err := rows.Scan(&id, &model); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read combos to re-price: %w", err)
		}
		ps.models[id] = model
		combos = append(combos, id)
	}
	rows.Close()
	var all int
	if err := w.conn.QueryRowContext(ctx, `SELECT count(*) FROM combos`).Scan(&all); err != nil {
		return nil, fmt.Errorf("count combos: %w", err)
	}
	if len(combos)*2 <= all { // as for a filtered query (visit.go): few combos read through the index
		ps.in = "combo IN (" + idList(combos) + ")"
	}
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id) + 1, 0) FROM usage`).
		Scan(&ps.next, &ps.end); err != nil {
		return nil, fmt.Errorf("find records to re-price: %w", err)
	}
	return ps, nil
}

// repriceStep re-prices the next window of records in the open transaction: rows of the queued models
// whose cost changes are updated and their deltas added to the rollups. When the pass is through, the
// models' keys are stored and the queue empties.
func (w *writer) repriceStep(ctx context.Context, chunk int) (int, error) {
	rp := &w.rp
	if len(rp.queue) == 0 {
		return 0, nil
	}
	var ps repricePass
	if rp.pass != nil {
		ps = *rp.pass
	} else {
		p, err := w.startPass(ctx)
		if err != nil {
			return 0, err
		}
		ps = *p
	}
	var checked int64
	if ps.next < ps.end {
		hi := min(ps.next+ps.window<<seqBits, ps.end)
		n, last, full, err := w.repriceRows(ctx, &ps, hi, chunk)
		if err != nil {
			return 0, err
		}
		checked = int64(n)
		ps.next = hi
		if full { // a burst of records: go on from the last one read, in a narrower window
			ps.next = last + 1
		}
		switch {
		case full || n > 2*chunk:
			ps.window = max(1, ps.window/2)
		case n < chunk/2 && ps.window < 1<<35: // 1<<35 s of ids stays far inside int64
			ps.window *= 2
		}
	}
	finished := ps.next >= ps.end
	if finished {
		for id, name := range ps.names {
			if _, err := w.conn.ExecContext(ctx, `INSERT OR REPLACE INTO price_keys(model, key) VALUES (?, ?)`,
				id, keyOf(w.s.pricer, name)); err != nil {
				return 0, fmt.Errorf("store price key: %w", err)
			}
		}
	}
	w.onCommit = append(w.onCommit, func() {
		if finished {
			for _, m := range rp.queue {
				w.ins.keyed[m] = true
			}
			rp.queue, rp.pass = nil, nil
			clear(rp.pending)
		} else {
			rp.pass = &ps
		}
		w.s.rp.mu.Lock()
		now := &w.s.rp.now
		now.Models, now.Done = len(rp.queue), now.Done+checked
		now.Total = max(now.Total, now.Done) // records stored meanwhile are checked too
		if now.Models == 0 {
			now.Done = now.Total // and records cleared meanwhile are not waited for
		}
		w.s.rp.mu.Unlock()
	})
	return int(checked), nil
}

// repriceRows re-prices the rows of the pass's combos in [ps.next, hi), oldest first, reading at most
// 4 × chunk rows. It returns how many rows of the re-priced models it checked, the last row id read, and
// whether it stopped at the limit.
func (w *writer) repriceRows(ctx context.Context, ps *repricePass, hi int64, chunk int) (int, int64, bool, error) {
	q := `SELECT id, combo, input, output, cached, reasoning, cache_creation, cost FROM usage`
	if ps.in != "" {
		q += ` INDEXED BY usage_combo WHERE ` + ps.in + ` AND`
	} else {
		q += ` WHERE`
	}
	limit := 4 * chunk
	rows, err := w.conn.QueryContext(ctx, q+` id >= ? AND id < ? ORDER BY id LIMIT ?`, ps.next, hi, limit)
	if err != nil {
		return 0, 0, false, fmt.Errorf("read records to re-price: %w", err)
	}
	var read []repricedRow
	var last int64
	scanned := 0
	for rows.Next() {
		var r repricedRow
		if err := rows.Scan(&r.id, &r.combo, &r.input, &r.output, &r.cached, &r.reasoning, &r.cacheCrea, &r.cost); err != nil {
			rows.Close()
			return 0, 0, false, fmt.Errorf("read records to re-price: %w", err)
		}
		scanned, last = scanned+1, r.id
		if _, ok := ps.models[r.combo]; ok {
			read = append(read, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, false, fmt.Errorf("read records to re-price: %w", err)
	}
	return len(read), last, scanned == limit, w.reprice(ctx, ps, read)
}

// repricedRow is a raw row as re-pricing reads it.
type repricedRow struct {
	id, combo                                   int64
	input, output, cached, reasoning, cacheCrea int64
	cost                                        sql.NullInt64
}

// reprice prices rows again; those whose cost changes are updated and their deltas added to every
// rollup (per dimension, per combo, and the trend cache through the writer's deltas).
func (w *writer) reprice(ctx context.Context, ps *repricePass, rows []repricedRow) error {
	var args []any
	var ids []byte // the ids again, as a JSON array
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		st, err := w.rp.upd.get(ctx, w.conn, n)
		if err == nil {
			_, err = st.ExecContext(ctx, append(args, string(append(ids, ']')))...)
		}
		clear(args)
		args, ids, n = args[:0], ids[:0], 0
		if err != nil {
			return fmt.Errorf("update costs: %w", err)
		}
		return nil
	}
	for i := range rows {
		r := &rows[i]
		rec := Record{Model: ps.names[ps.models[r.combo]], InputTokens: r.input, OutputTokens: r.output,
			CachedTokens: r.cached, ReasoningTokens: r.reasoning, CacheCreationTokens: r.cacheCrea}
		var cost Money
		priced := false
		if w.s.pricer != nil {
			cost, priced = w.s.pricer.Price(&rec)
		}
		if priced == r.cost.Valid && (!priced || int64(cost) == r.cost.Int64) {
			continue
		}
		var delta Totals
		var arg any
		if priced {
			delta.Cost, arg = cost, int64(cost)
		} else {
			delta.Unpriced = 1
		}
		if r.cost.Valid {
			delta.Cost -= Money(r.cost.Int64)
		} else {
			delta.Unpriced--
		}
		c, err := w.combo(r.combo)
		if err != nil {
			return err
		}
		ts := r.id >> seqBits
		w.rb.add(ts, r.combo, c, &delta, w.s.minutes.has(floorBoundary(levelHour, ts, w.s.loc)), true)
		args = append(args, r.id, arg)
		if n == 0 {
			ids = append(ids, '[')
		} else {
			ids = append(ids, ',')
		}
		ids = strconv.AppendInt(ids, r.id, 10)
		if n++; n == chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (s *Store) publishRepricing(r Repricing) {
	s.rp.mu.Lock()
	s.rp.now = r
	s.rp.mu.Unlock()
}

// wakeRepricer tells the re-pricing goroutine that there may be work.
func (s *Store) wakeRepricer() {
	select {
	case s.rp.wake <- struct{}{}:
	default:
	}
}

// repriceLoop runs the re-pricing: one writer transaction per chunk, so records arriving meanwhile wait
// for one chunk at most, until no model is left; then it sleeps until woken. After a failure it tries
// again a minute later. fixed, when not 0, is the chunk (tests); otherwise it adapts to repriceTarget.
func (s *Store) repriceLoop(fixed int, before func()) {
	defer close(s.rp.done)
	var retry <-chan time.Time
	chunk := firstChunk
	if fixed > 0 {
		chunk = fixed
	}
	for {
		select {
		case <-s.rp.quit:
			return
		case <-s.rp.wake:
		case <-retry:
		}
		retry = nil
		for s.Repricing().Running() {
			if before != nil {
				before()
			}
			t0 := time.Now()
			var n int
			err := s.w.submit(context.Background(), &writeReq{keepCache: true,
				op: func(ctx context.Context, w *writer) (bool, error) {
					var err error
					n, err = w.repriceStep(ctx, chunk)
					return true, err // progress moved: windows redraw the meter
				}})
			// A chunk that was not filled says nothing of how long a full one takes.
			if d := time.Since(t0); fixed == 0 && d > repriceTarget*3/2 {
				chunk = max(minChunk, chunk/2)
			} else if fixed == 0 && d < repriceTarget/2 && n >= chunk/2 {
				chunk = min(maxChunk, chunk*2)
			}
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil {
				s.log(fmt.Errorf("re-price: %w", err))
				retry = time.After(time.Minute)
				break
			}
			select {
			case <-s.rp.quit:
				return
			default:
			}
		}
	}
}
