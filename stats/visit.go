package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// visitFn receives the totals a piece holds for one name of one dimension: per bucket (raw rows: per
// second), or summed over the piece and reported at its start.
type visitFn func(d Dimension, bucket, key int64, t *Totals)

// visitOpts say what a visit reads.
type visitOpts struct {
	coarsest level      // the coarsest rollup level the plan may use
	sel      *selection // nil: every record
	dims     []Dimension
	// whole: the caller ignores buckets, so every piece is summed per name and reported at its start.
	whole bool
	// perBucket: pieces that lie inside one bucket of this level are summed too (0: never).
	perBucket level
	// metrics: the caller reads only total tokens, cost and requests, which the trend cache holds, and
	// of them only metric (and whether a name has records).
	metrics bool
	metric  Metric
	// byKeys: a selection of one dimension's names, read from that dimension's rollups (sel is then nil);
	// raw rows are still read by its combos.
	byKeys *selection
}

// visit calls fn with the totals of [lo, hi) that o.sel keeps, for each dimension in o.dims. SQLite
// sums wherever the bucket does not matter, so few rows cross into Go. Every piece is read in one read
// transaction: an edge read as its hour minus the rest of the hour (edges.go) must see one set of
// records in both.
func (s *Store) visit(ctx context.Context, lo, hi int64, o visitOpts, fn visitFn) error {
	if o.sel != nil && len(o.sel.combos) == 0 {
		return nil
	}
	if sel := o.sel; sel != nil && sel.only != 0 && len(o.dims) == 1 && o.dims[0] == sel.only {
		// One dimension filtered and asked: its own rollups answer, for the names kept.
		o.byKeys, o.sel = sel, nil
		keep := fn
		fn = func(d Dimension, bucket, key int64, t *Totals) {
			if sel.keys[key] {
				keep(d, bucket, key, t)
			}
		}
	}
	if o.metrics && o.sel == nil {
		// Load the trend cache before taking a connection: loading it takes one of its own.
		if err := s.loadCacheOnce(ctx); err != nil {
			return err
		}
	}
	v := &visitor{s: s, ctx: ctx, o: o, fn: fn, combos: map[int64]combo{}}
	if err := v.run(lo, hi); err != nil {
		return err
	}
	// Rows of combos the name cache did not know yet are named only now, with the transaction's
	// connection back in the pool.
	for i := range v.later {
		u := &v.later[i]
		c, err := s.comboOf(ctx, u.combo)
		if err != nil {
			return err
		}
		for _, d := range o.dims {
			fn(d, u.bucket, c.key(d), &u.t)
		}
	}
	return nil
}

// visitor reads one visit's pieces in one read transaction.
type visitor struct {
	s      *Store
	ctx    context.Context
	tx     *sql.Tx
	o      visitOpts
	fn     visitFn
	combos map[int64]combo
	later  []laterRow
	err    error // the first error of an estimate made while planning
}

// laterRow is a row of a combo the name cache did not know when it was read.
type laterRow struct {
	bucket, combo int64
	t             Totals
}

