package stats

import (
	"context"
	"database/sql"
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

// visit calls fn with the totals the pieces cover, per dimension key and bucket start (raw rows: their
// second). SQLite sums wherever the bucket does not matter, so few rows cross into Go: a piece is summed
// per key and reported at its start when whole is set (the caller ignores buckets) or when the piece
// lies inside one bucket of level perBucket (0: never). With tokensOnly only input+output is read, into
// InputTokens, for trends.
func (s *Store) visit(ctx context.Context, pieces []piece, dims []Dimension, whole bool, perBucket level,
	tokensOnly bool, fn func(dim Dimension, bucket, key int64, t Totals)) error {
	for _, p := range pieces {
		for _, d := range dims {
			grouped := whole
			if !grouped && p.lvl < perBucket {
				_, end := span(perBucket, p.lo, s.loc)
				grouped = p.hi <= end
			}
			if err := s.visitPiece(ctx, p, d, grouped, tokensOnly, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) visitPiece(ctx context.Context, p piece, d Dimension, grouped, tokensOnly bool,
	fn func(dim Dimension, bucket, key int64, t Totals)) error {
	if tokensOnly && p.lvl != 0 {
		ok, err := s.cacheCovers(ctx, p.lvl, p.lo)
		if err != nil {
			return err
		}
		if ok {
			s.visitCached(p, d, grouped, fn)
			return nil
		}
	}
	sums := `count(*), sum(input), sum(output), sum(cached), sum(reasoning), sum(cache_creation)`
	if tokensOnly {
		sums = `sum(input + output)`
	}
	var q string
	var args []any
	if p.lvl == 0 {
		col := "model"
		if d == ByAccount {
			col = "account"
		}
		if grouped {
			q = `SELECT ` + col + `, ` + sums + ` FROM usage WHERE id >= ? AND id < ? GROUP BY ` + col
		} else if tokensOnly {
			q = `SELECT id >> ` + fmt.Sprint(seqBits) + `, ` + col + `, input + output FROM usage WHERE id >= ? AND id < ?`
		} else {
			q = `SELECT id >> ` + fmt.Sprint(seqBits) + `, ` + col + `, 1, input, output, cached, reasoning,
				cache_creation FROM usage WHERE id >= ? AND id < ?`
		}
		args = []any{p.lo << seqBits, p.hi << seqBits}
	} else {
		args = []any{int(p.lvl), int(d), p.lo, p.hi}
		switch {
		case grouped && tokensOnly:
			q = `SELECT key, sum(input + output)`
		case grouped:
			q = `SELECT key, sum(requests), sum(input), sum(output), sum(cached), sum(reasoning), sum(cache_creation)`
		case tokensOnly:
			// One row per bucket with "key total key total …": far fewer rows to step through in Go.
			q = `SELECT bucket, group_concat(key || ' ' || (input + output), ' ')`
		default:
			q = `SELECT bucket, key, requests, input, output, cached, reasoning, cache_creation`
		}
		q += ` FROM rollup WHERE level = ? AND dim = ? AND bucket >= ? AND bucket < ?`
		if grouped {
			q += ` GROUP BY key`
		} else if tokensOnly {
			q += ` GROUP BY bucket`
			return s.visitPacked(ctx, q, args, d, fn)
		}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	b, k := p.lo, int64(0)
	var t Totals
	dst := make([]any, 0, 8)
	if !grouped {
		dst = append(dst, &b)
	}
	dst = append(dst, &k)
	if tokensOnly {
		dst = append(dst, &t.InputTokens)
	} else {
		dst = append(dst, &t.Requests, &t.InputTokens, &t.OutputTokens, &t.CachedTokens, &t.ReasoningTokens,
			&t.CacheCreationTokens)
	}
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		fn(d, b, k, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	return nil
}

// visitPacked reads rows of (bucket, "key total key total …").
func (s *Store) visitPacked(ctx context.Context, q string, args []any, d Dimension,
	fn func(dim Dimension, bucket, key int64, t Totals)) error {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	defer rows.Close()
	var b int64
	var packed sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&b, &packed); err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		var nums [2]int64
		n := 0
		for i := 0; i <= len(packed); i++ {
			if i == len(packed) || packed[i] == ' ' {
				if n == 1 {
					fn(d, b, nums[0], Totals{InputTokens: nums[1]})
				}
				n = 1 - n
				nums[n] = 0
				continue
			}
			nums[n] = nums[n]*10 + int64(packed[i]-'0')
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage: %w", err)
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
	err := s.visit(ctx, plan(lo, hi, levelMonth, s.loc), dims, true, 0, false, func(d Dimension, _, k int64, t Totals) {
		m := out[d]
		if cur := m[k]; cur != nil {
			cur.Add(t)
		} else {
			m[k] = &t
		}
	})
	return out, err
}

// QueryCounts are how many queries the store has answered since it opened, by kind: part of the
// process's own health (/metrics), and how tests see that a burst of records costs few refreshes.
type QueryCounts struct {
	Summaries, Breakdowns, Trends int64
}

// QueryCounts reports the queries answered so far.
func (s *Store) QueryCounts() QueryCounts {
	return QueryCounts{s.queries.summaries.Load(), s.queries.breakdowns.Load(), s.queries.trends.Load()}
}

// Summary totals the window: what the summary cards show.
func (s *Store) Summary(ctx context.Context, w Window) (Summary, error) {
	s.queries.summaries.Add(1)
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
	s.queries.breakdowns.Add(1)
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
	s.queries.trends.Add(1)
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
	// Sum into a dense table (period × key) first: one map operation per row would cost more than SQLite.
	type cell struct {
		sum int64
		set bool
	}
	col := map[int64]int{}
	var keys []int64
	cells := make([][]cell, len(tr.Periods))
	last, lastB := -1, int64(0)
	err := s.visit(ctx, plan(lo, hi, coarsest, s.loc), []Dimension{d}, false, lvl, true, func(_ Dimension, b, k int64, t Totals) {
		c, ok := col[k]
		if !ok {
			c = len(keys)
			col[k] = c
			keys = append(keys, k)
		}
		if last < 0 || b != lastB {
			last, lastB = find(b), b
		}
		row := cells[last]
		if len(row) <= c {
			row = append(row, make([]cell, c+1-len(row))...)
			cells[last] = row
		}
		row[c].sum += t.InputTokens // tokensOnly: input + output
		row[c].set = true
	})
	if err != nil {
		return tr, err
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		if names[i], err = s.name(ctx, k); err != nil {
			return tr, err
		}
	}
	for p, row := range cells {
		for c, v := range row {
			if v.set {
				tr.Periods[p].Values[names[c]] += v.sum
			}
		}
	}
	return tr, nil
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
