package stats

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// trendCache keeps, in memory, the total tokens (input + output), cost and requests of every day bucket
// and of the hour buckets of the last weeks, per dimension and key: all an unfiltered trend reads from
// rollups. A year of daily
// trend by account is 18,000 rollup rows, a month of hourly 36,000; stepping through them in SQLite
// costs tens of milliseconds, summing them here well under one. It holds a few hundred KB for a year.
//
// It is loaded on the first trend and kept exact by the writer: each commit of records applies its
// rollup deltas while holding mu across COMMIT (so a load never sees a commit twice or misses it), and
// any other write (clear, rebuild) drops the cache, which is then loaded again when next needed.
type trendCache struct {
	mu       sync.RWMutex
	loaded   bool
	hourFrom int64 // hour buckets from here on are cached; older hourly trends read SQLite
	// series[0 hour, 1 day][dim-1]: buckets sorted by start.
	series [2][len(allDims)][]cachedBucket
}

type cachedBucket struct {
	start  int64
	keys   []int64
	totals []cacheCell
}

// cacheCell is what a trend can show of one name in one bucket.
type cacheCell struct{ tokens, cost, requests int64 }

func (c *cacheCell) add(o cacheCell) {
	c.tokens += o.tokens
	c.cost += o.cost
	c.requests += o.requests
}

// cacheHours is how far back, from the load, hour buckets are cached: a little over MaxHourlyHours.
const cacheHours = MaxHourlyHours + 48

type rollupDelta struct {
	lvl    level
	dim    Dimension
	bucket int64
	key    int64
	cell   cacheCell
}

func (c *trendCache) seriesOf(l level, d Dimension) *[]cachedBucket {
	i := 0
	if l == levelDay {
		i = 1
	}
	return &c.series[i][d-1]
}

// add adds cell to (bucket, key) of a series; mu must be held for writing.
func (c *trendCache) add(l level, d Dimension, bucket, key int64, cell cacheCell) {
	if l != levelHour && l != levelDay || (l == levelHour && bucket < c.hourFrom) {
		return
	}
	s := c.seriesOf(l, d)
	n := len(*s)
	i := n
	if n == 0 || (*s)[n-1].start < bucket {
		*s = append(*s, cachedBucket{start: bucket})
		i = n
	} else {
		i = sort.Search(n, func(j int) bool { return (*s)[j].start >= bucket })
		if i == n || (*s)[i].start != bucket {
			*s = append(*s, cachedBucket{})
			copy((*s)[i+1:], (*s)[i:])
			(*s)[i] = cachedBucket{start: bucket}
		}
	}
	b := &(*s)[i]
	for j, k := range b.keys {
		if k == key {
			b.totals[j].add(cell)
			return
		}
	}
	b.keys = append(b.keys, key)
	b.totals = append(b.totals, cell)
}

// loadCacheOnce loads the cache if it is not loaded; cacheReady says what it can answer.
func (s *Store) loadCacheOnce(ctx context.Context) error {
	c := &s.cache
	c.mu.RLock()
	loaded := c.loaded
	c.mu.RUnlock()
	if loaded {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded {
		return nil
	}
	return s.loadCache(ctx)
}

// cacheReady reports whether the cache is loaded and can answer level l from lo on; it never loads it.
func (s *Store) cacheReady(l level, lo int64) bool {
	c := &s.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.loaded && (l == levelDay || lo >= c.hourFrom)
}

// loadCache reads the rollups into the cache; mu is held for writing. One SELECT is one snapshot.
func (s *Store) loadCache(ctx context.Context) error {
	c := &s.cache
	c.series = [2][len(allDims)][]cachedBucket{}
	c.hourFrom = floorBoundary(levelHour, s.now().Unix()-cacheHours*3600, s.loc)
	rows, err := s.rdb.QueryContext(ctx, `SELECT level, dim, bucket, key, input + output, cost, requests FROM rollup
		WHERE level = ? OR (level = ? AND bucket >= ?)`, int(levelDay), int(levelHour), c.hourFrom)
	if err != nil {
		return fmt.Errorf("read rollups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l, d int
		var b, k int64
		var cell cacheCell
		if err := rows.Scan(&l, &d, &b, &k, &cell.tokens, &cell.cost, &cell.requests); err != nil {
			return fmt.Errorf("read rollups: %w", err)
		}
		c.add(level(l), Dimension(d), b, k, cell)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rollups: %w", err)
	}
	c.loaded = true
	return nil
}

// visitCached is visitPiece for a rollup piece of a trend, answered from the cache.
func (s *Store) visitCached(p piece, d Dimension, grouped bool, fn visitFn) {
	c := &s.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	ser := *c.seriesOf(p.lvl, d)
	i := sort.Search(len(ser), func(j int) bool { return ser[j].start >= p.lo })
	for ; i < len(ser) && ser[i].start < p.hi; i++ {
		b := &ser[i]
		at := b.start
		if grouped {
			at = p.at
		}
		for j, k := range b.keys {
			cell := &b.totals[j]
			fn(d, at, k, &Totals{InputTokens: cell.tokens, Cost: Money(cell.cost), Requests: cell.requests})
		}
	}
}

// The writer's side.

// commitWith runs commit holding the cache lock, then applies the transaction's deltas (or, for a
// write that is not records, drops the cache).
func (c *trendCache) commitWith(commit func() error, deltas []rollupDelta, invalidate bool) error {
	if c == nil {
		return commit()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := commit()
	if err != nil || !c.loaded {
		return err
	}
	if invalidate {
		c.loaded = false
		c.series = [2][len(allDims)][]cachedBucket{}
		return nil
	}
	for _, d := range deltas {
		c.add(d.lvl, d.dim, d.bucket, d.key, d.cell)
	}
	return nil
}
