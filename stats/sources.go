package stats

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Source is one proxy or tool that ever reported usage (or tried to): what the Sources view shows so a
// user sees that their wiring works.
type Source struct {
	Name        string // "" for records that named no source
	Kind        string // how it reports: KindPost, KindProxy, KindOTLP, …
	First, Last time.Time
	// Error is the last thing that went wrong with it (an upstream's 401, a body that did not decode),
	// ErrorAt when; empty when nothing did.
	Error   string
	ErrorAt time.Time
	Ignored int64  // items it sent that are not usage (unknown events or metrics), counted not stored
	Note    string // what the path wants the user to know ("token metrics ignored: events win")
	Today   Totals // its records in the window asked for (the caller's "today")
}

// SourceNote is what an ingest path tells the store about a source besides records.
type SourceNote struct {
	Name, Kind string
	Error      string // "" leaves the last error as it was
	Ignored    int64  // added to the count
	Note       string // "" leaves the note as it was
}

// NoteSource records an error, ignored items or a note for a source, creating its entry when it has
// never reported a record. Callers keep secrets out of the text and call it at a modest rate.
func (s *Store) NoteSource(ctx context.Context, n SourceNote) error {
	if msg := checkString(n.Name, MaxSourceLen, false); msg != "" {
		return &FieldError{Index: -1, Field: "source", Msg: msg}
	}
	if n.Kind == "" {
		n.Kind = KindPost
	}
	now := s.now().Unix()
	r := &writeReq{op: func(ctx context.Context, w *writer) (bool, error) {
		id, err := w.ins.nameID(ctx, w.conn, kindSource, n.Name)
		if err != nil {
			return false, err
		}
		var errText, errAt, note any
		if n.Error != "" {
			errText, errAt = n.Error, now
		}
		if n.Note != "" {
			note = n.Note
		}
		_, err = w.conn.ExecContext(ctx, `INSERT INTO sources(name, kind, first, last, error, error_at, ignored, note)
			VALUES (?, ?, 0, 0, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET
			kind = CASE WHEN sources.last = 0 THEN excluded.kind ELSE sources.kind END,
			error = coalesce(excluded.error, sources.error), error_at = coalesce(excluded.error_at, sources.error_at),
			ignored = sources.ignored + excluded.ignored, note = coalesce(excluded.note, sources.note)`,
			id, n.Kind, errText, errAt, n.Ignored, note)
		if err != nil {
			return false, fmt.Errorf("note source: %w", err)
		}
		return true, nil
	}}
	if err := s.w.submit(ctx, r); err != nil {
		return fmt.Errorf("note source: %w", err)
	}
	return nil
}

// Sources lists every source, most recently active first, with its records in today.
func (s *Store) Sources(ctx context.Context, today Window) ([]Source, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, kind, first, last, error, error_at, ignored, note
		FROM sources ORDER BY last DESC, name`)
	if err != nil {
		return nil, fmt.Errorf("read sources: %w", err)
	}
	type entry struct {
		id int64
		Source
	}
	var list []entry
	for rows.Next() {
		var e entry
		var first, last int64
		var errText, note sql.NullString
		var errAt sql.NullInt64
		if err := rows.Scan(&e.id, &e.Kind, &first, &last, &errText, &errAt, &e.Ignored, &note); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read sources: %w", err)
		}
		if last > 0 {
			e.First, e.Last = time.Unix(first, 0).In(s.loc), time.Unix(last, 0).In(s.loc)
		}
		e.Error, e.Note = errText.String, note.String
		if errAt.Valid {
			e.ErrorAt = time.Unix(errAt.Int64, 0).In(s.loc)
		}
		list = append(list, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sources: %w", err)
	}
	by, err := s.totalsBy(ctx, today, Filter{}, BySource)
	if err != nil {
		return nil, err
	}
	out := make([]Source, len(list))
	for i, e := range list {
		if e.Name, err = s.nameOf(ctx, e.id); err != nil {
			return nil, err
		}
		if t := by[BySource][e.Name]; t != nil {
			e.Today = *t
		}
		out[i] = e.Source
	}
	return out, nil
}
