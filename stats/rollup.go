package stats

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// rollupBuilder sums records into rollup buckets (per dimension, and per combo for the cube) and writes
// the sums with multi-row upserts. The writer uses one for each transaction of records; the rebuild
// after a zone change and a partial clear use one to re-aggregate raw rows. It never touches the record
// count: that is the writer's, once per transaction.
type rollupBuilder struct {
	loc *time.Location
	// fine holds the records added since the last write per combo and finest bucket (a minute, or an
	// hour whose minutes are not kept): one map update per record; write expands them into every level.
	fine    map[cubeKey]*Totals
	dims    map[dimKey]*Totals
	cube    map[cubeKey]*Totals
	last    [levelMonth + 1]struct{ start, end int64 } // the last bucket of each level: batches share them
	maxKeys int                                        // write out when the maps hold this many keys
	dimUp   multiStmt
	cubeUp  multiStmt
	args    []any
	// deltas, when not nil, collects the per-dimension hour and day changes for the trend cache.
	deltas *[]rollupDelta
}

type dimKey struct {
	lvl    level
	dim    Dimension
	bucket int64
	key    int64
}

type cubeKey struct {
	lvl    level
	combo  int64
	bucket int64
}

// maxBuilderKeys keeps a rebuild of years of data in bounded memory.
const maxBuilderKeys = 200000

const rollupSums = `requests, input, output, cached, reasoning, cache_creation, cost, unpriced, agent_cost, agent_requests`

const rollupAdd = `requests = requests + excluded.requests, input = input + excluded.input,
	output = output + excluded.output, cached = cached + excluded.cached,
	reasoning = reasoning + excluded.reasoning, cache_creation = cache_creation + excluded.cache_creation,
	cost = cost + excluded.cost, unpriced = unpriced + excluded.unpriced,
	agent_cost = agent_cost + excluded.agent_cost, agent_requests = agent_requests + excluded.agent_requests`

func newRollupBuilder(loc *time.Location) *rollupBuilder {
	b := &rollupBuilder{
		loc: loc, fine: map[cubeKey]*Totals{}, dims: map[dimKey]*Totals{}, cube: map[cubeKey]*Totals{},
		maxKeys: maxBuilderKeys,
		dimUp: multiStmt{head: `INSERT INTO rollup(level, dim, bucket, key, ` + rollupSums + `) VALUES `,
			group: "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", sep: ",",
			tail: ` ON CONFLICT(level, dim, bucket, key) DO UPDATE SET ` + rollupAdd},
		cubeUp: multiStmt{head: `INSERT INTO cube(level, bucket, combo, ` + rollupSums + `) VALUES `,
			group: "(?,?,?,?,?,?,?,?,?,?,?,?,?)", sep: ",",
			tail: ` ON CONFLICT(level, bucket, combo) DO UPDATE SET ` + rollupAdd},
	}
	b.reset()
	return b
}

func (b *rollupBuilder) reset() {
	clear(b.fine)
	clear(b.dims)
	clear(b.cube)
	for i := range b.last {
		b.last[i].start, b.last[i].end = 0, -1
	}
}

func (b *rollupBuilder) close() {
	b.dimUp.close()
	b.cubeUp.close()
}

func (b *rollupBuilder) bucket(l level, ts int64) int64 {
	c := &b.last[l]
	if ts < c.start || ts >= c.end {
		c.start, c.end = span(l, ts, b.loc)
	}
	return c.start
}

// add adds one record's totals at second ts, of combo comboID, to the rollups of every level from
// finest up, per dimension and per combo: minute when its hour keeps minutes, hour otherwise, day for a
// record older than the retention cutoff. It only notes them per finest bucket; write spreads them.
func (b *rollupBuilder) add(ts, comboID int64, t *Totals, finest level) {
	sumInto(b.fine, cubeKey{finest, comboID, b.bucket(finest, ts)}, t)
}

// spread adds what add noted to the rollups of every level, per dimension and per combo.
func (b *rollupBuilder) spread(combos func(int64) (combo, error)) error {
	for k, t := range b.fine {
		c, err := combos(k.combo)
		if err != nil {
			return err
		}
		for _, l := range rollupLevels {
			if l < k.lvl {
				continue
			}
			bk := b.bucket(l, k.bucket)
			for _, d := range allDims {
				sumInto(b.dims, dimKey{l, d, bk, c.key(d)}, t)
			}
			sumInto(b.cube, cubeKey{l, k.combo, bk}, t)
		}
	}
	clear(b.fine)
	return nil
}

func sumInto[K comparable](m map[K]*Totals, k K, t *Totals) {
	if cur := m[k]; cur != nil {
		cur.Add(*t)
	} else {
		tt := *t
		m[k] = &tt
	}
}

