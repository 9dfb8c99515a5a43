package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	r := s.rp.now
	if s.rp.compare != nil && r.Models == 0 {
		r.Models = 1 // not compared yet: as far as anyone can tell, a re-price may be due
	}
	return r
}

// dropCompare forgets the comparison opening left to do: prices set since compare themselves.
func (s *Store) dropCompare() {
	s.rp.mu.Lock()
	s.rp.compare = nil
	s.rp.gen++
	s.rp.mu.Unlock()
}

// compareOnce compares the stored records' prices with the pricer the store opened with and queues the
// models priced otherwise, retrying while it fails (another process may hold the write lock for a
// while). It reports false when the store closed.
func (s *Store) compareOnce() bool {
	for {
		err := s.tryCompare()
		if err == nil {
			return true
		}
		if errors.Is(err, ErrClosed) {
			return false
		}
		s.log(fmt.Errorf("compare prices: %w", err))
		select {
		case <-s.rp.quit:
			return false
		case <-time.After(5 * time.Second):
		}
	}
}

// tryCompare makes one attempt at the comparison compareOnce makes; nil when there is nothing to do.
func (s *Store) tryCompare() error {
	s.rp.mu.Lock()
	p, gen := s.rp.compare, s.rp.gen
	s.rp.mu.Unlock()
	if p == nil {
		return nil
	}
	err := s.w.submit(context.Background(), &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		s.rp.mu.Lock()
		still := s.rp.gen == gen
		s.rp.mu.Unlock()
		if !still { // new prices came first: they were compared when they were set
			return false, nil
		}
		return false, w.queueReprice(ctx, p, false)
	}})
	if err == nil {
		s.rp.mu.Lock()
		if s.rp.gen == gen {
			s.rp.compare = nil
		}
		s.rp.mu.Unlock()
	}
	return err
}

// SetPricer replaces the prices records are stored with from now on, and re-prices in the background
// the stored records of every model whose prices changed (by PriceKey; every model when p is no
// PriceKeyer). A re-price under way starts over with the new prices.
func (s *Store) SetPricer(ctx context.Context, p Pricer) error {
	s.dropCompare()
	_, keyed := p.(PriceKeyer)
	if err := s.w.submit(ctx, &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
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
		in := joinInts(stale[lo:min(lo+500, len(stale))])
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
		if !s.compareOnce() {
			return
		}
		for s.Repricing().Running() {
			if before != nil {
				before()
			}
			t0 := time.Now()
			var n int
			err := s.w.submit(context.Background(), &writeReq{keepsCache: true,
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
