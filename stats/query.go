package stats

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// nameCache maps name ids to strings for readers. Ids are never reused, so entries never go stale.
type nameCache struct {
	mu    sync.RWMutex
	names map[int64]string
	max   int64
}

func (s *Store) name(ctx context.Context, id int64) (string, error) {
	c := &s.names
	c.mu.RLock()
	n, ok := c.names[id]
	c.mu.RUnlock()
	if ok {
		return n, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.names[id]; ok {
		return n, nil
	}
	if c.names == nil {
		c.names = map[int64]string{}
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name FROM names WHERE id > ?`, c.max)
	if err != nil {
		return "", fmt.Errorf("read names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var nm string
		if err := rows.Scan(&i, &nm); err != nil {
			return "", fmt.Errorf("read names: %w", err)
		}
		c.names[i] = nm
		c.max = max(c.max, i)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read names: %w", err)
	}
	if n, ok := c.names[id]; ok {
		return n, nil
	}
	return fmt.Sprintf("#%d", id), nil
}

// visit calls fn for the totals of every (bucket start, dimension key) the pieces cover. Raw rows are
// visited one by one with their own timestamp as bucket.
func (s *Store) visit(ctx context.Context, pieces []piece, dims []Dimension,
	fn func(dim Dimension, bucket, key int64, t Totals)) error {
	for _, p := range pieces {
		if p.lvl == 0 {
			if err := s.visitRaw(ctx, p, dims, fn); err != nil {
				return err
			}
			continue
		}
		for _, d := range dims {
			rows, err := s.rdb.QueryContext(ctx, `SELECT bucket, key, requests, input, output, cached, reasoning,
				cache_creation FROM rollup WHERE level = ? AND dim = ? AND bucket >= ? AND bucket < ?`,
				int(p.lvl), int(d), p.lo, p.hi)
			if err != nil {
				return fmt.Errorf("read rollups: %w", err)
			}
			for rows.Next() {
				var b, k int64
				var t Totals
				if err := rows.Scan(&b, &k, &t.Requests, &t.InputTokens, &t.OutputTokens, &t.CachedTokens,
					&t.ReasoningTokens, &t.CacheCreationTokens); err != nil {
					rows.Close()
					return fmt.Errorf("read rollups: %w", err)
				}
				fn(d, b, k, t)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return fmt.Errorf("read rollups: %w", err)
			}
		}
	}
	return nil
}

func (s *Store) visitRaw(ctx context.Context, p piece, dims []Dimension,
	fn func(dim Dimension, bucket, key int64, t Totals)) error {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, account, model, input, output, cached, reasoning,
		cache_creation FROM usage WHERE id >= ? AND id < ?`, p.lo<<seqBits, p.hi<<seqBits)
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
		for _, d := range dims {
			k := model
			if d == ByAccount {
				k = acc
			}
			fn(d, id>>seqBits, k, t)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	return nil
}

func checkWindow(w Window) error {
	if !w.From.Before(w.To) || w.To.Sub(w.From) > MaxHours*time.Hour {
		return fmt.Errorf("a window must be from 1 second to %d hours long, not %s", MaxHours, w.To.Sub(w.From))
	}
	return nil
}

// totalsBy sums a window by the given dimensions: dimension → name id → totals.
func (s *Store) totalsBy(ctx context.Context, w Window, dims ...Dimension) (map[Dimension]map[int64]*Totals, error) {
	if err := checkWindow(w); err != nil {
		return nil, err
	}
	out := map[Dimension]map[int64]*Totals{}
	for _, d := range dims {
		out[d] = map[int64]*Totals{}
	}
	lo, hi := w.bounds()
	err := s.visit(ctx, plan(lo, hi, levelDay, s.loc), dims, func(d Dimension, _, k int64, t Totals) {
		m := out[d]
		if cur := m[k]; cur != nil {
			cur.Add(t)
		} else {
			m[k] = &t
		}
	})
	return out, err
}

// Summary totals the window: what the summary cards show.
func (s *Store) Summary(ctx context.Context, w Window) (Summary, error) {
	by, err := s.totalsBy(ctx, w, ByModel, ByAccount)
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	for _, t := range by[ByModel] {
		sum.Add(*t)
	}
	sum.Models, sum.Accounts = len(by[ByModel]), len(by[ByAccount])
	return sum, nil
}

// Breakdown totals the window by model or account, largest total first (ties by name).
func (s *Store) Breakdown(ctx context.Context, d Dimension, w Window) ([]Row, error) {
	by, err := s.totalsBy(ctx, w, d)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(by[d]))
	for id, t := range by[d] {
		n, err := s.name(ctx, id)
		if err != nil {
			return nil, err
		}
		rows = append(rows, Row{Name: n, Totals: *t})
	}
	sort.Slice(rows, func(i, j int) bool {
		if a, b := rows[i].TotalTokens(), rows[j].TotalTokens(); a != b {
			return a > b
		}
		return rows[i].Name < rows[j].Name
	})
	return rows, nil
}

// Trend gives total tokens per period and per model or account. The window is TrendWindow(g, end, hours).
// Hourly trends are limited to MaxHourlyHours.
func (s *Store) Trend(ctx context.Context, d Dimension, g Granularity, end time.Time, hours int) (Trend, error) {
	w := TrendWindow(g, end, hours)
	if err := checkWindow(w); err != nil {
		return Trend{}, err
	}
	if g == Hourly && w.Hours() > MaxHourlyHours {
		return Trend{}, fmt.Errorf("hourly trends cover at most %d hours; ask for daily", MaxHourlyHours)
	}
	lvl, coarsest := levelHour, levelHour
	if g == Daily {
		lvl, coarsest = levelDay, levelDay
	}
	lo, hi := w.bounds()
	// The window's buckets, in order; buckets with one label (a clock hour that DST repeats) share a period.
	var starts []int64
	var idx []int
	tr := Trend{Granularity: g, Dimension: d}
	byLabel := map[string]int{}
	for b := lo; b < hi; {
		st, e := span(lvl, b, s.loc)
		lb := label(lvl, b, s.loc)
		i, ok := byLabel[lb]
		if !ok {
			i = len(tr.Periods)
			byLabel[lb] = i
			tr.Periods = append(tr.Periods, Period{Label: lb, Start: time.Unix(b, 0).In(s.loc), Values: map[string]int64{}})
		}
		starts = append(starts, max(st, lo))
		idx = append(idx, i)
		b = e
	}
	find := func(ts int64) int {
		i := sort.Search(len(starts), func(i int) bool { return starts[i] > ts })
		return idx[max(i-1, 0)]
	}
	ids := map[int64]string{}
	var ferr error
	err := s.visit(ctx, plan(lo, hi, coarsest, s.loc), []Dimension{d}, func(_ Dimension, b, k int64, t Totals) {
		n, ok := ids[k]
		if !ok {
			var err error
			if n, err = s.name(ctx, k); err != nil {
				ferr = err
			}
			ids[k] = n
		}
		tr.Periods[find(b)].Values[n] += t.TotalTokens()
	})
	if err == nil {
		err = ferr
	}
	return tr, err
}

// Info describes the database file.
type Info struct {
	Path      string
	SizeBytes int64 // the database file plus its write-ahead log
	Records   int64
}

// Info reports the file size and the number of stored records.
func (s *Store) Info(ctx context.Context) (Info, error) {
	inf := Info{Path: s.path}
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(s.path + suffix); err == nil {
			inf.SizeBytes += st.Size()
		} else if suffix == "" {
			return inf, fmt.Errorf("stat database: %w", err)
		}
	}
	if err := s.rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'records'`).Scan(&inf.Records); err != nil {
		return inf, fmt.Errorf("count records: %w", err)
	}
	return inf, nil
}

// ParseGranularity reads "hourly" or "daily".
func ParseGranularity(s string) (Granularity, error) {
	switch strings.ToLower(s) {
	case "", "hourly":
		return Hourly, nil
	case "daily":
		return Daily, nil
	}
	return 0, fmt.Errorf("granularity must be hourly or daily, not %q", s)
}
