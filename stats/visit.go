package stats

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// selection is what a filtered query keeps: the combos its filter matches. A nil *selection keeps
// everything and reads the per-dimension rollups; a selection reads the per-combo rollups and raw rows.
type selection struct {
	combos []int64
	in     string // "combo IN (…)"
	// dense is set when the combos are too many to seek one by one in every bucket: the buckets are
	// read whole and the combos picked in Go.
	dense bool
	keep  map[int64]bool
}

// maxSeekCombos is how many combos a filtered rollup read seeks bucket by bucket; past it a bucket's
// rows are read whole, which costs at most every combo's row of that bucket.
const maxSeekCombos = 64

// selectionOf resolves a filter; nil for the zero filter.
func (s *Store) selectionOf(ctx context.Context, f Filter) (*selection, error) {
	if f.IsZero() {
		return nil, nil
	}
	combos, err := s.matching(ctx, f)
	if err != nil {
		return nil, err
	}
	sel := &selection{combos: combos, dense: len(combos) > maxSeekCombos, keep: map[int64]bool{}}
	for _, c := range combos {
		sel.keep[c] = true
	}
	sel.in = "combo IN (" + joinInts(combos) + ")"
	return sel, nil
}

// joinInts writes ids for an IN list: numbers the store made, not user text, so nothing to escape.
func joinInts(v []int64) string {
	var b strings.Builder
	for i, n := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(n, 10))
	}
	return b.String()
}

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
	// metrics: the caller reads only total tokens, cost and requests, which the trend cache holds.
	metrics bool
}

