package stats_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats/statstest"
)

// BenchmarkSealedRows measures what bounds one model's daily trend by account over a year on the
// largest data set (docs/benchmarks.md, notes): its sealed day rows (100 combos × 365 days) counted,
// handed to Go as one packed column, summed per bucket inside SQLite, which sorts them, concatenated per
// combo, and read as the strips that hold them. The file is read through database/sql, as the store reads it.
func BenchmarkSealedRows(b *testing.B) {
	sizes := benchSizes()
	bs := openBenchStore(b, sizes[len(sizes)-1])
	db, err := sql.Open("sqlite", "file:"+bs.path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var combos string
	err = db.QueryRow(`SELECT group_concat(c.id) FROM combos c JOIN names n ON n.id = c.model WHERE n.name = ?`,
		statstest.ModelName(11)).Scan(&combos)
	if err != nil || combos == "" {
		b.Fatalf("combos of %s: %q, %v", statstest.ModelName(11), combos, err)
	}
	hi := bs.meta.End.Truncate(24 * time.Hour).Unix()
	lo := hi - 365*86400
	where := ` FROM cube_sealed WHERE level = 3 AND combo IN (` + combos + `) AND bucket >= ? AND bucket < ?`
	// rows reads q's rows of cols columns; no row is a broken benchmark.
	rows := func(cols int, q string, args ...any) func() error {
		return func() error {
			r, err := db.Query(q, args...)
			if err != nil {
				return err
			}
			defer r.Close()
			var a, c int64
			var blob []byte
			dst := []any{&a, &c, &blob}[:cols]
			n := 0
			for r.Next() {
				if err := r.Scan(dst...); err != nil {
					return err
				}
				n++
			}
			if n == 0 {
				b.Fatalf("no rows: %s", q)
			}
			return r.Err()
		}
	}
	b.Run("count", func(b *testing.B) { timed(b, rows(1, `SELECT count(*)`+where, lo, hi)) })
	b.Run("packed-column", func(b *testing.B) { timed(b, rows(1, `SELECT (bucket - ?) << 32 | combo`+where, lo, lo, hi)) })
	b.Run("summed-per-bucket", func(b *testing.B) {
		timed(b, rows(2, `SELECT bucket, sum(input + output)`+where+` GROUP BY bucket`, lo, hi))
	})
	// Fewer rows handed to Go, one per combo with its year as text: SQLite still steps through every row.
	b.Run("concat-per-combo", func(b *testing.B) {
		timed(b, rows(3, `SELECT combo, 0, group_concat((bucket - ?) / 86400 || ' ' || (input + output), ' ')`+where+
			` GROUP BY combo`, lo, lo, hi))
	})
	// The same year as strips (stats/strip.go): one row per combo and month.
	b.Run("strips", func(b *testing.B) {
		timed(b, rows(3, `SELECT combo, start, data FROM strips WHERE level = 3 AND combo IN (`+combos+
			`) AND start >= ? AND start < ?`, lo, hi))
	})
}
