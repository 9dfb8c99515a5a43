package stats

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

func checkWindow(w Window) error {
	if !w.From.Before(w.To) || w.To.Sub(w.From) > MaxHours*time.Hour {
		return fmt.Errorf("a window must be from 1 second to %d hours long, not %s", MaxHours, w.To.Sub(w.From))
	}
	return nil
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

// totalsBy sums a window by the given dimensions: dimension → shown name → totals. Names that share an
// alias are summed into one.
func (s *Store) totalsBy(ctx context.Context, w Window, f Filter, dims ...Dimension) (map[Dimension]map[string]*Totals, error) {
	if err := checkWindow(w); err != nil {
		return nil, err
	}
	sel, err := s.selectionOf(ctx, f)
	if err != nil {
		return nil, err
	}
	byKey := map[Dimension]map[int64]*Totals{}
	for _, d := range dims {
		byKey[d] = map[int64]*Totals{}
	}
	lo, hi := w.bounds()
	err = s.visit(ctx, lo, hi, visitOpts{coarsest: levelMonth, sel: sel, dims: dims, whole: true},
		func(d Dimension, _, k int64, t *Totals) { sumInto(byKey[d], k, t) })
	if err != nil {
		return nil, err
	}
	out := map[Dimension]map[string]*Totals{}
	for d, m := range byKey {
		out[d] = map[string]*Totals{}
		for k, t := range m {
			if *t == (Totals{}) {
				continue // only in an edge's hour and in the rest of it: none in the window
			}
			n, err := s.nameOf(ctx, k)
			if err != nil {
				return nil, err
			}
			sumInto(out[d], n, t)
		}
	}
	return out, nil
}

// Summary totals the window's records that the filter keeps: what the summary cards show.
func (s *Store) Summary(ctx context.Context, w Window, f Filter) (Summary, error) {
	s.queries.summaries.Add(1)
	by, err := s.totalsBy(ctx, w, f, ByModel, ByAccount)
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

// Breakdown totals the window's records that the filter keeps by model, account, source or credential,
// largest total first (ties by name).
func (s *Store) Breakdown(ctx context.Context, d Dimension, w Window, f Filter) ([]Row, error) {
	s.queries.breakdowns.Add(1)
	by, err := s.totalsBy(ctx, w, f, d)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(by[d]))
	for n, t := range by[d] {
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

// Trend gives the metric per period and per name of the query's dimension, over
// TrendWindow(q.Granularity, q.End, q.Hours). Hourly trends are limited to MaxHourlyHours.
func (s *Store) Trend(ctx context.Context, q TrendQuery) (Trend, error) {
	s.queries.trends.Add(1)
	g, d := q.Granularity, q.Dimension
	if g == 0 {
		g = Hourly
	}
	w := TrendWindow(g, q.End, q.Hours)
	if err := checkWindow(w); err != nil {
		return Trend{}, err
	}
	if g == Hourly && w.Hours() > MaxHourlyHours {
		return Trend{}, fmt.Errorf("hourly trends cover at most %d hours; ask for daily", MaxHourlyHours)
	}
	sel, err := s.selectionOf(ctx, q.Filter)
	if err != nil {
		return Trend{}, err
	}
	lvl := levelHour
	if g == Daily {
		lvl = levelDay
	}
	lo, hi := w.bounds()
	// The window's buckets, in order; buckets with one label (a clock hour that DST repeats) share a period.
	var starts []int64
	var idx []int
	tr := Trend{Granularity: g, Dimension: d, Metric: q.Metric}
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
	// find returns the period of the bucket holding ts: mostly the bucket after the last one found (a
	// strip or a combo's rows go through the buckets in order), else found by bisection.
	pos := -1
	find := func(ts int64) int {
		if n := pos + 1; pos >= 0 && n < len(starts) && starts[n] <= ts && (n+1 == len(starts) || ts < starts[n+1]) {
			pos = n
		} else {
			pos = max(sort.Search(len(starts), func(i int) bool { return starts[i] > ts })-1, 0)
		}
		return idx[pos]
	}
	// Sum into a dense table (period × key) first: one map operation per row would cost more than SQLite.
	// req counts the cell's records: an edge read as its hour minus the rest of it (edges.go) leaves
	// cells that net to none, which are not drawn.
	type cell struct {
		sum, req int64
	}
	col := map[int64]int{}
	var keys []int64
	cells := make([][]cell, len(tr.Periods))
	last, lastB := -1, int64(0)
	err = s.visit(ctx, lo, hi, visitOpts{coarsest: lvl, sel: sel, dims: []Dimension{d}, perBucket: lvl, metrics: true,
		metric: q.Metric},
		func(_ Dimension, b, k int64, t *Totals) {
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
			row[c].sum += q.Metric.of(t)
			row[c].req += t.Requests
		})
	if err != nil {
		return tr, err
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		if names[i], err = s.nameOf(ctx, k); err != nil {
			return tr, err
		}
	}
	for p, row := range cells {
		n := 0
		for _, v := range row {
			if v.req != 0 {
				n++
			}
		}
		// Sized once: growing 720 maps to 50 names each was a fifth of an hourly month's trend.
		vals := make(map[string]int64, n)
		for c, v := range row {
			if v.req != 0 {
				vals[names[c]] += v.sum
			}
		}
		tr.Periods[p].Values = vals
	}
	return tr, nil
}

// Info describes the database file.
type Info struct {
	Path      string
	SizeBytes int64 // the database file plus its write-ahead log
	Records   int64 // raw records stored (those before the retention cutoff are day totals only)
	// Cutoff is the retention cutoff: before it only day totals are kept. Zero when nothing was ever
	// retired.
	Cutoff time.Time
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
	inf.Cutoff = s.cutoff()
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
	return 0, fmt.Errorf("granularity must be hourly or daily, not %.20q", s)
}
