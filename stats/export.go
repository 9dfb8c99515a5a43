package stats

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// ExportedRecord is one stored record as an export gives it: its stored names (not their aliases, which
// are settings of a data folder, not part of the record), its row id, the cost the store estimated for
// it, and in RequestID an id that names the row (ExportID). Kind is empty: it is kept per source.
type ExportedRecord struct {
	Record
	Row    int64 // the row id: unix second << 24 | sequence
	Cost   Money // the estimate stored with the record; meaningful when Priced
	Priced bool
}

// exportChunk is how many rows one read of an export takes. Each read is a query of its own that ends
// before fn sees the rows, so no read transaction stays open while a slow consumer writes them out.
const exportChunk = 2048

// exportIDPrefix starts every id ExportID makes.
const exportIDPrefix = "tokenstats:"

// ExportID is the request id an export gives a stored record: "tokenstats:<row id>:<fingerprint>". The
// store keeps request ids only as 64-bit hashes, so the id a record arrived with cannot be written out;
// this one names the row it came from and what the row holds. Record recognises it: a record carrying
// the id of a row of this very store, with the same content, is a duplicate (an export imported into
// the folder it came from adds nothing). Anywhere else it is an ordinary request id, so importing the
// same export twice counts it once.
func ExportID(row int64, r *Record) string {
	return exportIDPrefix + strconv.FormatInt(row, 10) + ":" + fmt.Sprintf("%016x", fingerprint(r))
}

// parseExportID reads an id made by ExportID.
func parseExportID(id string) (row int64, fp uint64, ok bool) {
	rest, found := strings.CutPrefix(id, exportIDPrefix)
	if !found {
		return 0, 0, false
	}
	rowText, fpText, found := strings.Cut(rest, ":")
	if !found || len(fpText) != 16 {
		return 0, 0, false
	}
	row, err := strconv.ParseInt(rowText, 10, 64)
	if err != nil || row < 0 {
		return 0, 0, false
	}
	fp, err = strconv.ParseUint(fpText, 16, 64)
	return row, fp, err == nil
}

