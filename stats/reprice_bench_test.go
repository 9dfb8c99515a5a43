package stats_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/stats/statstest"
)

// benchPricer prices every model at k nano-dollars per input token and k+1 per output token; its price
// key is k, so replacing it with another k re-prices every record.
type benchPricer int64

func (p benchPricer) Price(r *stats.Record) (stats.Money, bool) {
	return stats.Money(int64(p)*r.InputTokens + int64(p+1)*r.OutputTokens), true
}

func (p benchPricer) PriceKey(string) string { return strconv.FormatInt(int64(p), 10) }

// BenchmarkReprice re-prices every record of the data sets (1M and 10M records by default): a copy of
// the cached file (stored without prices) is opened, then each operation sets prices that differ for
// every model from the last ones and waits until the background re-pricing has checked every record. Meanwhile a probe asks a 24-hour summary and stores one record every 20 ms,
// as the window and ingest would: query-max-ms and record-max-ms are the longest either waited, the
// p99 figures their 99th percentiles.
func BenchmarkReprice(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			cached, meta, err := statstest.Cached(ctx, benchDir(), n, 7*24*time.Hour, time.UTC)
			if err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(b.TempDir(), "reprice.db")
			if err := statstest.CopyFile(cached, path); err != nil {
				b.Fatal(err)
			}
			st, _, err := stats.Open(path, stats.Options{Location: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var queries, records []time.Duration
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					t0 := time.Now()
					if _, err := st.Summary(ctx, stats.LastHours(meta.End, 24), stats.Filter{}); err != nil {
						b.Error(err)
						return
					}
					t1 := time.Now()
					if _, err := st.Record(ctx, stats.Record{Time: t1, Account: "probe@example.com",
						Model: statstest.ModelName(i % meta.Models), InputTokens: 100, OutputTokens: 10}); err != nil {
						b.Error(err)
						return
					}
					queries, records = append(queries, t1.Sub(t0)), append(records, time.Since(t1))
				}
			}()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := st.SetPricer(ctx, benchPricer(1+i%2)); err != nil {
					b.Fatal(err)
				}
				waitRepriced(b, st)
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "records/s")
			for _, m := range []struct {
				name string
				d    []time.Duration
			}{{"query", queries}, {"record", records}} {
				if len(m.d) == 0 {
					continue
				}
				slices.Sort(m.d)
				b.ReportMetric(float64(m.d[len(m.d)*99/100])/1e6, m.name+"-p99-ms")
				b.ReportMetric(float64(m.d[len(m.d)-1])/1e6, m.name+"-max-ms")
			}
		})
	}
}

func waitRepriced(b *testing.B, st *stats.Store) {
	for st.Repricing().Running() {
		time.Sleep(10 * time.Millisecond)
	}
}
