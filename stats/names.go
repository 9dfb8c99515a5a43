package stats

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// names caches, for readers, what name ids and combo ids stand for. Both tables only grow (AUTOINCREMENT
// ids are never reused) and are read incrementally; an alias change reloads the names. Loading reads the
// database without holding mu (a reader blocked on mu may hold one of the few read connections), then
// merges under it.
type names struct {
	load     sync.Mutex // one loader at a time
	mu       sync.RWMutex
	shown    map[int64]string // name id → the name views show: its alias, or itself
	maxName  int64
	combos   map[int64]combo // combo id → its names
	maxCombo int64
	stale    bool // an alias changed: reload every name
}

// combo is the names one record carries, by name id (0: none) and its flags.
type combo struct {
	keys  [len(allDims)]int64 // indexed by Dimension-1
	flags int64
}

func (c combo) key(d Dimension) int64 { return c.keys[d-1] }

// refresh reads the names and combos added since the last refresh (every name after an alias change).
func (s *Store) refresh(ctx context.Context) error {
	n := &s.names
	n.load.Lock()
	defer n.load.Unlock()
	n.mu.RLock()
	fromName, fromCombo, all := n.maxName, n.maxCombo, n.shown == nil || n.stale
	n.mu.RUnlock()
	if all {
		fromName = 0
	}
	shown := map[int64]string{}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, coalesce(alias, name) FROM names WHERE id > ?`, fromName)
	if err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	for rows.Next() {
		var id int64
		var nm string
		if err := rows.Scan(&id, &nm); err != nil {
			rows.Close()
			return fmt.Errorf("read names: %w", err)
		}
		shown[id] = nm
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	combos := map[int64]combo{}
	rows, err = s.rdb.QueryContext(ctx, `SELECT id, model, account, source, credential, flags FROM combos WHERE id > ?`, fromCombo)
	if err != nil {
		return fmt.Errorf("read combos: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var c combo
		if err := rows.Scan(&id, &c.keys[ByModel-1], &c.keys[ByAccount-1], &c.keys[BySource-1], &c.keys[ByCredential-1], &c.flags); err != nil {
			return fmt.Errorf("read combos: %w", err)
		}
		combos[id] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read combos: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if all {
		n.shown, n.maxName, n.stale = map[int64]string{0: ""}, 0, false
	}
	if n.combos == nil {
		n.combos = map[int64]combo{}
	}
	for id, nm := range shown {
		n.shown[id] = nm
		n.maxName = max(n.maxName, id)
	}
	for id, c := range combos {
		n.combos[id] = c
		n.maxCombo = max(n.maxCombo, id)
	}
	return nil
}

// nameOf is the shown name of id, refreshing the cache when it lacks it; unknown ids (never: rows refer
// to stored names) read "#id". It reads the database: never call it while holding a query's rows open.
func (s *Store) nameOf(ctx context.Context, id int64) (string, error) {
	n := &s.names
	for try := 0; ; try++ {
		n.mu.RLock()
		nm, ok := n.shown[id]
		fresh := n.shown != nil && !n.stale
		n.mu.RUnlock()
		if ok && fresh {
			return nm, nil
		}
		if try == 1 {
			if ok {
				return nm, nil
			}
			return fmt.Sprintf("#%d", id), nil
		}
		if err := s.refresh(ctx); err != nil {
			return "", err
		}
	}
}

// knownCombo is the combo with id when the cache has it; it never reads the database, so it may be
// called while a query's rows are open.
func (s *Store) knownCombo(id int64) (combo, bool) {
	n := &s.names
	n.mu.RLock()
	defer n.mu.RUnlock()
	c, ok := n.combos[id]
	return c, ok
}

// comboOf is the combo with id, refreshing the cache when it lacks it. It reads the database: never call
// it while holding a query's rows open.
func (s *Store) comboOf(ctx context.Context, id int64) (combo, error) {
	if c, ok := s.knownCombo(id); ok {
		return c, nil
	}
	if err := s.refresh(ctx); err != nil {
		return combo{}, err
	}
	if c, ok := s.knownCombo(id); ok {
		return c, nil
	}
	return combo{}, fmt.Errorf("record refers to unknown combo %d", id)
}

// matching lists, in order, the combos a non-zero filter keeps. Names are compared by the name views
// show, so a filter on an alias keeps every name that carries it.
func (s *Store) matching(ctx context.Context, f Filter) ([]int64, error) {
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	n := &s.names
	n.mu.RLock()
	defer n.mu.RUnlock()
	var want [len(allDims)]map[string]bool
	for _, d := range allDims {
		if vals := f.Values(d); len(vals) > 0 {
			want[d-1] = map[string]bool{}
			for _, v := range vals {
				want[d-1][v] = true
			}
		}
	}
	var out []int64
	for id, c := range n.combos {
		keep := true
		for i, w := range want {
			if w != nil && !w[n.shown[c.keys[i]]] {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// SetAlias makes views show alias in place of a name of dimension d ("key …a1b2" as "work"), in every
// window, past ones included; names with the same alias are shown, counted and filtered as one. An
// empty alias removes it. Setting one for a name never seen is an error.
func (s *Store) SetAlias(ctx context.Context, d Dimension, name, alias string) error {
	if msg := checkString(alias, maxLenOf(d), false); msg != "" {
		return &FieldError{Index: -1, Field: "alias", Msg: msg}
	}
	var found bool
	r := &writeReq{op: func(ctx context.Context, w *writer) (bool, error) {
		var val any
		if alias != "" && alias != name {
			val = alias
		}
		res, err := w.conn.ExecContext(ctx, `UPDATE names SET alias = ? WHERE kind = ? AND name = ?`, val, nameKind(d), name)
		if err != nil {
			return false, fmt.Errorf("set alias: %w", err)
		}
		n, _ := res.RowsAffected()
		found = n > 0
		if found {
			w.aliasChanged = true
		}
		return found, nil
	}}
	if err := s.w.submit(ctx, r); err != nil {
		return fmt.Errorf("set alias: %w", err)
	}
	if !found {
		return fmt.Errorf("no %s is named %.40q", d, name)
	}
	return nil
}

// Aliases lists the aliases of a dimension: stored name → alias.
func (s *Store) Aliases(ctx context.Context, d Dimension) (map[string]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, alias FROM names WHERE kind = ? AND alias IS NOT NULL`, nameKind(d))
	if err != nil {
		return nil, fmt.Errorf("read aliases: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, a string
		if err := rows.Scan(&n, &a); err != nil {
			return nil, fmt.Errorf("read aliases: %w", err)
		}
		out[n] = a
	}
	return out, rows.Err()
}

