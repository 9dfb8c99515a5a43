package stats

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// names caches, for readers, what name ids and combo ids stand for. Both tables only grow (AUTOINCREMENT
// ids are never reused) and are read incrementally; an alias change reloads the names.
type names struct {
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

// load reads names and combos added since the last load; mu must be held for writing.
func (n *names) load(ctx context.Context, s *Store) error {
	if n.shown == nil || n.stale {
		n.shown, n.maxName, n.stale = map[int64]string{0: ""}, 0, false
	}
	if n.combos == nil {
		n.combos = map[int64]combo{}
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, coalesce(alias, name) FROM names WHERE id > ?`, n.maxName)
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
		n.shown[id] = nm
		n.maxName = max(n.maxName, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	rows, err = s.rdb.QueryContext(ctx, `SELECT id, model, account, source, credential, flags FROM combos WHERE id > ?`, n.maxCombo)
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
		n.combos[id] = c
		n.maxCombo = max(n.maxCombo, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read combos: %w", err)
	}
	return nil
}

// view runs fn with the caches current to at least every id in need (names and combos committed
// before the caller's query read them).
func (s *Store) view(ctx context.Context, fn func(n *names)) error {
	n := &s.names
	n.mu.RLock()
	ok := n.shown != nil && !n.stale
	if ok {
		fn(n)
	}
	n.mu.RUnlock()
	if ok {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.load(ctx, s); err != nil {
		return err
	}
	fn(n)
	return nil
}

// nameOf is the shown name of id, loading what is missing; unknown ids (never: rows refer to stored
// names) read "#id".
func (s *Store) nameOf(ctx context.Context, id int64) (string, error) {
	n := &s.names
	n.mu.RLock()
	nm, ok := n.shown[id]
	fresh := n.shown != nil && !n.stale
	n.mu.RUnlock()
	if ok && fresh {
		return nm, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.load(ctx, s); err != nil {
		return "", err
	}
	if nm, ok := n.shown[id]; ok {
		return nm, nil
	}
	return fmt.Sprintf("#%d", id), nil
}

// knownCombos copies the combos loaded so far (loading them first if none are), for a query to resolve
// combo ids without the names lock.
func (s *Store) knownCombos(ctx context.Context) (map[int64]combo, error) {
	var out map[int64]combo
	err := s.view(ctx, func(n *names) {
		out = make(map[int64]combo, len(n.combos))
		for id, c := range n.combos {
			out[id] = c
		}
	})
	return out, err
}

// comboOf is the combo with id, loading what is missing.
func (s *Store) comboOf(ctx context.Context, id int64) (combo, error) {
	n := &s.names
	n.mu.RLock()
	c, ok := n.combos[id]
	n.mu.RUnlock()
	if ok {
		return c, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.load(ctx, s); err != nil {
		return combo{}, err
	}
	c, ok = n.combos[id]
	if !ok {
		return combo{}, fmt.Errorf("record refers to unknown combo %d", id)
	}
	return c, nil
}

// matching lists, in order, the combos a non-zero filter keeps. Names are compared by the name views
// show, so a filter on an alias keeps every name that carries it.
func (s *Store) matching(ctx context.Context, f Filter) ([]int64, error) {
	n := &s.names
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.load(ctx, s); err != nil {
		return nil, err
	}
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
