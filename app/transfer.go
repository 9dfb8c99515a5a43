package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/transfer"
)

const exportUsage = `Usage: tokenstats [--data-dir DIR] export [flags]

Write the raw usage records of a window as CSV (RFC 4180, UTF-8 with a byte order mark) or JSONL (one
POST /usage record per line); docs/export-import.md describes the columns. With Token Stats running,
the records come from it; otherwise the data folder is read directly.

  tokenstats export --out usage.csv
  tokenstats export --format jsonl --hours 720 --account me@example.com --out month.jsonl

Exit status: 0 written, 1 failed, 2 bad flags.

Flags:
`

const importUsage = `Usage: tokenstats [--data-dir DIR] import FILE

Add the records of FILE: a Token Stats CSV or JSONL export, the origin design's token_stats.db (the
gcli2api port's data/token_stats.db) or Antigravity-Manager's token_stats.db; the format is detected.
Records already stored (the same file imported before) are not counted twice; rows that are no valid
record are skipped and reported. With Token Stats running, the records go through it; otherwise the
data folder is written directly.

Exit status: 0 imported (rows may have been skipped: see the report), 1 failed, 2 bad usage.
`

// strList is a repeatable string flag.
type strList []string

func (s *strList) String() string     { return strings.Join(*s, ",") }
func (s *strList) Set(v string) error { *s = append(*s, v); return nil }

// runExport is the export command.
func runExport(cfg Config, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenstats export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), exportUsage)
		fs.PrintDefaults()
	}
	var f stats.Filter
	format := fs.String("format", "csv", "csv or jsonl")
	hours := fs.Int("hours", stats.MaxHours, "the last `N` hours (default: all)")
	out := fs.String("out", "-", "`file` to write (- for standard output)")
	withBOM := fs.Bool("bom", true, "start a CSV with the UTF-8 byte order mark (spreadsheets need it to read UTF-8)")
	fs.Var((*strList)(&f.Accounts), "account", "only this `account` (repeatable)")
	fs.Var((*strList)(&f.Models), "model", "only this `model` (repeatable)")
	fs.Var((*strList)(&f.Sources), "source", "only this `source` (repeatable; \"\" for none)")
	fs.Var((*strList)(&f.Credentials), "credential", "only this `credential` (repeatable; \"\" for none)")
	if code, ok := parseCommand(fs, args); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int { return usageError(stderr, "export", format, a...) }
	fmtv, err := transfer.ParseExportFormat(*format)
	if err != nil {
		return usageErr("--format: %v", err)
	}
	if *hours < 1 || *hours > stats.MaxHours {
		return usageErr("--hours must be from 1 to %d", stats.MaxHours)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var w io.Writer = stdout
	var file *os.File
	if *out != "-" {
		// The records name accounts: keep the file private, like the database.
		if file, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			fmt.Fprintln(stderr, "tokenstats export:", err)
			return 1
		}
		w = file
	}
	lines := &lineCounter{w: w}
	err = withData(cfg, getenv, stderr, false, func(a dataAccess) error {
		if a.store != nil {
			return exportStore(ctx, a.store, lines, fmtv, *hours, f, *withBOM)
		}
		return exportAPI(ctx, a, lines, fmtv, *hours, f, *withBOM)
	})
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out) // a partial export must not pass for a whole one
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "tokenstats export:", err)
		return 1
	}
	n := lines.n
	if fmtv == transfer.CSV {
		n-- // the header
	}
	if *out != "-" {
		fmt.Fprintf(stderr, "exported %d records to %s\n", n, *out)
	}
	return 0
}

// exportStore writes an export from the store itself.
func exportStore(ctx context.Context, st *stats.Store, w io.Writer, f transfer.Format, hours int, filter stats.Filter, withBOM bool) error {
	ew, err := transfer.NewWriter(w, f, st.Location(), withBOM)
	if err != nil {
		return err
	}
	if err := st.Export(ctx, stats.LastHours(time.Now(), hours), filter, ew.Write); err != nil {
		return err
	}
	return ew.Close()
}

// exportAPI copies GET /stats/export of the running instance.
func exportAPI(ctx context.Context, a dataAccess, w io.Writer, f transfer.Format, hours int, filter stats.Filter, withBOM bool) error {
	q := url.Values{"format": {string(f)}, "hours": {strconv.Itoa(hours)}, "bom": {"0"}}
	if withBOM {
		q.Set("bom", "1")
	}
	for name, vals := range map[string][]string{"account": filter.Accounts, "model": filter.Models,
		"source": filter.Sources, "credential": filter.Credentials} {
		q[name] = vals
	}
	resp, err := a.call(ctx, http.MethodGet, "/stats/export?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("export from %s: %w", a.url, err)
	}
	return nil
}

// lineCounter counts the lines written through it.
type lineCounter struct {
	w io.Writer
	n int
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return c.w.Write(p)
}

