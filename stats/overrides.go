package stats

import (
	"context"
	"database/sql"
	"fmt"
)

// PriceBuilder makes the Pricer from the price overrides a store holds: the store calls it at open, when
// an override is set or removed, and from SetPrices, and re-prices what the new Pricer prices otherwise.
// Package pricing builds one for a price snapshot.
type PriceBuilder func(overrides []PriceOverride) (Pricer, error)

// PriceOverride is a user's price for one model, kept in the store so it survives restarts and
// applies to exactly the model name it is given for. Prices are Money per million tokens (a
// nano-dollar per million tokens is a femto-dollar per token, the unit of package pricing); a nil cache
// price means the input price. The store's PriceBuilder applies them.
type PriceOverride struct {
	Model                 string
	Input, Output         Money
	CacheRead, CacheWrite *Money
}

// PriceOverrides lists the overrides by model name.
func (s *Store) PriceOverrides(ctx context.Context) ([]PriceOverride, error) {
	return readOverrides(ctx, s.rdb)
}

// querier is what reads both through the readers' pool and inside the writer's transaction.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func readOverrides(ctx context.Context, db querier) ([]PriceOverride, error) {
	rows, err := db.QueryContext(ctx, `SELECT model, input, output, cache_read, cache_write FROM price_overrides
		ORDER BY model`)
	if err != nil {
		return nil, fmt.Errorf("read price overrides: %w", err)
	}
	defer rows.Close()
	var out []PriceOverride
	for rows.Next() {
		var o PriceOverride
		var cr, cw sql.NullInt64
		if err := rows.Scan(&o.Model, &o.Input, &o.Output, &cr, &cw); err != nil {
			return nil, fmt.Errorf("read price overrides: %w", err)
		}
		if cr.Valid {
			m := Money(cr.Int64)
			o.CacheRead = &m
		}
		if cw.Valid {
			m := Money(cw.Int64)
			o.CacheWrite = &m
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// SetPriceOverride stores (or replaces) the override for o.Model and, with a PriceBuilder, prices with
// it from then on: the model's stored records are re-priced in the background. A builder that refuses
// the overrides refuses the change.
func (s *Store) SetPriceOverride(ctx context.Context, o PriceOverride) error {
	if msg := checkString(o.Model, MaxModelLen, true); msg != "" {
		return &FieldError{Index: -1, Field: "model", Msg: msg}
	}
	for _, p := range []struct {
		field string
		m     *Money
	}{{"input_per_mtok", &o.Input}, {"output_per_mtok", &o.Output}, {"cache_read_per_mtok", o.CacheRead},
		{"cache_write_per_mtok", o.CacheWrite}} {
		if p.m != nil && (*p.m < 0 || *p.m > maxMoneyUSD*NanosPerUSD) {
			return &FieldError{Index: -1, Field: p.field, Msg: fmt.Sprintf("must be from 0 to %d USD", maxMoneyUSD)}
		}
	}
	nullable := func(m *Money) any {
		if m == nil {
			return nil
		}
		return int64(*m)
	}
	err := s.w.submit(ctx, &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		_, err := w.conn.ExecContext(ctx, `INSERT OR REPLACE INTO price_overrides(model, input, output, cache_read,
			cache_write) VALUES (?, ?, ?, ?, ?)`, o.Model, int64(o.Input), int64(o.Output), nullable(o.CacheRead),
			nullable(o.CacheWrite))
		if err != nil {
			return false, err
		}
		return true, w.rebuildPrices(ctx, w.build)
	}})
	if err != nil {
		return fmt.Errorf("store price override: %w", err)
	}
	s.wakeRepricer()
	return nil
}

// DeletePriceOverride removes the override of a model; false when it had none.
func (s *Store) DeletePriceOverride(ctx context.Context, model string) (bool, error) {
	found := false
	err := s.w.submit(ctx, &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		res, err := w.conn.ExecContext(ctx, `DELETE FROM price_overrides WHERE model = ?`, model)
		if err != nil {
			return false, err
		}
		n, _ := res.RowsAffected()
		if found = n > 0; !found {
			return false, nil
		}
		return true, w.rebuildPrices(ctx, w.build)
	}})
	if err != nil {
		return false, fmt.Errorf("delete price override: %w", err)
	}
	s.wakeRepricer()
	return found, nil
}

// SetPrices makes b the store's PriceBuilder (a newer price snapshot) and prices with what it builds
// from the overrides from now on; the records of every model whose prices changed are re-priced in the
// background.
func (s *Store) SetPrices(ctx context.Context, b PriceBuilder) error {
	if b == nil {
		return fmt.Errorf("set prices: no price builder")
	}
	err := s.w.submit(ctx, &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		w.onCommit = append(w.onCommit, func() { w.build = b })
		return true, w.rebuildPrices(ctx, b)
	}})
	if err != nil {
		return fmt.Errorf("set prices: %w", err)
	}
	s.wakeRepricer()
	return nil
}

// rebuildPrices builds the pricer with b from the overrides the open transaction sees, and queues the
// re-price of what it changes; nothing without a builder.
func (w *writer) rebuildPrices(ctx context.Context, b PriceBuilder) error {
	if b == nil {
		return nil
	}
	ovs, err := readOverrides(ctx, w.conn)
	if err != nil {
		return err
	}
	p, err := b(ovs)
	if err != nil {
		return fmt.Errorf("build prices: %w", err)
	}
	w.s.dropCompare() // these prices are compared now
	return w.queueReprice(ctx, p, false)
}