func (v *visitor) run(lo, hi int64) error {
	s, o := v.s, v.o
	s.minutes.mu.RLock()
	defer s.minutes.mu.RUnlock()
	tx, err := s.rdb.BeginTx(v.ctx, nil)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer tx.Rollback() // read only: nothing to keep
	v.tx = tx
	// A window that reaches past the last record ends, as far as records go, wherever its last bucket
	// of the coarsest level does, so it is read to there: the end edge, and the days and hours of the
	// current month or day, become that one bucket. (Not before the retention cutoff, where day
	// buckets hold records that are no longer raw rows.)
	until := hi
	if end := ceilBoundary(o.coarsest, hi, s.loc); end > hi && hi > s.minutes.retired {
		var id int64
		err := tx.QueryRowContext(v.ctx, `SELECT id FROM usage WHERE id >= ? LIMIT 1`, hi<<seqBits).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			hi = end
		case err != nil:
			return fmt.Errorf("read usage: %w", err)
		}
	}
	pieces := plan(lo, hi, o.coarsest, s.loc, &s.minutes, v.chooseEdge)
	if v.err != nil {
		return v.err
	}
	if hi > until && o.metrics && o.sel == nil {
		pieces = splitAt(pieces, until, s.loc)
	}
	for _, p := range pieces {
		grouped := o.whole || p.part
		if !grouped && o.perBucket > 0 && p.lvl < o.perBucket {
			_, end := span(o.perBucket, p.lo, s.loc)
			grouped = p.hi <= end
		}
		fn := v.fn
		if p.neg {
			fn = func(d Dimension, bucket, key int64, t *Totals) {
				n := t.negated()
				v.fn(d, bucket, key, &n)
			}
		}
		var err error
		if p.lvl == levelRaw || o.sel != nil {
			err = v.visitCombos(p, grouped, fn)
		} else {
			// The cache may already hold records the snapshot does not: none of them may count in a
			// piece that subtracts or that reaches past the window.
			cached := !p.part && p.hi <= until && o.metrics && (p.lvl == levelHour || p.lvl == levelDay) &&
				s.cacheReady(p.lvl, p.lo)
			for _, d := range o.dims {
				if err != nil {
					break
				}
				if cached {
					s.visitCached(p, d, grouped, fn)
				} else {
					err = v.visitRollup(p, d, grouped, fn)
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// splitAt splits the rollup piece that holds the bucket containing t there, so the buckets before it
// can still come from the trend cache.
func splitAt(ps []piece, t int64, loc *time.Location) []piece {
	for i, p := range ps {
		if p.lvl == levelRaw || p.part || p.hi <= t {
			continue
		}
		if b := floorBoundary(p.lvl, t, loc); p.lo < b {
			after := p
			after.lo, after.at = b, b
			p.hi = b
			return append(ps[:i:i], append([]piece{p, after}, ps[i+1:]...)...)
		}
	}
	return ps
}

// sumCols are the sums a grouped read takes, in Totals order.
const (
	rollupSumCols = `sum(requests), sum(input), sum(output), sum(cached), sum(reasoning), sum(cache_creation),
		sum(cost), sum(unpriced), sum(agent_cost), sum(agent_requests)`
	rawSumCols = `count(*), sum(input), sum(output), sum(cached), sum(reasoning), sum(cache_creation),
		coalesce(sum(cost), 0), count(*) - count(cost), coalesce(sum(agent_cost), 0), count(agent_cost)`
	rawRowCols = `1, input, output, cached, reasoning, cache_creation, coalesce(cost, 0), cost IS NULL,
		coalesce(agent_cost, 0), agent_cost IS NOT NULL`
)

// totalsScanner scans the ten sums into a Totals.
type totalsScanner struct {
	t           Totals
	cost, agent int64
	bucket, key int64
	dst         []any
}

func newTotalsScanner(withBucket bool) *totalsScanner {
	sc := &totalsScanner{}
	if withBucket {
		sc.dst = append(sc.dst, &sc.bucket)
	}
	t := &sc.t
	sc.dst = append(sc.dst, &sc.key, &t.Requests, &t.InputTokens, &t.OutputTokens, &t.CachedTokens,
		&t.ReasoningTokens, &t.CacheCreationTokens, &sc.cost, &t.Unpriced, &sc.agent, &t.AgentRequests)
	return sc
}

func (sc *totalsScanner) scan(rows *sql.Rows) error {
	if err := rows.Scan(sc.dst...); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	sc.t.Cost, sc.t.AgentCost = Money(sc.cost), Money(sc.agent)
	return nil
}

// visitRollup reads a piece of the per-dimension rollups.
func (v *visitor) visitRollup(p piece, d Dimension, grouped bool, fn visitFn) error {
	var q string
	if grouped {
		q = `SELECT key, ` + rollupSumCols + ` FROM rollup WHERE level = ? AND dim = ? AND bucket >= ? AND bucket < ? GROUP BY key`
	} else {
		q = `SELECT bucket, key, ` + rollupSums + ` FROM rollup WHERE level = ? AND dim = ? AND bucket >= ? AND bucket < ?`
	}
	return v.query(q, []any{int(p.lvl), int(d), p.lo, p.hi}, p, grouped, func(sc *totalsScanner) {
		fn(d, sc.bucket, sc.key, &sc.t)
	})
}

// query runs q in the visit's snapshot and calls row with each row scanned: (the bucket, when not
// grouped,) the key and the ten sums; a grouped row's bucket is the piece's report time.
func (v *visitor) query(q string, args []any, p piece, grouped bool, row func(*totalsScanner)) error {
	rows, err := v.tx.QueryContext(v.ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	sc := newTotalsScanner(!grouped)
	sc.bucket = p.at
	for rows.Next() {
		if err := sc.scan(rows); err != nil {
			return err
		}
		row(sc)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	return nil
}

// visitCombos reads a piece of raw rows or of the per-combo rollups, per combo, and reports each kept
// combo's totals under its name in every dimension asked. The sealed buckets of a rollup piece are read
// combo by combo from cube_sealed (a trend's whole days or months from their strips: strip.go), and the
// whole piece from cube, which holds the buckets not yet sealed
// and what has not yet been merged into the sealed ones (seal.go): little, so it is read by bucket range.
// Minute pieces name their buckets, so with few combos SQLite seeks each (bucket, combo) row instead of
// reading every combo of every bucket. Raw rows are read by time.
func (v *visitor) visitCombos(p piece, grouped bool, fn visitFn) error {
	sel, dims := v.o.sel, v.o.dims
	cols := `SELECT bucket, combo, ` + rollupSums
	if grouped {
		cols = `SELECT combo, ` + rollupSumCols
	}
	groupBy := ""
	if grouped {
		groupBy = ` GROUP BY combo`
	}
	if p.lvl == levelRaw {
		where := ` FROM usage WHERE id >= ? AND id < ?`
		if sel != nil {
			where += ` AND ` + sel.in
		} else if v.o.byKeys != nil {
			where += ` AND ` + v.o.byKeys.in
		}
		q := `SELECT id >> ` + strconv.Itoa(seqBits) + `, combo, ` + rawRowCols + where
		if grouped {
			q = `SELECT combo, ` + rawSumCols + where + groupBy
		}
		return v.readCombos(q, []any{p.lo << seqBits, p.hi << seqBits}, p, grouped, fn)
	}
	if p.lvl >= levelHour {
		if cut := v.s.minutes.sealed[p.lvl]; p.lo < cut {
			hi := min(p.hi, cut)
			var err error
			if !grouped && v.o.metrics && len(dims) == 1 {
				err = v.readStripped(p.lvl, p.lo, hi, fn)
			} else {
				q := cols + ` FROM cube_sealed WHERE level = ? AND ` + sel.in + ` AND bucket >= ? AND bucket < ?` + groupBy
				err = v.readCombos(q, []any{int(p.lvl), p.lo, hi}, p, grouped, fn)
			}
			if err != nil {
				return err
			}
		}
		// A bucket range: SQLite tests the combos on each row of the range.
		where := ` FROM cube WHERE level = ? AND bucket >= ? AND bucket < ? AND ` + sel.in
		return v.readCombos(cols+where+groupBy, []any{int(p.lvl), p.lo, p.hi}, p, grouped, fn)
	}
	buckets := bucketsOf(p.lvl, p.lo, p.hi, v.s.loc)
	if len(buckets) == 0 {
		return nil
	}
	where := ` FROM cube WHERE level = ? AND bucket IN (` + joinInts(buckets) + `) AND ` + sel.seekIn
	return v.readCombos(cols+where+groupBy, []any{int(p.lvl)}, p, grouped, fn)
}

// readTrend reads what a trend needs of sealed buckets [lo, hi) of level l: per bucket and combo the
// metric's value, the bucket and combo packed in one column. Each column of each row costs more to carry
// into Go than Go's summing per name does, and summing per bucket and name in SQLite sorts every row:
// one model's daily trend by account over a year (36,000 rows) took 60 ms that way, 20 ms this way.
// A sealed row always holds records, so the row is its own presence (Requests 1) unless the metric is
// requests.
func (v *visitor) readTrend(l level, lo, hi int64, fn visitFn) error {
	// The offset takes the high 32 bits, the combo (an id far below 2^32) the low ones; windows longer
	// than an offset holds are read in parts.
	const most = 1 << 31
	for ; hi-lo > most; lo += most {
		if err := v.readTrend(l, lo, lo+most, fn); err != nil {
			return err
		}
	}
	rows, err := v.tx.QueryContext(v.ctx, `SELECT (bucket - ?) << 32 | combo, `+v.o.metric.column()+
		` FROM cube_sealed WHERE level = ? AND `+v.o.sel.in+` AND bucket >= ? AND bucket < ?`, lo, int(l), lo, hi)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	var packed, val int64
	var t Totals // one for every row: fn does not keep it, and one per row would each go to the heap
	for rows.Next() {
		if err := rows.Scan(&packed, &val); err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		t = Totals{Requests: 1}
		switch v.o.metric {
		case MetricCost:
			t.Cost = Money(val)
		case MetricRequests:
			t.Requests = val
		default:
			t.InputTokens = val
		}
		v.emit(lo+packed>>32, packed&(1<<32-1), &t, false, fn)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	return nil
}

// readCombos runs a visitCombos query: rows of (bucket when not grouped,) combo and the ten sums.
func (v *visitor) readCombos(q string, args []any, p piece, grouped bool, fn visitFn) error {
	return v.query(q, args, p, grouped, func(sc *totalsScanner) { v.emit(sc.bucket, sc.key, &sc.t, p.neg, fn) })
}

// emit reports a combo's totals at bucket under its name in every dimension asked. A combo the name
// cache does not know yet needs a connection of its own to load: its rows wait until the visit's
// transaction is over (neg: fn subtracts, so they are kept subtracted).
func (v *visitor) emit(bucket, id int64, t *Totals, neg bool, fn visitFn) {
	c, ok := v.known(id)
	if !ok {
		u := *t
		if neg {
			u = u.negated()
		}
		v.later = append(v.later, laterRow{bucket, id, u})
		return
	}
	v.report(c, bucket, t, fn)
}

// report gives fn a known combo's totals at bucket under its name in every dimension asked.
func (v *visitor) report(c combo, bucket int64, t *Totals, fn visitFn) {
	for _, d := range v.o.dims {
		fn(d, bucket, c.key(d), t)
	}
}

// known returns the names of combo id when the name cache holds them.
func (v *visitor) known(id int64) (combo, bool) {
	c, ok := v.combos[id]
	if !ok {
		if c, ok = v.s.knownCombo(id); ok {
			v.combos[id] = c
		}
	}
	return c, ok
}
