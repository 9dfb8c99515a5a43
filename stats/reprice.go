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

// repriceChunk is how many records one re-pricing transaction checks: ingest waits at most this long.
const repriceChunk = 2048

// repricer is the writer's re-pricing state; only the writer goroutine touches it.
type repricer struct {
	queue   []int64        // model name ids to re-price, in order; the first is under way
	pending map[int64]bool // the models of queue
	job     *repriceJob    // progress through queue[0]; nil before its first chunk
	upd     multiStmt
}

type repriceJob struct {
	model  int64
	name   string
	combos []int64 // the model's combos when the job started (later ones were priced when stored)
	ci     int     // the combo under way
	after  int64   // its last row id checked
}

func (rp *repricer) init() {
	rp.pending = map[int64]bool{}
	rp.upd = multiStmt{head: `UPDATE usage SET cost = v.column2 FROM (VALUES `, group: "(?,?)", sep: ",",
		tail: `) AS v WHERE usage.id = v.column1`}
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
// the same transaction, so a re-price cut short (a crash, a quit) is done again at the next open.
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
		w.rp.queue, w.rp.job = stale, nil
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

// repriceStep re-prices up to chunk records of the model under way, in the open transaction: rows
// whose cost changes are updated and their deltas added to the rollups. The model's key is stored
// when its last rows are done.
func (w *writer) repriceStep(ctx context.Context, chunk int) error {
	rp := &w.rp
	if len(rp.queue) == 0 {
		return nil
	}
	var job repriceJob
	if rp.job != nil {
		job = *rp.job
	} else {
		job = repriceJob{model: rp.queue[0], after: -1}
		if err := w.conn.QueryRowContext(ctx, `SELECT name FROM names WHERE id = ?`, job.model).Scan(&job.name); err != nil {
			return fmt.Errorf("re-price model %d: %w", job.model, err)
		}
		var err error
		if job.combos, err = combosOfModel(ctx, w.conn, job.model); err != nil {
			return err
		}
	}
	var checked int64
	for budget := chunk; budget > 0 && job.ci < len(job.combos); {
		n, last, err := w.repriceRows(ctx, &job, budget)
		if err != nil {
			return err
		}
		checked += int64(n)
		if n < budget {
			job.ci, job.after = job.ci+1, -1
		} else {
			job.after = last
		}
		budget -= n
	}
	finished := job.ci == len(job.combos)
	if finished {
		if _, err := w.conn.ExecContext(ctx, `INSERT OR REPLACE INTO price_keys(model, key) VALUES (?, ?)`,
			job.model, keyOf(w.s.pricer, job.name)); err != nil {
			return fmt.Errorf("store price key: %w", err)
		}
	}
	w.onCommit = append(w.onCommit, func() {
		if finished {
			rp.queue, rp.job = rp.queue[1:], nil
			delete(rp.pending, job.model)
			w.ins.keyed[job.model] = true
		} else {
			rp.job = &job
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
	return nil
}

// combosOfModel lists the combos of a model name id.
func combosOfModel(ctx context.Context, conn *sql.Conn, model int64) ([]int64, error) {
	rows, err := conn.QueryContext(ctx, `SELECT id FROM combos WHERE model = ? ORDER BY id`, model)
	if err != nil {
		return nil, fmt.Errorf("read combos: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read combos: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// repricedRow is a raw row as re-pricing reads it.
type repricedRow struct {
	id                                          int64
	input, output, cached, reasoning, cacheCrea int64
	cost                                        sql.NullInt64
}

// repriceRows re-prices up to limit rows of job's combo after job.after, in id order (the combo index
// holds them so). It returns how many rows it read and the last one's id.
func (w *writer) repriceRows(ctx context.Context, job *repriceJob, limit int) (int, int64, error) {
	cid := job.combos[job.ci]
	rows, err := w.conn.QueryContext(ctx, `SELECT id, input, output, cached, reasoning, cache_creation, cost
		FROM usage INDEXED BY usage_combo WHERE combo = ? AND id > ? ORDER BY id LIMIT ?`, cid, job.after, limit)
	if err != nil {
		return 0, 0, fmt.Errorf("read records to re-price: %w", err)
	}
	var read []repricedRow
	for rows.Next() {
		var r repricedRow
		if err := rows.Scan(&r.id, &r.input, &r.output, &r.cached, &r.reasoning, &r.cacheCrea, &r.cost); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("read records to re-price: %w", err)
		}
		read = append(read, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("read records to re-price: %w", err)
	}
	if len(read) == 0 {
		return 0, job.after, nil
	}
	c, err := w.combo(cid)
	if err != nil {
		return 0, 0, err
	}
	var args []any
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		st, err := w.rp.upd.get(ctx, w.conn, n)
		if err == nil {
			_, err = st.ExecContext(ctx, args...)
		}
		clear(args)
		args, n = args[:0], 0
		if err != nil {
			return fmt.Errorf("update costs: %w", err)
		}
		return nil
	}
	for i := range read {
		r := &read[i]
		rec := Record{Model: job.name, InputTokens: r.input, OutputTokens: r.output, CachedTokens: r.cached,
			ReasoningTokens: r.reasoning, CacheCreationTokens: r.cacheCrea}
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
		ts := r.id >> seqBits
		w.rb.add(ts, cid, c, &delta, w.s.minutes.has(floorBoundary(levelHour, ts, w.s.loc)), true)
		args = append(args, r.id, arg)
		if n++; n == chunk {
			if err := flush(); err != nil {
				return 0, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, 0, err
	}
	return len(read), read[len(read)-1].id, nil
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
// again a minute later.
func (s *Store) repriceLoop(chunk int, before func()) {
	defer close(s.rp.done)
	var retry <-chan time.Time
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
			err := s.w.submit(context.Background(), &writeReq{keepCache: true,
				op: func(ctx context.Context, w *writer) (bool, error) {
					return true, w.repriceStep(ctx, chunk) // progress moved: windows redraw the meter
				}})
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