// runImport is the import command.
func runImport(cfg Config, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenstats import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), importUsage) }
	if code, ok := parseCommand(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "tokenstats import: give the one file to import (tokenstats import --help)")
		return 2
	}
	path := fs.Arg(0)
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintln(stderr, "tokenstats import:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rep transfer.Report
	var last time.Time
	err := withData(cfg, getenv, stderr, true, func(a dataAccess) error {
		opt := transfer.ImportOptions{Store: a.importBatch, Batch: apiImportBatch, Progress: func(p transfer.Progress) {
			if now := time.Now(); now.Sub(last) >= 2*time.Second {
				last = now
				fmt.Fprintln(stderr, progressLine(p))
			}
		}}
		if a.store != nil {
			opt.Batch = transfer.DefaultBatch
		}
		var err error
		rep, err = transfer.Import(ctx, path, opt)
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "tokenstats import:", err)
		if rep.Accepted+rep.Duplicates > 0 {
			fmt.Fprintln(stderr, "what was stored stays; importing the file again completes it without counting anything twice")
		}
		return 1
	}
	fmt.Fprint(stdout, rep.Summary())
	return 0
}

// apiImportBatch is how many records one POST /stats/import carries: at most about 4 KB each (names
// at their longest limits), which keeps a body under the API's 8 MiB.
const apiImportBatch = 1000

// progressLine says how far an import has come.
func progressLine(p transfer.Progress) string {
	pct := 100
	if p.Total > 0 {
		pct = int(p.Done * 100 / p.Total)
	}
	return fmt.Sprintf("import: %d%% read: %d new, %d already stored, %d skipped", pct, p.Accepted, p.Duplicates, p.Skipped)
}

// dataAccess reaches a data folder's records: the store itself (opened here, the folder locked), or the
// running instance that holds the folder, through its API.
type dataAccess struct {
	store      *stats.Store
	url, token string
}

// withData runs fn with the data folder's records. A running instance holds the folder's lock and is
// the only writer of its database, so it is asked through its API; without one the store is opened
// here, under the same lock, for the time fn takes. A folder without a database is an error unless
// create is set (an import may start one).
func withData(cfg Config, getenv func(string) string, stderr io.Writer, create bool, fn func(dataAccess) error) error {
	_, statErr := os.Stat(cfg.DBPath())
	if errors.Is(statErr, fs.ErrNotExist) && !create {
		return fmt.Errorf("%s holds no database: nothing to export (is --data-dir right?)", cfg.DataDir)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if errors.Is(err, errLocked) {
		a := dataAccess{}
		if a.url, err = readURLFile(cfg.DataDir); err != nil {
			return err
		}
		if a.token, err = readToken(cfg.DataDir, getenv); err != nil {
			return err
		}
		return fn(a)
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	if errors.Is(statErr, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "tokenstats: %s holds no database yet; starting one\n", cfg.DataDir)
	}
	// Priced as the app prices them, so an import into a folder no instance holds gets the same costs.
	snap, why, err := loadSnapshot(cfg.DataDir)
	if err != nil {
		return err
	}
	if why != "" {
		fmt.Fprintln(stderr, "tokenstats:", why)
	}
	st, rec, err := openStore(withSavedSettings(cfg, stderr), newLogger(stderr), pricing.Builder(snap))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if rec.CorruptFile != "" {
		fmt.Fprintf(stderr, "tokenstats: the database file was corrupt; it was kept aside as %s and a new one started\n", rec.CorruptFile)
	}
	err = fn(dataAccess{store: st})
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close database: %w", cerr)
	}
	return err
}

// call sends a request to the running instance; an answer other than 200 is an error with its message.
func (a dataAccess) call(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the running Token Stats at %s: %w", a.url, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
		Index *int   `json:"index"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(raw))
	}
	if resp.StatusCode == http.StatusBadRequest && e.Index != nil {
		return nil, refusal(*e.Index, e.Error)
	}
	return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
}

// refusal turns the API's refusal of one record ("record 3: timestamp: …") back into the store's error,
// so an import skips that record as it does with the store itself.
func refusal(index int, msg string) error {
	field := "refused"
	if _, rest, ok := strings.Cut(msg, ": "); ok {
		if f, _, ok := strings.Cut(rest, ": "); ok {
			field = f
			msg = rest[len(f)+2:]
		}
	}
	return &stats.FieldError{Index: index, Field: field, Msg: msg}
}

// importBatch stores one batch of an import: in the store, or through POST /stats/import.
func (a dataAccess) importBatch(ctx context.Context, recs []stats.Record) (stats.Result, error) {
	if a.store != nil {
		return a.store.Record(ctx, recs...)
	}
	body, err := transfer.MarshalBatch(recs)
	if err != nil {
		return stats.Result{}, err
	}
	resp, err := a.call(ctx, http.MethodPost, "/stats/import", body)
	if err != nil {
		return stats.Result{}, err
	}
	defer resp.Body.Close()
	var res struct {
		Accepted   int `json:"accepted"`
		Duplicates int `json:"duplicates"`
	}
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&res); err != nil {
		return stats.Result{}, fmt.Errorf("read the answer of %s: %w", a.url, err)
	}
	return stats.Result{Accepted: res.Accepted, Duplicates: res.Duplicates}, nil
}
