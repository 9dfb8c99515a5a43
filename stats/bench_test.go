package stats_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/stats/statstest"
)

// Benchmarks of the store. The query benchmarks run on generated data sets of 1M and 10M records over
// 365 days (50 accounts, 30 models), cached in $TOKENSTATS_BENCH_DIR (default: a folder in the OS temp
// dir) so reruns skip the generation. TOKENSTATS_BENCH_SIZES (default "1000000,10000000") picks sizes.

func benchDir() string {
	if d := os.Getenv("TOKENSTATS_BENCH_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "tokenstats-bench")
}

func benchSizes() []int {
	v := os.Getenv("TOKENSTATS_BENCH_SIZES")
	if v == "" {
		v = "1000000,10000000"
	}
	var out []int
	for _, f := range splitComma(v) {
		if n, err := strconv.Atoi(f); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// BenchmarkRecord measures Store.Record with batches of various sizes (records/s is the figure).
func BenchmarkRecord(b *testing.B) {
	for _, batch := range []int{1, 100, 1000, 10000} {
		for _, withID := range []bool{false, true} {
			b.Run(fmt.Sprintf("batch=%d/request_id=%v", batch, withID), func(b *testing.B) {
				// Records arrive in time order, 100 per second, as live traffic does; the store's clock
				// follows them, so they land in recent hours (minute rollups and their compaction included).
				base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
				var clock atomic.Int64
				clock.Store(base.Unix())
				st, _, err := stats.Open(filepath.Join(b.TempDir(), "b.db"), stats.Options{Location: time.UTC,
					Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				ctx := context.Background()
				recs := make([]stats.Record, batch)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					clock.Store(base.Unix() + int64((i+1)*batch/100))
					for j := range recs {
						n := i*batch + j
						recs[j] = stats.Record{Time: base.Add(time.Duration(n/100) * time.Second),
							Account: statstest.AccountName(n % 50), Model: statstest.ModelName(n % 30),
							InputTokens: int64(100 + n%1000), OutputTokens: int64(n % 500), IsAntigravity: true}
						if withID {
							recs[j].RequestID = "req-" + strconv.Itoa(n)
						}
					}
					if _, err := st.Record(ctx, recs...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkRecordConcurrent is 64 goroutines each storing one record per call: the writer groups them.
func BenchmarkRecordConcurrent(b *testing.B) {
	st, _, err := stats.Open(filepath.Join(b.TempDir(), "b.db"), stats.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var mu sync.Mutex
	n := 0
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			if _, err := st.Record(ctx, stats.Record{Time: time.Now(), Account: statstest.AccountName(k % 50),
				Model: statstest.ModelName(k % 30), InputTokens: 100, OutputTokens: 10, RequestID: "c-" + strconv.Itoa(k)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

var benchStores sync.Map // size → *benchStore

type benchStore struct {
	st   *stats.Store
	meta statstest.Meta
	path string
}

func openBenchStore(b *testing.B, n int) *benchStore {
	if v, ok := benchStores.Load(n); ok {
		return v.(*benchStore)
	}
	path, meta, err := statstest.Cached(context.Background(), benchDir(), n, 7*24*time.Hour, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	st, _, err := stats.Open(path, stats.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	bs := &benchStore{st: st, meta: meta, path: path}
	benchStores.Store(n, bs)
	return bs
}

// BenchmarkQuery runs every query the /stats/* routes make, at each data set size, with windows ending
// at the data set's last record (windows not aligned to hours, as "now" never is); then, on the largest
// set, the same with one account and with one model selected (issue 13), and on the largest set with
// 250,000 records in the current hour and in the hour each window starts in (issue 9's busy edges),
// with windows starting 11 minutes into that hour and half past it.
// Each reports its median besides Go's mean.
func BenchmarkQuery(b *testing.B) {
	sizes := benchSizes()
	for _, n := range sizes {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			bs := openBenchStore(b, n)
			if fi, err := os.Stat(bs.path); err == nil {
				b.Logf("file %s: %d bytes, %.1f bytes/record", bs.path, fi.Size(), float64(fi.Size())/float64(n))
			}
			benchViews(b, bs.st, bs.meta.End.Add(-17*time.Minute-23*time.Second), stats.Filter{})
		})
	}
	n := sizes[len(sizes)-1]
	for _, f := range []struct {
		name string
		f    stats.Filter
	}{{"account", stats.Filter{Accounts: []string{statstest.AccountName(7)}}},
		{"model", stats.Filter{Models: []string{statstest.ModelName(11)}}}} {
		b.Run(fmt.Sprintf("records=%d/filter=%s", n, f.name), func(b *testing.B) {
			bs := openBenchStore(b, n)
			benchViews(b, bs.st, bs.meta.End.Add(-17*time.Minute-23*time.Second), f.f)
		})
	}
	b.Run(fmt.Sprintf("records=%d+busy-edges", n), func(b *testing.B) {
		bs := openBusyStore(b, n)
		benchViews(b, bs.st, bs.meta.End, stats.Filter{})
	})
	// The same with windows that start half past their busy hour, where an edge costs the most: its two
	// readings, directly and as the hour minus the rest of it, read about as many rows (stats/edges.go).
	b.Run(fmt.Sprintf("records=%d+busy-edges-half-past", n), func(b *testing.B) {
		bs := openBusyStore(b, n)
		benchViews(b, bs.st, bs.meta.End.Truncate(time.Hour).Add(30*time.Minute+9*time.Second), stats.Filter{})
	})
}

// benchWindows are the windows every view is measured over: a day, a week, 30 and 90 days, a year.
var benchWindows = []int{24, 168, 720, 2160, 8760}

func benchViews(b *testing.B, st *stats.Store, end time.Time, f stats.Filter) {
	ctx := context.Background()
	for _, h := range benchWindows {
		w := stats.LastHours(end, h)
		b.Run(fmt.Sprintf("summary/hours=%d", h), func(b *testing.B) {
			timed(b, func() error { _, err := st.Summary(ctx, w, f); return err })
		})
		for _, d := range []stats.Dimension{stats.ByModel, stats.ByAccount, stats.BySource, stats.ByCredential} {
			b.Run(fmt.Sprintf("by-%s/hours=%d", d, h), func(b *testing.B) {
				timed(b, func() error { _, err := st.Breakdown(ctx, d, w, f); return err })
			})
		}
		for _, d := range []stats.Dimension{stats.ByModel, stats.ByAccount} {
			b.Run(fmt.Sprintf("trend-%s-daily/hours=%d", d, h), func(b *testing.B) {
				q := stats.TrendQuery{Dimension: d, Granularity: stats.Daily, End: end, Hours: h, Filter: f}
				timed(b, func() error { _, err := st.Trend(ctx, q); return err })
			})
			if h <= stats.MaxHourlyHours {
				b.Run(fmt.Sprintf("trend-%s-hourly/hours=%d", d, h), func(b *testing.B) {
					q := stats.TrendQuery{Dimension: d, Granularity: stats.Hourly, End: end, Hours: h, Filter: f}
					timed(b, func() error { _, err := st.Trend(ctx, q); return err })
				})
			}
		}
	}
	b.Run("db-info", func(b *testing.B) {
		timed(b, func() error { _, err := st.Info(ctx); return err })
	})
}

// timed runs op b.N times and reports the median besides Go's mean: the targets are medians. One
// untimed run comes first: the first query after opening a file loads the trend cache.
func timed(b *testing.B, op func() error) {
	if err := op(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	ds := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/1e6, "median-ms")
}

// busyRecords is how many records each busy hour holds: 250,000 (issue 9), or TOKENSTATS_BENCH_BUSY.
func busyRecords() int {
	if n, err := strconv.Atoi(os.Getenv("TOKENSTATS_BENCH_BUSY")); err == nil && n > 0 {
		return n
	}
	return 250000
}

// openBusyStore opens (generating once) the busy-edge data set of n records.
func openBusyStore(b *testing.B, n int) *benchStore {
	key := -n
	if v, ok := benchStores.Load(key); ok {
		return v.(*benchStore)
	}
	path, meta, err := statstest.CachedSpec(context.Background(), benchDir(), fmt.Sprintf("usage-%d-busy.db", n),
		7*24*time.Hour, time.UTC, func(end time.Time) statstest.Spec {
			return statstest.BusyEdge(n, end, busyRecords(), benchWindows...)
		})
	if err != nil {
		b.Fatal(err)
	}
	st, _, err := stats.Open(path, stats.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	bs := &benchStore{st: st, meta: meta, path: path}
	benchStores.Store(key, bs)
	return bs
}

// BenchmarkOpen is the start of a store on the large file: what stands between launch and /healthz.
func BenchmarkOpen(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			bs := openBenchStore(b, n)
			for i := 0; i < b.N; i++ {
				st, _, err := stats.Open(bs.path, stats.Options{Location: time.UTC})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
		})
	}
}

// TestChunkedWritesMatchRecords guards the write path's batching (multi-row statements, request ids
// checked per chunk, row ids that skip the lookup above the newest row): records that share seconds
// with stored rows, duplicates inside a chunk, across chunk edges, across requests of one group and
// across transactions must all be stored once, with totals that add up.
func TestChunkedWritesMatchRecords(t *testing.T) {
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "c.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(i int, id string) stats.Record {
		// 7 seconds only, so rows of later calls land in seconds already holding rows.
		return stats.Record{Time: end.Add(-time.Duration(i%7) * time.Second), Account: statstest.AccountName(i % 3),
			Model: statstest.ModelName(i % 5), InputTokens: int64(i + 1), OutputTokens: 1, RequestID: id}
	}
	var want stats.Totals
	seen := map[string]bool{}
	add := func(recs []stats.Record, wantDup int) {
		t.Helper()
		dup := 0
		for _, r := range recs {
			if r.RequestID != "" && seen[r.RequestID] {
				dup++
				continue
			}
			seen[r.RequestID] = r.RequestID != ""
			want.Add(stats.Totals{Requests: 1, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens})
		}
		if dup != wantDup {
			t.Fatalf("test bug: %d duplicates, expected %d", dup, wantDup)
		}
		res, err := st.Record(ctx, recs...)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != len(recs)-dup || res.Duplicates != dup {
			t.Fatalf("stored %+v, want %d accepted and %d duplicates", res, len(recs)-dup, dup)
		}
	}
	var batch []stats.Record
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("a-%d", i%150) // each id twice: in one chunk for some, 150 apart for others
		if i%10 == 0 {
			id = ""
		}
		batch = append(batch, mk(i, id))
	}
	add(batch, 150-15)
	add(batch[:70], 70-7) // all seen before
	var more []stats.Record
	for i := 0; i < 130; i++ {
		more = append(more, mk(i, fmt.Sprintf("b-%d", i)))
	}
	add(more, 0)
	// Many concurrent single records, some repeating ids: the writer groups them into one transaction.
	var wg sync.WaitGroup
	var mu sync.Mutex
	dups := 0
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := st.Record(ctx, mk(i, fmt.Sprintf("c-%d", i%32)))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			dups += res.Duplicates
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if dups != 32 {
		t.Errorf("%d concurrent duplicates, want 32", dups)
	}
	got, err := st.Summary(ctx, stats.LastHours(end, 1), stats.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// Of each concurrent pair either may win, so only requests and output tokens are known.
	if got.Requests != want.Requests+32 || got.OutputTokens != want.OutputTokens+32 {
		t.Errorf("summary %+v; want %d requests", got.Totals, want.Requests+32)
	}
	inf, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inf.Records != got.Requests {
		t.Errorf("info says %d records, summary %d", inf.Records, got.Requests)
	}
	// Raw rows (an unaligned window reads them) and rollups must agree.
	raw, err := st.Summary(ctx, stats.LastHours(end.Add(30*time.Minute), 2), stats.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if raw != got {
		t.Errorf("raw rows say %+v, rollups %+v", raw, got)
	}
}

// TestTrendCacheMatchesBruteForce drives trends answered from the in-memory trend cache (hour buckets
// of the last weeks, day buckets) through loads, later commits, a partial clear and a full clear,
// comparing every period with a brute-force sum of the records.
func TestTrendCacheMatchesBruteForce(t *testing.T) {
	for _, zone := range []string{"UTC", "Asia/Kathmandu", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Skip(err)
			}
			st, _, err := stats.Open(filepath.Join(t.TempDir(), "t.db"), stats.Options{Location: loc})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			now := time.Now()
			var all []stats.Record
			n := 0
			add := func(count int, spread time.Duration) {
				t.Helper()
				var recs []stats.Record
				for i := 0; i < count; i++ {
					n++
					at := now.Add(-time.Duration(int64(n)*7919%int64(spread/time.Second)) * time.Second)
					recs = append(recs, stats.Record{Time: at, Account: statstest.AccountName(n % 5), Model: statstest.ModelName(n % 4),
						InputTokens: int64(n%97 + 1), OutputTokens: int64(n % 13)})
				}
				if _, err := st.Record(ctx, recs...); err != nil {
					t.Fatal(err)
				}
				all = append(all, recs...)
			}
			check := func(phase string) {
				t.Helper()
				for _, c := range []struct {
					g     stats.Granularity
					hours int
				}{{stats.Hourly, 5}, {stats.Hourly, 49}, {stats.Hourly, 744}, {stats.Daily, 24}, {stats.Daily, 240}, {stats.Daily, 2400}} {
					for _, d := range []stats.Dimension{stats.ByModel, stats.ByAccount} {
						end := now.Add(-13 * time.Minute)
						tr, err := st.Trend(ctx, stats.TrendQuery{Dimension: d, Granularity: c.g, End: end, Hours: c.hours})
						if err != nil {
							t.Fatal(err)
						}
						w := stats.TrendWindow(c.g, end, c.hours)
						want := map[string]map[string]int64{}
						for _, r := range all {
							if !r.Time.After(w.From) || r.Time.After(w.To) {
								continue
							}
							lb := r.Time.In(loc).Format("2006-01-02")
							if c.g == stats.Hourly {
								lb = r.Time.In(loc).Format("2006-01-02 15:00")
							}
							name := r.Model
							if d == stats.ByAccount {
								name = r.Account
							}
							if want[lb] == nil {
								want[lb] = map[string]int64{}
							}
							want[lb][name] += r.InputTokens + r.OutputTokens
						}
						for _, p := range tr.Periods {
							for name, v := range p.Values {
								if want[p.Label][name] != v {
									t.Fatalf("%s: %v %s %d h: %s %s = %d, want %d", phase, c.g, d, c.hours, p.Label, name, v, want[p.Label][name])
								}
								delete(want[p.Label], name)
							}
							for name, v := range want[p.Label] {
								t.Fatalf("%s: %v %s %d h: %s %s missing (want %d)", phase, c.g, d, c.hours, p.Label, name, v)
							}
							delete(want, p.Label)
						}
						if len(want) > 0 {
							t.Fatalf("%s: periods missing: %v", phase, want)
						}
					}
				}
			}
			add(3000, 60*24*time.Hour)
			check("first load")
			add(500, 3*time.Hour) // applied to the loaded cache
			add(500, 50*24*time.Hour)
			check("after more commits")
			cut := now.Add(-100*time.Hour - 7*time.Minute)
			if _, err := st.Clear(ctx, &cut); err != nil {
				t.Fatal(err)
			}
			kept := all[:0]
			for _, r := range all {
				if r.Time.After(cut) {
					kept = append(kept, r)
				}
			}
			all = kept
			check("after a partial clear")
			add(300, 10*24*time.Hour)
			check("after a partial clear and more records")
			if _, err := st.Clear(ctx, nil); err != nil {
				t.Fatal(err)
			}
			all = nil
			add(200, 2*24*time.Hour)
			check("after clearing everything")
		})
	}
}