func maxLenOf(d Dimension) int {
	switch d {
	case ByAccount:
		return MaxAccountLen
	case BySource:
		return MaxSourceLen
	case ByCredential:
		return MaxCredentialLen
	}
	return MaxModelLen
}

// selection is what a filtered query keeps: the combos its filter matches. A nil *selection keeps
// everything and reads the per-dimension rollups; a selection reads the per-combo rollups and raw rows.
type selection struct {
	combos []int64
	in     string // "combo IN (…)"
	// seekIn is the condition for reads that name their buckets (bucket IN (…)): with few combos SQLite
	// seeks each (bucket, combo) row; with more, that many seeks cost more than reading the buckets'
	// rows, so the combos are tested on each row instead ("+combo" keeps SQLite from seeking them).
	seekIn string
	// only is set when the filter names values of one dimension alone; keys are then that dimension's
	// name ids it keeps, and a query by that dimension alone reads the per-dimension rollups for them.
	only Dimension
	keys map[int64]bool
}

// maxSeekCombos is how many combos a read that names its buckets seeks bucket by bucket.
const maxSeekCombos = 64

// selectionOf resolves a filter; nil for the zero filter.
func (s *Store) selectionOf(ctx context.Context, f Filter) (*selection, error) {
	if f.IsZero() {
		return nil, nil
	}
	combos, err := s.matching(ctx, f)
	if err != nil {
		return nil, err
	}
	sel := &selection{combos: combos, in: "combo IN (" + joinInts(combos) + ")"}
	sel.seekIn = sel.in
	if len(combos) > maxSeekCombos {
		sel.seekIn = "+" + sel.in
	}
	for _, d := range allDims {
		if len(f.Values(d)) > 0 {
			if sel.only != 0 {
				sel.only = 0
				break
			}
			sel.only = d
		}
	}
	if sel.only != 0 {
		sel.keys = map[int64]bool{}
		for _, id := range combos {
			c, err := s.comboOf(ctx, id)
			if err != nil {
				return nil, err
			}
			sel.keys[c.key(sel.only)] = true
		}
	}
	return sel, nil
}

// joinInts writes ids for an IN list: numbers the store made, not user text, so nothing to escape.
func joinInts(v []int64) string {
	var b strings.Builder
	for i, n := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(n, 10))
	}
	return b.String()
}
