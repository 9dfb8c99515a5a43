package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver the store registers too; named here for the files of other tools
)

// sqliteHeader starts every SQLite 3 database file.
const sqliteHeader = "SQLite format 3\x00"

// sqlChunk is how many rows one query of another tool's database reads. Each chunk is a query of its
// own, so no read transaction stays open on a file its tool may be writing.
const sqlChunk = 2048

// openSQLite opens another tool's database read-only: nothing in the file is ever changed.
func openSQLite(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// openDatabase tells which tool's database a SQLite file is and opens a reader of it.
func openDatabase(ctx context.Context, path string, now time.Time) (reader, Format, error) {
	db, err := openSQLite(path)
	if err != nil {
		return nil, "", err
	}
	fail := func(err error) (reader, Format, error) {
		db.Close()
		return nil, "", err
	}
	tables := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return fail(fmt.Errorf("read the tables of %s: %w", path, err))
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fail(fmt.Errorf("read the tables of %s: %w", path, err))
		}
		tables[n] = true
	}
	rows.Close()
	if tables["combos"] && tables["usage"] && tables["meta"] {
		return fail(errors.New("this is a Token Stats database, not an export: run 'tokenstats --data-dir <its folder> export --format jsonl --out FILE' with that folder and import the file"))
	}
	if !tables["token_usage"] {
		return fail(errors.New("a SQLite file without a token_usage table: neither the origin design's token_stats.db nor Antigravity-Manager's"))
	}
	usageCols, err := columns(ctx, db, "token_usage")
	if err != nil {
		return fail(err)
	}
	for _, c := range []string{"id", "timestamp", "account_email", "model", "input_tokens", "output_tokens"} {
		if !usageCols[c] {
			return fail(fmt.Errorf("its token_usage table has no %s column: not a token statistics database Token Stats knows", c))
		}
	}
	hourlyCols, err := columns(ctx, db, "token_stats_hourly")
	if err != nil {
		return fail(err)
	}
	var total int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM token_usage`).Scan(&total); err != nil {
		return fail(fmt.Errorf("count rows: %w", err))
	}
	// The origin design's rows name a credential file and the Antigravity flag; Antigravity-Manager's
	// have cached tokens and its hourly table no model.
	if usageCols["credential_file"] || usageCols["is_antigravity"] ||
		!usageCols["cached_tokens"] && hourlyCols["model"] {
		o := &originReader{sqlReader: sqlReader{db: db, total: total, now: now}, cols: usageCols}
		if err := o.detectClock(ctx); err != nil {
			return fail(err)
		}
		return o, OriginDB, nil
	}
	return &antigravityReader{sqlReader: sqlReader{db: db, total: total, now: now}, cached: usageCols["cached_tokens"]},
		AntigravityDB, nil
}

// columns lists a table's columns; none when the table does not exist.
func columns(ctx context.Context, db *sql.DB, table string) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read the columns of %s: %w", table, err)
		}
		out[strings.ToLower(n)] = true
	}
	return out, rows.Err()
}

// sqlReader is what the database readers share.
type sqlReader struct {
	db          *sql.DB
	total, done int64
	now         time.Time
}

func (r *sqlReader) progress() (int64, int64) { return r.done, r.total }
func (r *sqlReader) close() error             { return r.db.Close() }

// chunks reads a token_usage query in id order, sqlChunk rows at a time; q selects id first and takes
// the last id read as its one parameter. fn gets each row's values.
func (r *sqlReader) chunks(ctx context.Context, q string, width int, fn func(vals []any) error) error {
	last := int64(math.MinInt64)
	vals := make([][]any, 0, sqlChunk)
	for {
		rows, err := r.db.QueryContext(ctx, q+` WHERE id > ? ORDER BY id LIMIT `+fmt.Sprint(sqlChunk), last)
		if err != nil {
			return fmt.Errorf("read token_usage: %w", err)
		}
		vals = vals[:0]
		for rows.Next() {
			v := make([]any, width)
			ptrs := make([]any, width)
			for i := range v {
				ptrs[i] = &v[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return fmt.Errorf("read token_usage: %w", err)
			}
			vals = append(vals, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read token_usage: %w", err)
		}
		if len(vals) == 0 {
			return nil
		}
		for _, v := range vals {
			last, _ = intOf(v[0])
			r.done++
			if err := fn(v); err != nil {
				return err
			}
		}
	}
}

// intOf reads a whole number out of a column value (SQLite columns hold any type).
func intOf(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

// textOf reads text out of a column value; NULL is "".
func textOf(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// counts reads token columns into a record; a value that is not a whole number is a skip naming it.
func counts(at string, fields []string, vals []any, dst []*int64) *Skip {
	for i, f := range fields {
		n, ok := intOf(vals[i])
		if vals[i] == nil {
			n, ok = 0, true
		}
		if !ok {
			return &Skip{At: at, Reason: f, Msg: fmt.Sprintf("%s: %s: %.40v is not a whole number", at, f, vals[i])}
		}
		*dst[i] = n
	}
	return nil
}