// full reports whether the builder should be written out before it grows further.
func (b *rollupBuilder) full() bool { return len(b.fine)+len(b.dims)+len(b.cube) >= b.maxKeys }

// write upserts every sum gathered so far and empties the builder; combos names what add noted.
func (b *rollupBuilder) write(ctx context.Context, conn *sql.Conn, combos func(int64) (combo, error)) error {
	if err := b.spread(combos); err != nil {
		return err
	}
	n := 0
	put := func(m *multiStmt) error {
		st, err := m.get(ctx, conn, n)
		if err == nil {
			_, err = st.ExecContext(ctx, b.args...)
		}
		clear(b.args)
		b.args, n = b.args[:0], 0
		if err != nil {
			return fmt.Errorf("update rollups: %w", err)
		}
		return nil
	}
	sums := func(t *Totals) {
		b.args = append(b.args, t.Requests, t.InputTokens, t.OutputTokens, t.CachedTokens, t.ReasoningTokens,
			t.CacheCreationTokens, int64(t.Cost), t.Unpriced, int64(t.AgentCost), t.AgentRequests)
	}
	for k, t := range b.dims {
		if b.deltas != nil && (k.lvl == levelHour || k.lvl == levelDay) {
			*b.deltas = append(*b.deltas, rollupDelta{k.lvl, k.dim, k.bucket, k.key, cacheCell{t.TotalTokens(), int64(t.Cost), t.Requests}})
		}
		b.args = append(b.args, int(k.lvl), int(k.dim), k.bucket, k.key)
		sums(t)
		if n++; n == chunk {
			if err := put(&b.dimUp); err != nil {
				return err
			}
		}
	}
	if n > 0 {
		if err := put(&b.dimUp); err != nil {
			return err
		}
	}
	for k, t := range b.cube {
		b.args = append(b.args, int(k.lvl), k.bucket, k.combo)
		sums(t)
		if n++; n == chunk {
			if err := put(&b.cubeUp); err != nil {
				return err
			}
		}
	}
	if n > 0 {
		if err := put(&b.cubeUp); err != nil {
			return err
		}
	}
	b.reset()
	return nil
}

// rawRow is one raw record as the rollups need it.
type rawRow struct {
	ts, combo int64
	t         Totals
}

const rawCols = `id >> 24, combo, input, output, cached, reasoning, cache_creation, cost, agent_cost`

// scanRaw reads the raw rows with timestamps in [lo, hi), oldest first, into fn.
func scanRaw(ctx context.Context, conn *sql.Conn, lo, hi int64, fn func(r *rawRow) error) error {
	rows, err := conn.QueryContext(ctx, `SELECT `+rawCols+` FROM usage WHERE id >= ? AND id < ? ORDER BY id`,
		lo<<seqBits, hi<<seqBits)
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	defer rows.Close()
	var r rawRow
	for rows.Next() {
		var cost, agent sql.NullInt64
		r.t = Totals{Requests: 1}
		if err := rows.Scan(&r.ts, &r.combo, &r.t.InputTokens, &r.t.OutputTokens, &r.t.CachedTokens,
			&r.t.ReasoningTokens, &r.t.CacheCreationTokens, &cost, &agent); err != nil {
			return fmt.Errorf("read records: %w", err)
		}
		if cost.Valid {
			r.t.Cost = Money(cost.Int64)
		} else {
			r.t.Unpriced = 1
		}
		if agent.Valid {
			r.t.AgentCost, r.t.AgentRequests = Money(agent.Int64), 1
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// aggregateRaw adds the raw rows with timestamps in [lo, hi) to the rollups of the given levels, per
// dimension and per combo; minute buckets only inside hours that keep them.
func (b *rollupBuilder) aggregateRaw(ctx context.Context, conn *sql.Conn, lo, hi int64, levels []level,
	combos func(int64) (combo, error), hasMinutes func(hour int64) bool) error {
	return scanRaw(ctx, conn, lo, hi, func(r *rawRow) error {
		c, err := combos(r.combo)
		if err != nil {
			return err
		}
		for _, l := range levels {
			if l == levelMinute && !hasMinutes(b.bucket(levelHour, r.ts)) {
				continue
			}
			bk := b.bucket(l, r.ts)
			for _, d := range allDims {
				sumInto(b.dims, dimKey{l, d, bk, c.key(d)}, &r.t)
			}
			sumInto(b.cube, cubeKey{l, r.combo, bk}, &r.t)
		}
		if b.full() {
			return b.write(ctx, conn, combos)
		}
		return nil
	})
}
