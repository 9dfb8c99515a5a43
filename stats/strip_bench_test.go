package stats_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/stats/statstest"
)

// BenchmarkStripCatchUp strips a copy of the largest data set from nothing, as the writer does after a
// file from before schema 6 is opened: one step every 5 s (sealAgain) until every span is stripped.
// total-s is the work of all steps, longest-step-ms the longest the writer was held by one (ingest
// waits behind it), steps how many there were (the writer runs one more of its own after the first).
func BenchmarkStripCatchUp(b *testing.B) {
	ctx := context.Background()
	sizes := benchSizes()
	cached, meta, err := statstest.Cached(ctx, benchDir(), sizes[len(sizes)-1], 7*24*time.Hour, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "strip.db")
		if err := statstest.CopyFile(cached, path); err != nil {
			b.Fatal(err)
		}
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			b.Fatal(err)
		}
		_, err = db.Exec(`DELETE FROM strips; UPDATE meta SET value = 0 WHERE key LIKE 'strips_%'`)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		// A fixed clock: the writer's own steps come every sealAgain of it, so only the one after the first.
		st, _, err := stats.Open(path, stats.Options{Location: time.UTC, Now: func() time.Time { return meta.End }})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0, steps, longest := time.Now(), 1, time.Duration(0)
		for behind := true; behind; steps++ {
			s0 := time.Now()
			if behind, err = st.StripStep(ctx); err != nil {
				b.Fatal(err)
			}
			longest = max(longest, time.Since(s0))
		}
		total := time.Since(t0)
		b.StopTimer()
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		var strips int64
		if db, err = sql.Open("sqlite", "file:"+path+"?mode=ro"); err != nil {
			b.Fatal(err)
		}
		err = db.QueryRow(`SELECT count(*) FROM strips`).Scan(&strips)
		db.Close()
		if err != nil || strips == 0 {
			b.Fatalf("%d strips after catching up: %v", strips, err)
		}
		b.ReportMetric(total.Seconds(), "total-s")
		b.ReportMetric(float64(longest)/1e6, "longest-step-ms")
		b.ReportMetric(float64(steps), "steps")
		b.ReportMetric(float64(strips), "strips")
		b.StartTimer()
	}
}
