package ui

import (
	"fmt"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/tokenstats/tokenstats/stats"
)

// BenchmarkRefresh measures one full refresh (cards, the four tables, the trend query and a 1000×400 chart
// at scale 2) over 50,000 records spread across a year, for each range.
func BenchmarkRefresh(b *testing.B) {
	st, _, err := stats.Open(b.TempDir()+"/s.db", stats.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	batch := make([]stats.Record, 0, 1000)
	for i := range 50_000 {
		batch = append(batch, stats.Record{Time: now.Add(-time.Duration(i) * 631 * time.Second),
			Account: fmt.Sprintf("user%d@example.com", i%37), Model: fmt.Sprintf("model-%d", i%23),
			InputTokens: int64(1000 + i%5000), OutputTokens: int64(100 + i%700)})
		if len(batch) == cap(batch) {
			if _, err := st.Record(b.Context(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	a := test.NewTempApp(b)
	d := NewDashboard(a, Deps{Store: st})
	defer d.Close()
	for _, r := range ranges {
		b.Run("load/"+r.Label, func(b *testing.B) {
			for b.Loop() {
				if s := d.load(view{end: now, hours: r.Hours, filters: filterSet{}}); s.err != nil {
					b.Fatal(s.err)
				}
			}
		})
		b.Run("chart/"+r.Label, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := d.drawChart(view{end: now, hours: r.Hours, dim: stats.ByModel, filters: filterSet{}}, fyne.NewSize(1000, 400), 2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
