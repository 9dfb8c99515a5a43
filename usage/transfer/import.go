package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
)

// ImportOptions say where an import's records go.
type ImportOptions struct {
	// Store stores a batch of records, all or none, as stats.Store.Record does (through the API or the
	// store itself). A refusal of one record names it as usage.RecordIndex reads; that record is then
	// skipped and the rest of the batch stored.
	Store func(ctx context.Context, recs []stats.Record) (stats.Result, error)
	// Progress, when set, is called after every batch and once at the end.
	Progress func(Progress)
	// Now is the clock records are checked against; nil means time.Now.
	Now func() time.Time
	// Batch is how many records one Store call takes; 0 means DefaultBatch.
	Batch int
}

// DefaultBatch is how many records an import stores at a time: few enough for one POST body
// (usage.MaxBatch, 8 MiB) and a short transaction, enough to amortise each.
const DefaultBatch = 4000

// Progress is how far an import has come.
type Progress struct {
	Format Format
	// Done of Total is how much of the file has been read: bytes of a CSV or JSONL file, rows of a
	// database.
	Done, Total int64
	Read        int64 // records and skipped rows read so far
	Accepted    int64 // records stored
	Duplicates  int64 // records stored before (same request id): not counted again
	Skipped     int64 // rows that are no valid record
}

// Skip is a row of the file that was not imported, and why.
type Skip struct {
	At     string // where in the file
	Reason string // the field at fault, or what is wrong with the row
	Msg    string
}

// SkipCount is how many rows were skipped for one reason.
type SkipCount struct {
	Reason string
	Count  int64
}

// Report is what an import did.
type Report struct {
	Progress
	Skips    []SkipCount // per reason, most first
	Examples []Skip      // the first few skipped rows
	Notes    []string    // what the reader had to decide (a time offset, cached tokens added to input)
}

// maxExamples is how many skipped rows a report quotes.
const maxExamples = 5

// Summary is the report in a few English lines, for the command line.
func (r Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d records read, %d new, %d already stored, %d skipped\n", r.Format.Name(),
		r.Read-r.Skipped, r.Accepted, r.Duplicates, r.Skipped)
	for _, s := range r.Skips {
		fmt.Fprintf(&b, "  skipped for %s: %d\n", s.Reason, s.Count)
	}
	for _, e := range r.Examples {
		fmt.Fprintf(&b, "  e.g. %s\n", e.Msg)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

// Import reads the file at path in whichever format it is, and stores its records through
// opt.Store in batches, with Kind stats.KindImport. Importing the same file again stores nothing new:
// rows without a request id get one derived from the row. Rows that are no valid record are skipped and
// reported by reason. An error (the file cannot be read, the store fails) ends the import; what was
// stored before stays, and running the import again completes it without counting anything twice.
func Import(ctx context.Context, path string, opt ImportOptions) (Report, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	rd, f, err := open(ctx, path, opt.Now())
	if err != nil {
		return Report{}, err
	}
	defer rd.close()
	im := importer{ctx: ctx, opt: opt, rd: rd, skips: map[string]int64{}}
	im.rep.Format = f
	im.rep.Done, im.rep.Total = rd.progress()
	err = rd.each(ctx, im.add)
	if err == nil {
		err = im.flush()
	}
	im.rep.Done, im.rep.Total = rd.progress()
	for reason, n := range im.skips {
		im.rep.Skips = append(im.rep.Skips, SkipCount{reason, n})
	}
	sort.Slice(im.rep.Skips, func(i, j int) bool {
		a, b := im.rep.Skips[i], im.rep.Skips[j]
		return a.Count > b.Count || a.Count == b.Count && a.Reason < b.Reason
	})
	im.rep.Notes = rd.notes()
	if opt.Progress != nil {
		opt.Progress(im.rep.Progress)
	}
	return im.rep, err
}

// importer batches a reader's records into the store.
type importer struct {
	ctx   context.Context
	opt   ImportOptions
	rd    reader
	rep   Report
	skips map[string]int64
	batch []stats.Record
	at    []string
}

func (im *importer) add(it *item) error {
	im.rep.Read++
	if it.skip != nil {
		im.skip(*it.skip)
		return nil
	}
	im.batch = append(im.batch, it.rec)
	im.at = append(im.at, it.at)
	if len(im.batch) < im.opt.Batch {
		return nil
	}
	return im.flush()
}

func (im *importer) skip(s Skip) {
	im.rep.Skipped++
	im.skips[s.Reason]++
	if len(im.rep.Examples) < maxExamples {
		im.rep.Examples = append(im.rep.Examples, s)
	}
}

// flush stores the batch. A record the store refuses (its clock may differ from the reader's) is
// skipped and the rest sent again.
func (im *importer) flush() error {
	for len(im.batch) > 0 {
		res, err := im.opt.Store(im.ctx, im.batch)
		if i, ok := usage.RecordIndex(err); ok && i < len(im.batch) {
			var fe *stats.FieldError
			if errors.As(err, &fe) { // its index is the batch's, which means nothing to the user
				err = &stats.FieldError{Index: -1, Field: fe.Field, Msg: fe.Msg}
			}
			im.skip(*skipOf(err, im.at[i]))
			im.batch = append(im.batch[:i], im.batch[i+1:]...)
			im.at = append(im.at[:i], im.at[i+1:]...)
			continue
		}
		if err != nil {
			return fmt.Errorf("store records: %w", err)
		}
		im.rep.Accepted += int64(res.Accepted)
		im.rep.Duplicates += int64(res.Duplicates)
		im.batch, im.at = im.batch[:0], im.at[:0]
	}
	im.rep.Done, im.rep.Total = im.rd.progress()
	if im.opt.Progress != nil {
		im.opt.Progress(im.rep.Progress)
	}
	return nil
}

// open detects the format of the file at path and opens a reader of it.
func open(ctx context.Context, path string, now time.Time) (reader, Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(f, head)
	f.Close()
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte(sqliteHeader)) {
		return openDatabase(ctx, path, now)
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte(bom)), " \t\r\n")
	if len(text) == 0 {
		return nil, "", fmt.Errorf("%s is empty", path)
	}
	var format Format
	switch text[0] {
	case '{', '[':
		format = JSONL
	default:
		cr := csv.NewReader(bufio.NewReader(bytes.NewReader(text)))
		cols, err := cr.Read()
		if err != nil || len(missingColumns(cols)) > 0 {
			return nil, "", errors.New("not a file Token Stats can import: it imports its own CSV and JSONL " +
				"exports (a CSV needs a header naming timestamp, account_email, model, input_tokens and " +
				"output_tokens), the origin design's token_stats.db and Antigravity-Manager's token_stats.db")
		}
		format = CSV
	}
	fr, err := openFile(path, now)
	if err != nil {
		return nil, "", err
	}
	if format == CSV {
		return csvReader{fr}, CSV, nil
	}
	return jsonlReader{fr}, JSONL, nil
}
