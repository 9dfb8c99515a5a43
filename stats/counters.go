package stats

import (
	"context"
	"fmt"
	"sort"
)

// OtherLabel names, in Counters, every name past the limits.
const OtherLabel = "other"

// Counter is one series of lifetime totals: every record ever stored under its model, account and
// source, those that clears removed included, so a counter never goes down (Prometheus reads a drop as
// a restart). Names are as reported, never an alias: renaming in the window must not move a series.
type Counter struct {
	Model, Account, Source string
	Totals
}

// Counters returns the lifetime totals by model, account and source, for /metrics. The label sets
// are bounded and never change meaning: of each kind, the first maxNames names the store ever saw keep
// their own value and later ones read OtherLabel; of the label sets that leaves, the first maxSeries
// seen keep their own series and later ones are summed into the one whose three labels are OtherLabel.
// "First" is by id (names and combos are never deleted, ids never reused), so a name or series never
// moves from one series to another, which would make one of them go down. Series come in the order
// they were first seen.
func (s *Store) Counters(ctx context.Context, maxNames, maxSeries int) ([]Counter, error) {
	keep := map[int64]string{0: ""} // name id → its label, for names within the limit; 0 is "none"
	for _, kind := range []int{kindModel, kindAccount, kindSource} {
		rows, err := s.rdb.QueryContext(ctx, `SELECT id, name FROM names WHERE kind = ? ORDER BY id LIMIT ?`, kind, maxNames)
		if err != nil {
			return nil, fmt.Errorf("read names: %w", err)
		}
		for rows.Next() {
			var id int64
			var n string
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read names: %w", err)
			}
			keep[id] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read names: %w", err)
		}
	}
	label := func(id int64) string {
		if n, ok := keep[id]; ok {
			return n
		}
		return OtherLabel
	}
	// Every record is in one month bucket of the cube, before the retention cutoff too; what clears
	// removed is in cleared.
	rows, err := s.rdb.QueryContext(ctx, `SELECT min(c.id), c.model, c.account, c.source, `+rollupSumCols+`
		FROM (SELECT combo, `+rollupSums+` FROM `+cubeLevel+` UNION ALL SELECT combo, `+rollupSums+` FROM cleared) t
		JOIN combos c ON c.id = t.combo GROUP BY c.model, c.account, c.source`, int(levelMonth), int(levelMonth))
	if err != nil {
		return nil, fmt.Errorf("read lifetime totals: %w", err)
	}
	defer rows.Close()
	type labels struct{ model, account, source string }
	type series struct {
		first int64
		Counter
	}
	byLabels := map[labels]*series{}
	sc := newTotalsScanner(false)
	var first, model, account, source int64
	sc.dst = append([]any{&first, &model, &account, &source}, sc.dst[1:]...)
	for rows.Next() {
		if err := sc.scan(rows); err != nil {
			return nil, err
		}
		l := labels{label(model), label(account), label(source)}
		if cur := byLabels[l]; cur != nil {
			cur.first = min(cur.first, first)
			cur.Add(sc.t)
		} else {
			byLabels[l] = &series{first, Counter{l.model, l.account, l.source, sc.t}}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read lifetime totals: %w", err)
	}
	all := make([]*series, 0, len(byLabels))
	for _, c := range byLabels {
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].first < all[j].first })
	var out []Counter
	var other *Counter
	for _, c := range all {
		switch {
		case len(out) < maxSeries && !(c.Model == OtherLabel && c.Account == OtherLabel && c.Source == OtherLabel):
			out = append(out, c.Counter)
		case other == nil:
			other = &Counter{Model: OtherLabel, Account: OtherLabel, Source: OtherLabel, Totals: c.Totals}
		default:
			other.Add(c.Totals)
		}
	}
	if other != nil {
		out = append(out, *other)
	}
	return out, nil
}