// visit calls fn with the totals of [lo, hi) that o.sel keeps, for each dimension in o.dims. SQLite
// sums wherever the bucket does not matter, so few rows cross into Go.
func (s *Store) visit(ctx context.Context, lo, hi int64, o visitOpts, fn visitFn) error {
	if o.sel != nil && len(o.sel.combos) == 0 {
		return nil
	}
	s.minutes.mu.RLock()
	defer s.minutes.mu.RUnlock()
	combos := map[int64]combo{}
	dims, sel := o.dims, o.sel
	for _, p := range plan(lo, hi, o.coarsest, s.loc, &s.minutes) {
		grouped := o.whole
		if !grouped && o.perBucket > 0 && p.lvl < o.perBucket {
			_, end := span(o.perBucket, p.lo, s.loc)
			grouped = p.hi <= end
		}
		var err error
		if p.lvl == levelRaw || sel != nil {
			err = s.visitCombos(ctx, p, sel, dims, grouped, o.metrics, combos, fn)
		} else {
			cached := false
			if o.metrics && sel == nil && (p.lvl == levelHour || p.lvl == levelDay) {
				cached, err = s.cacheCovers(ctx, p.lvl, p.lo)
			}
			for _, d := range dims {
				if err != nil {
					break
				}
				if cached {
					s.visitCached(p, d, grouped, fn)
				} else {
					err = s.visitRollup(ctx, p, d, grouped, fn)
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
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
func (s *Store) visitRollup(ctx context.Context, p piece, d Dimension, grouped bool, fn visitFn) error {
	var q string
	if grouped {
		q = `SELECT key, ` + rollupSumCols + ` FROM rollup WHERE level = ? AND dim = ? AND bucket >= ? AND bucket < ? GROUP BY key`
	} else {
		q = `SELECT bucket, key, ` + rollupSums + ` FROM rollup WHERE level = ? AND dim = ? AND bucket >= ? AND bucket < ?`
	}
	rows, err := s.rdb.QueryContext(ctx, q, int(p.lvl), int(d), p.lo, p.hi)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	sc := newTotalsScanner(!grouped)
	sc.bucket = p.lo
	for rows.Next() {
		if err := sc.scan(rows); err != nil {
			return err
		}
		fn(d, sc.bucket, sc.key, &sc.t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	return nil
}

// visitCombos reads a piece of raw rows or of the per-combo rollups, per combo, and reports each kept
// combo's totals under its name in every dimension asked. The sealed buckets of a rollup piece are read
// combo by combo from cube_sealed, and the whole piece from cube, which holds the buckets not yet sealed
// and what has not yet been merged into the sealed ones (seal.go): little, so it is read by bucket range.
// Minute pieces name their buckets, so with few combos SQLite seeks each (bucket, combo) row instead of
// reading every combo of every bucket. Raw rows are read by time.
func (s *Store) visitCombos(ctx context.Context, p piece, sel *selection, dims []Dimension, grouped, metrics bool,
	combos map[int64]combo, fn visitFn) error {
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
		}
		q := `SELECT id >> ` + strconv.Itoa(seqBits) + `, combo, ` + rawRowCols + where
		if grouped {
			q = `SELECT combo, ` + rawSumCols + where + groupBy
		}
		return s.readCombos(ctx, q, []any{p.lo << seqBits, p.hi << seqBits}, p, sel, dims, grouped, combos, fn)
	}
	if p.lvl >= levelHour {
		if cut := s.minutes.sealed[p.lvl]; p.lo < cut {
			hi := min(p.hi, cut)
			var err error
			if !grouped && metrics && len(dims) == 1 {
				err = s.readTrend(ctx, p.lvl, p.lo, hi, sel, dims[0], fn)
			} else {
				q := cols + ` FROM cube_sealed WHERE level = ? AND ` + sel.in + ` AND bucket >= ? AND bucket < ?` + groupBy
				err = s.readCombos(ctx, q, []any{int(p.lvl), p.lo, hi}, p, nil, dims, grouped, combos, fn)
			}
			if err != nil {
				return err
			}
		}
		where := ` FROM cube WHERE level = ? AND bucket >= ? AND bucket < ?`
		if !sel.dense {
			where += ` AND ` + sel.in
		}
		return s.readCombos(ctx, cols+where+groupBy, []any{int(p.lvl), p.lo, p.hi}, p, sel, dims, grouped, combos, fn)
	}
	buckets := bucketsOf(p.lvl, p.lo, p.hi, s.loc)
	if len(buckets) == 0 {
		return nil
	}
	where := ` FROM cube WHERE level = ? AND bucket IN (` + joinInts(buckets) + `)`
	if !sel.dense {
		where += ` AND ` + sel.in
	}
	return s.readCombos(ctx, cols+where+groupBy, []any{int(p.lvl)}, p, sel, dims, grouped, combos, fn)
}

// readTrend reads what a trend needs of sealed buckets [lo, hi) of level l: per bucket and name of d,
// the requests, tokens and cost, summed by SQLite, so one row comes back per bucket and name rather than
// per bucket and combo. The tokens come as input tokens: Metric.of reads only their total.
func (s *Store) readTrend(ctx context.Context, l level, lo, hi int64, sel *selection, d Dimension, fn visitFn) error {
	col := `c.` + d.String()
	rows, err := s.rdb.QueryContext(ctx, `SELECT t.bucket, `+col+`, sum(t.requests), sum(t.input + t.output), sum(t.cost)
		FROM cube_sealed t JOIN combos c ON c.id = t.combo WHERE t.level = ? AND t.`+sel.in+`
		AND t.bucket >= ? AND t.bucket < ? GROUP BY t.bucket, `+col, int(l), lo, hi)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	var t Totals
	var bucket, key, cost int64
	for rows.Next() {
		if err := rows.Scan(&bucket, &key, &t.Requests, &t.InputTokens, &cost); err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		t.Cost = Money(cost)
		fn(d, bucket, key, &t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	return nil
}

// readCombos runs a visitCombos query: rows of (bucket when not grouped,) combo and the ten sums. A dense
// selection's combos are picked here.
func (s *Store) readCombos(ctx context.Context, q string, args []any, p piece, sel *selection, dims []Dimension,
	grouped bool, combos map[int64]combo, fn visitFn) error {
	// Combos that the caches do not know yet (stored after the query began) are looked up only after
	// the rows are closed: loading them needs a read connection, and this read holds one already.
	type later struct {
		bucket, combo int64
		t             Totals
	}
	var unknown []later
	err := func() error {
		rows, err := s.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		defer rows.Close()
		sc := newTotalsScanner(!grouped)
		sc.bucket = p.lo
		for rows.Next() {
			if err := sc.scan(rows); err != nil {
				return err
			}
			if sel != nil && sel.dense && !sel.keep[sc.key] {
				continue
			}
			c, ok := combos[sc.key]
			if !ok {
				if c, ok = s.knownCombo(sc.key); ok {
					combos[sc.key] = c
				} else {
					unknown = append(unknown, later{sc.bucket, sc.key, sc.t})
					continue
				}
			}
			for _, d := range dims {
				fn(d, sc.bucket, c.key(d), &sc.t)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		return nil
	}()
	if err != nil {
		return err
	}
	for i := range unknown {
		u := &unknown[i]
		c, err := s.comboOf(ctx, u.combo)
		if err != nil {
			return err
		}
		for _, d := range dims {
			fn(d, u.bucket, c.key(d), &u.t)
		}
	}
	return nil
}
