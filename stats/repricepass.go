package stats

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// repricePass goes once through the records, oldest first, re-pricing those of the queued models. In
// time order every transaction touches a few neighbouring rollup buckets, so the pages it writes stay
// few; a model's records scattered over a year, taken model by model, would rewrite most of the rollups
// for every chunk.
type repricePass struct {
	names  map[int64]string // model name id → name, of the queued models
	models map[int64]int64  // combo id → its model's name id, for the combos of the queued models
	in     string           // "combo IN (…)" when the combos are few enough to read through the index
	next   int64            // the first row id not yet checked
	end    int64            // one past the last row id when the pass began; later rows were priced as stored
	window int64            // seconds of records the next chunk reads, adapted to hold about a chunk
}

// startPass prepares a pass over the records for the queued models.
func (w *writer) startPass(ctx context.Context) (*repricePass, error) {
	ps := &repricePass{names: map[int64]string{}, models: map[int64]int64{}, window: 3600}
	list := joinInts(w.rp.queue)
	rows, err := w.conn.QueryContext(ctx, `SELECT id, name FROM names WHERE id IN (`+list+`)`)
	if err != nil {
		return nil, fmt.Errorf("read models to re-price: %w", err)
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read models to re-price: %w", err)
		}
		ps.names[id] = name
	}
	rows.Close()
	if rows, err = w.conn.QueryContext(ctx, `SELECT id, model FROM combos WHERE model IN (`+list+`)`); err != nil {
		return nil, fmt.Errorf("read combos to re-price: %w", err)
	}
	var combos []int64
	for rows.Next() {
		var id, model int64
		if err := rows.Scan(&id, &model); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read combos to re-price: %w", err)
		}
		ps.models[id] = model
		combos = append(combos, id)
	}
	rows.Close()
	var all int
	if err := w.conn.QueryRowContext(ctx, `SELECT count(*) FROM combos`).Scan(&all); err != nil {
		return nil, fmt.Errorf("count combos: %w", err)
	}
	if len(combos)*2 <= all { // as for a filtered query (visit.go): few combos read through the index
		ps.in = "combo IN (" + joinInts(combos) + ")"
	}
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id) + 1, 0) FROM usage`).
		Scan(&ps.next, &ps.end); err != nil {
		return nil, fmt.Errorf("find records to re-price: %w", err)
	}
	return ps, nil
}

// repriceStep re-prices the next window of records in the open transaction: rows of the queued models
// whose cost changes are updated and their deltas added to the rollups. When the pass is through, the
// models' keys are stored and the queue empties.
func (w *writer) repriceStep(ctx context.Context, chunk int) (int, error) {
	rp := &w.rp
	if len(rp.queue) == 0 {
		return 0, nil
	}
	var ps repricePass
	if rp.pass != nil {
		ps = *rp.pass
	} else {
		p, err := w.startPass(ctx)
		if err != nil {
			return 0, err
		}
		ps = *p
	}
	var checked int64
	if ps.next < ps.end {
		hi := min(ps.next+ps.window<<seqBits, ps.end)
		n, last, full, err := w.repriceRows(ctx, &ps, hi, chunk)
		if err != nil {
			return 0, err
		}
		checked = int64(n)
		ps.next = hi
		if full { // a burst of records: go on from the last one read, in a narrower window
			ps.next = last + 1
		}
		switch {
		case full || n > 2*chunk:
			ps.window = max(1, ps.window/2)
		case n < chunk/2 && ps.window < 1<<35: // 1<<35 s of ids stays far inside int64
			ps.window *= 2
		}
	}
	finished := ps.next >= ps.end
	if finished {
		for id, name := range ps.names {
			if _, err := w.conn.ExecContext(ctx, `INSERT OR REPLACE INTO price_keys(model, key) VALUES (?, ?)`,
				id, keyOf(w.s.pricer, name)); err != nil {
				return 0, fmt.Errorf("store price key: %w", err)
			}
		}
	}
	w.onCommit = append(w.onCommit, func() {
		if finished {
			for _, m := range rp.queue {
				w.ins.keyed[m] = true
			}
			rp.queue, rp.pass = nil, nil
			clear(rp.pending)
		} else {
			rp.pass = &ps
		}
		w.s.rp.mu.Lock()
		now := &w.s.rp.now
		now.Models, now.Done = len(rp.queue), now.Done+checked
		now.Total = max(now.Total, now.Done) // records stored meanwhile are checked too
		if now.Models == 0 {
			now.Done = now.Total // and records cleared meanwhile are not waited for
		}
		w.s.rp.mu.Unlock()
	})
	return int(checked), nil
}

// repriceRows re-prices the rows of the pass's combos in [ps.next, hi), oldest first, reading at most
// 4 × chunk rows. It returns how many rows of the re-priced models it checked, the last row id read, and
// whether it stopped at the limit.
func (w *writer) repriceRows(ctx context.Context, ps *repricePass, hi int64, chunk int) (int, int64, bool, error) {
	q := `SELECT id, combo, input, output, cached, reasoning, cache_creation, cost FROM usage`
	if ps.in != "" {
		q += ` WHERE ` + ps.in + ` AND`
	} else {
		q += ` WHERE`
	}
	limit := 4 * chunk
	rows, err := w.conn.QueryContext(ctx, q+` id >= ? AND id < ? ORDER BY id LIMIT ?`, ps.next, hi, limit)
	if err != nil {
		return 0, 0, false, fmt.Errorf("read records to re-price: %w", err)
	}
	var read []repricedRow
	var last int64
	scanned := 0
	for rows.Next() {
		var r repricedRow
		if err := rows.Scan(&r.id, &r.combo, &r.input, &r.output, &r.cached, &r.reasoning, &r.cacheCrea, &r.cost); err != nil {
			rows.Close()
			return 0, 0, false, fmt.Errorf("read records to re-price: %w", err)
		}
		scanned, last = scanned+1, r.id
		if _, ok := ps.models[r.combo]; ok {
			read = append(read, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, false, fmt.Errorf("read records to re-price: %w", err)
	}
	return len(read), last, scanned == limit, w.reprice(ctx, ps, read)
}

// repricedRow is a raw row as re-pricing reads it.
type repricedRow struct {
	id, combo                                   int64
	input, output, cached, reasoning, cacheCrea int64
	cost                                        sql.NullInt64
}

// reprice prices rows again; those whose cost changes are updated and their deltas added to every
// rollup (per dimension, per combo, and the trend cache through the writer's deltas).
func (w *writer) reprice(ctx context.Context, ps *repricePass, rows []repricedRow) error {
	var args []any
	var ids []byte // the ids again, as a JSON array
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		st, err := w.rp.upd.get(ctx, w.conn, n)
		if err == nil {
			_, err = st.ExecContext(ctx, append(args, string(append(ids, ']')))...)
		}
		clear(args)
		args, ids, n = args[:0], ids[:0], 0
		if err != nil {
			return fmt.Errorf("update costs: %w", err)
		}
		return nil
	}
	for i := range rows {
		r := &rows[i]
		rec := Record{Model: ps.names[ps.models[r.combo]], InputTokens: r.input, OutputTokens: r.output,
			CachedTokens: r.cached, ReasoningTokens: r.reasoning, CacheCreationTokens: r.cacheCrea}
		var cost Money
		priced := false
		if w.s.pricer != nil {
			cost, priced = w.s.pricer.Price(&rec)
		}
		if priced == r.cost.Valid && (!priced || int64(cost) == r.cost.Int64) {
			continue
		}
		var delta Totals
		var arg any
		if priced {
			delta.Cost, arg = cost, int64(cost)
		} else {
			delta.Unpriced = 1
		}
		if r.cost.Valid {
			delta.Cost -= Money(r.cost.Int64)
		} else {
			delta.Unpriced--
		}
		ts := r.id >> seqBits
		finest := levelHour
		if w.s.minutes.has(floorBoundary(levelHour, ts, w.s.loc)) {
			finest = levelMinute
		}
		w.rb.add(ts, r.combo, &delta, finest)
		args = append(args, r.id, arg)
		if n == 0 {
			ids = append(ids, '[')
		} else {
			ids = append(ids, ',')
		}
		ids = strconv.AppendInt(ids, r.id, 10)
		if n++; n == chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
