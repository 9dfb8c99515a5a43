package stats

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// selection is what a filtered query keeps: the combos its filter matches. A nil *selection keeps
// everything and reads the per-dimension rollups; a selection reads the cube and raw rows.
type selection struct {
	combos []int64
	// sparse is set when the combos are few enough that reading their rows through the combo index beats
	// scanning the window's rows.
	sparse bool
	in     string // "combo IN (…)"
}

// selectionOf resolves a filter; nil for the zero filter.
func (s *Store) selectionOf(ctx context.Context, f Filter) (*selection, error) {
	if f.IsZero() {
		return nil, nil
	}
	combos, err := s.matching(ctx, f)
	if err != nil {
		return nil, err
	}
	sel := &selection{combos: combos}
	var total int
	if err := s.view(ctx, func(n *names) { total = len(n.combos) }); err != nil {
		return nil, err
	}
	sel.sparse = len(combos)*2 <= total
	var b strings.Builder
	b.WriteString("combo IN (")
	for i, c := range combos {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(c, 10)) // ids, not user text: nothing to escape
	}
	b.WriteString(")")
	sel.in = b.String()
	return sel, nil
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
	combos, err := s.knownCombos(ctx)
	if err != nil {
		return err
	}
	s.minutes.mu.RLock()
	defer s.minutes.mu.RUnlock()
	dims, sel := o.dims, o.sel
	for _, p := range plan(lo, hi, o.coarsest, sel != nil, s.loc, &s.minutes) {
		grouped := o.whole
		if !grouped && o.perBucket > 0 && p.lvl < o.perBucket {
			_, end := span(o.perBucket, p.lo, s.loc)
			grouped = p.hi <= end
		}
		var err error
		if p.lvl == levelRaw || p.cube {
			err = s.visitCombos(ctx, p, sel, dims, grouped, combos, fn)
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

// visitCombos reads a piece of raw rows or of the cube, per combo, and reports each combo's totals
// under its name in every dimension asked.
func (s *Store) visitCombos(ctx context.Context, p piece, sel *selection, dims []Dimension, grouped bool,
	combos map[int64]combo, fn visitFn) error {
	var q string
	var args []any
	if p.cube {
		args = []any{int(p.lvl), p.lo, p.hi}
		if grouped {
			q = `SELECT combo, ` + rollupSumCols + ` FROM cube WHERE level = ? AND ` + sel.in +
				` AND bucket >= ? AND bucket < ? GROUP BY combo`
		} else {
			q = `SELECT bucket, combo, ` + rollupSums + ` FROM cube WHERE level = ? AND ` + sel.in +
				` AND bucket >= ? AND bucket < ?`
		}
	} else {
		args = []any{p.lo << seqBits, p.hi << seqBits}
		from, where := ` FROM usage`, ` WHERE id >= ? AND id < ?`
		if sel != nil {
			where += ` AND ` + sel.in
			if sel.sparse {
				from = ` FROM usage INDEXED BY usage_combo`
			} else {
				from = ` FROM usage NOT INDEXED`
			}
		}
		if grouped {
			q = `SELECT combo, ` + rawSumCols + from + where + ` GROUP BY combo`
		} else {
			q = `SELECT id >> ` + strconv.Itoa(seqBits) + `, combo, ` + rawRowCols + from + where
		}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	sc := newTotalsScanner(!grouped)
	sc.bucket = p.lo
	// Rows of combos stored after the visit began wait until the cursor is closed: resolving them takes
	// the names lock and a connection, and a reader holding its cursor while it waits for them could
	// leave the pool empty for the one loading the names.
	type lateRow struct {
		bucket, key int64
		t           Totals
	}
	var late []lateRow
	for rows.Next() {
		if err := sc.scan(rows); err != nil {
			return err
		}
		c, ok := combos[sc.key]
		if !ok {
			late = append(late, lateRow{sc.bucket, sc.key, sc.t})
			continue
		}
		for _, d := range dims {
			fn(d, sc.bucket, c.key(d), &sc.t)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	rows.Close()
	for i := range late {
		r := &late[i]
		c, ok := combos[r.key]
		if !ok {
			var err error
			if c, err = s.comboOf(ctx, r.key); err != nil {
				return err
			}
			combos[r.key] = c
		}
		for _, d := range dims {
			fn(d, r.bucket, c.key(d), &r.t)
		}
	}
	return nil
}