// fingerprint hashes what a record holds: its second, names, flag, token counts and agent cost (not its
// request id or kind). Names cannot hold control characters, so a zero byte ends each one unambiguously.
func fingerprint(r *Record) uint64 {
	h := fnv.New64a()
	var b [8]byte
	num := func(v int64) {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	for _, s := range []string{r.Account, r.Model, r.Source, r.Credential} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	flags, agent := int64(0), int64(0)
	if r.IsAntigravity {
		flags |= 1
	}
	if r.HasAgentCost {
		flags, agent = flags|2, int64(r.AgentCost)
	}
	for _, v := range []int64{r.Time.Unix(), flags, r.InputTokens, r.OutputTokens, r.CachedTokens,
		r.ReasoningTokens, r.CacheCreationTokens, agent} {
		num(v)
	}
	return h.Sum64()
}

// Export calls fn with every record of the window that the filter keeps, in row id order (oldest
// first). It reads exportChunk rows at a time, each read a short query of its own, so memory stays
// constant whatever the window holds and the writer is never held up. The record passed to fn is
// reused: fn must not keep it. An error from fn ends the export and is returned.
func (s *Store) Export(ctx context.Context, w Window, f Filter, fn func(*ExportedRecord) error) error {
	if err := checkWindow(w); err != nil {
		return err
	}
	sel, err := s.selectionOf(ctx, f)
	if err != nil {
		return err
	}
	if sel != nil && len(sel.combos) == 0 {
		return nil
	}
	lo, hi := w.bounds()
	next, end := lo<<seqBits, hi<<seqBits
	names := exportNames{byID: map[int64]string{0: ""}}
	rows := make([]exportRow, 0, exportChunk)
	var out ExportedRecord
	for next < end {
		if rows, err = s.exportRows(ctx, sel, next, end, rows[:0]); err != nil {
			return err
		}
		for i := range rows {
			if err := s.exported(ctx, &rows[i], &names, &out); err != nil {
				return err
			}
			if err := fn(&out); err != nil {
				return err
			}
		}
		if len(rows) < exportChunk {
			break
		}
		next = rows[len(rows)-1].id + 1
	}
	return nil
}

// exportRow is one raw row as read.
type exportRow struct {
	id, combo                                       int64
	input, output, cached, reasoning, cacheCreation int64
	cost, agentCost                                 sql.NullInt64
}

// exportRows reads up to exportChunk rows with from ≤ id < to that sel keeps, in id order.
func (s *Store) exportRows(ctx context.Context, sel *selection, from, to int64, buf []exportRow) ([]exportRow, error) {
	const cols = `SELECT id, combo, input, output, cached, reasoning, cache_creation, cost, agent_cost`
	q := cols + ` FROM usage WHERE id >= ? AND id < ?`
	if sel != nil {
		q += ` AND ` + sel.in
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(exportChunk), from, to)
	if err != nil {
		return buf, fmt.Errorf("read records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r exportRow
		if err := rows.Scan(&r.id, &r.combo, &r.input, &r.output, &r.cached, &r.reasoning, &r.cacheCreation,
			&r.cost, &r.agentCost); err != nil {
			return buf, fmt.Errorf("read records: %w", err)
		}
		buf = append(buf, r)
	}
	if err := rows.Err(); err != nil {
		return buf, fmt.Errorf("read records: %w", err)
	}
	return buf, nil
}

// exported fills out from a raw row.
func (s *Store) exported(ctx context.Context, r *exportRow, names *exportNames, out *ExportedRecord) error {
	c, err := s.comboOf(ctx, r.combo)
	if err != nil {
		return err
	}
	*out = ExportedRecord{Row: r.id, Cost: Money(r.cost.Int64), Priced: r.cost.Valid}
	rec := &out.Record
	for _, d := range allDims {
		n, err := names.name(ctx, s, c.key(d))
		if err != nil {
			return err
		}
		*rec.nameField(d) = n
	}
	rec.Time = time.Unix(r.id>>seqBits, 0).In(s.loc)
	rec.IsAntigravity = c.flags&1 != 0
	rec.InputTokens, rec.OutputTokens, rec.CachedTokens = r.input, r.output, r.cached
	rec.ReasoningTokens, rec.CacheCreationTokens = r.reasoning, r.cacheCreation
	rec.AgentCost, rec.HasAgentCost = Money(r.agentCost.Int64), r.agentCost.Valid
	rec.RequestID = ExportID(r.id, rec)
	return nil
}

// exportNames caches the stored names (not the aliases views show) by id, for one export.
type exportNames struct {
	byID map[int64]string
	max  int64
}

func (n *exportNames) name(ctx context.Context, s *Store, id int64) (string, error) {
	if nm, ok := n.byID[id]; ok {
		return nm, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name FROM names WHERE id > ?`, n.max)
	if err != nil {
		return "", fmt.Errorf("read names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k int64
		var nm string
		if err := rows.Scan(&k, &nm); err != nil {
			return "", fmt.Errorf("read names: %w", err)
		}
		n.byID[k], n.max = nm, max(n.max, k)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read names: %w", err)
	}
	nm, ok := n.byID[id]
	if !ok {
		return "", fmt.Errorf("record refers to unknown name %d", id)
	}
	return nm, nil
}

// ownExports returns a bit mask of the records of part (at most chunk) that carry the ExportID of a
// row of this store holding the same record: an export coming back to the folder it left. They are
// duplicates without a request-id hash, since the store never kept a hash of that id.
func (in *inserter) ownExports(ctx context.Context, conn *sql.Conn, part []Record) (uint64, error) {
	var ids []any
	var idx []int
	for i := range part {
		row, fp, ok := parseExportID(part[i].RequestID)
		if ok && row>>seqBits == part[i].Time.Unix() && fp == fingerprint(&part[i]) {
			ids = append(ids, row)
			idx = append(idx, i)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	q := `SELECT id, combo, input, output, cached, reasoning, cache_creation, cost, agent_cost FROM usage
		WHERE id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
	rows, err := conn.QueryContext(ctx, q, ids...)
	if err != nil {
		return 0, fmt.Errorf("look up exported records: %w", err)
	}
	found := map[int64]exportRow{}
	for rows.Next() {
		var r exportRow
		if err := rows.Scan(&r.id, &r.combo, &r.input, &r.output, &r.cached, &r.reasoning, &r.cacheCreation,
			&r.cost, &r.agentCost); err != nil {
			rows.Close()
			return 0, fmt.Errorf("look up exported records: %w", err)
		}
		found[r.id] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("look up exported records: %w", err)
	}
	var mask uint64
	for j, id := range ids {
		st, ok := found[id.(int64)]
		if !ok {
			continue
		}
		same, err := in.holds(ctx, conn, &st, &part[idx[j]])
		if err != nil {
			return 0, err
		}
		if same {
			mask |= 1 << idx[j]
		}
	}
	return mask, nil
}

// holds reports whether a stored row holds record r (its time is checked by the caller).
func (in *inserter) holds(ctx context.Context, conn *sql.Conn, st *exportRow, r *Record) (bool, error) {
	if st.input != r.InputTokens || st.output != r.OutputTokens || st.cached != r.CachedTokens ||
		st.reasoning != r.ReasoningTokens || st.cacheCreation != r.CacheCreationTokens ||
		st.agentCost.Valid != r.HasAgentCost || r.HasAgentCost && st.agentCost.Int64 != int64(r.AgentCost) {
		return false, nil
	}
	c, err := comboByID(ctx, conn, in.byID, st.combo)
	if err != nil {
		return false, err
	}
	if (c.flags&1 != 0) != r.IsAntigravity {
		return false, nil
	}
	for _, d := range allDims {
		id, ok, err := in.storedName(ctx, conn, nameKind(d), nameOfDim(r, d))
		if err != nil || !ok || id != c.key(d) {
			return false, err
		}
	}
	return true, nil
}

// storedName is the id of a name already stored, without storing a new one; "" is 0.
func (in *inserter) storedName(ctx context.Context, conn *sql.Conn, kind int, name string) (int64, bool, error) {
	if name == "" {
		return 0, true, nil
	}
	k := nameKey{kind, name}
	if id, ok := in.ids[k]; ok {
		return id, true, nil
	}
	var id int64
	err := conn.QueryRowContext(ctx, `SELECT id FROM names WHERE kind = ? AND name = ?`, kind, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up name: %w", err)
	}
	in.ids[k] = id // names are never deleted, so the cache may keep it
	return id, true, nil
}
