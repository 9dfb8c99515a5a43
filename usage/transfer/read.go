package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
)

// item is what a reader hands on: a record, or a skip saying why a row of the file is no record.
type item struct {
	rec  stats.Record
	at   string // where in the file: "line 12", "row 7"
	skip *Skip
}

// reader is one file being read.
type reader interface {
	// each calls fn with every record and skip of the file, in file order.
	each(ctx context.Context, fn func(*item) error) error
	// progress says how much of the file has been read, in bytes or rows, of how much.
	progress() (done, total int64)
	close() error
	notes() []string
}

// maxLine bounds one JSONL line or CSV record; a longer one is skipped.
const maxLine = 1 << 20

// derivedID gives a row of a file that carries no request id a stable one: the same row of the same file
// gets the same id on every import, so importing a file twice counts its rows once. The row's number is
// part of it, so two equal rows of one file (two requests alike to the second) both count.
func derivedID(prefix string, row int64, parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d", row)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:12])
}

// skipOf turns a decoding or validation error into a skip: the reason is the field (or what is wrong
// with the row), the message says where and the whole error.
func skipOf(err error, at string) *Skip {
	reason := "not a record"
	var fe *stats.FieldError
	if errors.As(err, &fe) {
		reason = fe.Field
	}
	return &Skip{At: at, Reason: reason, Msg: at + ": " + err.Error()}
}

// fileReader is what the text readers share: the file, how far it has been read, and the clock.
type fileReader struct {
	f     *os.File
	size  int64
	count countingReader
	now   time.Time
}

func openFile(path string, now time.Time) (*fileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	fr := &fileReader{f: f, size: st.Size(), now: now}
	fr.count.r = f
	return fr, nil
}

func (fr *fileReader) progress() (int64, int64) { return fr.count.n, fr.size }
func (fr *fileReader) close() error             { return fr.f.Close() }
func (fr *fileReader) notes() []string          { return nil }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decode reads one JSON record (or array of records) of an imported file through POST /usage's decoder.
// Unlike POST /usage, a file's record must say when it happened: "now" would put history at the time of
// the import.
func (fr *fileReader) decode(body []byte, at string, row int64, fn func(*item) error) error {
	var ts []struct {
		Timestamp json.RawMessage `json:"timestamp"`
	}
	probe := body
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		probe = append(append([]byte{'['}, body...), ']')
	}
	recs, err := usage.DecodeRecords(body, fr.now)
	if err == nil {
		if jerr := json.Unmarshal(probe, &ts); jerr == nil {
			for i, t := range ts {
				if len(t.Timestamp) == 0 || string(t.Timestamp) == "null" {
					err = &stats.FieldError{Index: i, Field: "timestamp", Msg: "is required in an imported file"}
					break
				}
			}
		}
	}
	if err != nil {
		return fn(&item{at: at, skip: skipOf(err, at)})
	}
	for i := range recs {
		r := &recs[i]
		if r.RequestID == "" {
			r.RequestID = derivedID("import:", row, strconv.Itoa(i), string(body))
		}
		r.Kind = stats.KindImport
		if err := fn(&item{rec: *r, at: at}); err != nil {
			return err
		}
	}
	return nil
}

// jsonlReader reads Token Stats' JSONL export: one record (or array) per line.
type jsonlReader struct{ *fileReader }

func (jr jsonlReader) each(ctx context.Context, fn func(*item) error) error {
	br := bufio.NewReaderSize(&jr.count, 64<<10)
	var line []byte
	for n := int64(1); ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line = line[:0]
		tooLong := false
		var err error
		for {
			var part []byte
			var more bool
			part, more, err = br.ReadLine()
			if len(line)+len(part) > maxLine {
				tooLong = true
			} else {
				line = append(line, part...)
			}
			if !more || err != nil {
				break
			}
		}
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read line %d: %w", n, err)
		}
		at := "line " + strconv.FormatInt(n, 10)
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte(bom))
		}
		switch {
		case tooLong:
			err = fn(&item{at: at, skip: &Skip{At: at, Reason: "line too long",
				Msg: fmt.Sprintf("a line is at most %d bytes", maxLine)}})
		case len(bytes.TrimSpace(line)) == 0:
			continue
		default:
			err = jr.decode(line, at, n, fn)
		}
		if err != nil {
			return err
		}
	}
}

// requiredColumns are what a CSV header must name to be Token Stats' CSV.
var requiredColumns = []string{"timestamp", "account_email", "model", "input_tokens", "output_tokens"}

// csvReader reads Token Stats' CSV export by its header, so columns may come in any order and
// unknown ones are ignored. Each row becomes the JSON record POST /usage reads, so both formats follow
// one set of rules.
type csvReader struct {
	*fileReader
}

// numberColumns hold JSON numbers; the others are strings (is_antigravity a boolean).
var numberColumns = map[string]bool{"input_tokens": true, "output_tokens": true, "cached_tokens": true,
	"reasoning_tokens": true, "cache_creation_tokens": true, "agent_cost_usd": true}

func (cr csvReader) each(ctx context.Context, fn func(*item) error) error {
	br := bufio.NewReaderSize(&cr.count, 64<<10)
	if b, err := br.Peek(len(bom)); err == nil && string(b) == bom {
		br.Discard(len(bom))
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return fmt.Errorf("read the CSV header: %w", err)
	}
	cols := make([]string, len(head))
	copy(cols, head)
	if missing := missingColumns(cols); len(missing) > 0 {
		return fmt.Errorf("the CSV header lacks %s", strings.Join(missing, ", "))
	}
	var obj bytes.Buffer
	for n := int64(1); ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row, err := r.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			at := "line " + strconv.Itoa(pe.StartLine)
			if err := fn(&item{at: at, skip: &Skip{At: at, Reason: "malformed CSV", Msg: pe.Error()}}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read CSV: %w", err)
		}
		line, _ := r.FieldPos(0)
		at := "line " + strconv.Itoa(line)
		if len(row) != len(cols) {
			err := fn(&item{at: at, skip: &Skip{At: at, Reason: "wrong number of fields",
				Msg: fmt.Sprintf("%d fields where the header has %d", len(row), len(cols))}})
			if err != nil {
				return err
			}
			continue
		}
		obj.Reset()
		csvObject(&obj, cols, row)
		if err := cr.decode(obj.Bytes(), at, n, fn); err != nil {
			return err
		}
	}
}

func missingColumns(cols []string) []string {
	var missing []string
	for _, want := range requiredColumns {
		found := false
		for _, c := range cols {
			found = found || c == want
		}
		if !found {
			missing = append(missing, want)
		}
	}
	return missing
}

// csvObject writes a CSV row as a JSON object: number columns as numbers when they are (otherwise as
// strings, which the decoder refuses by name), is_antigravity as a boolean, the rest as strings with
// the formula guard removed. Empty cells are left out, as absent fields.
func csvObject(b *bytes.Buffer, cols, row []string) {
	b.WriteByte('{')
	first := true
	for i, c := range cols {
		v := row[i]
		if v == "" || c == "total_tokens" || c == "estimated_cost_usd" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		key, _ := json.Marshal(c)
		b.Write(key)
		b.WriteByte(':')
		switch {
		case numberColumns[c] && isJSONNumber(v):
			b.WriteString(v)
		case c == "is_antigravity" && (v == "true" || v == "false"):
			b.WriteString(v)
		case c == "is_antigravity" && (v == "1" || v == "0"):
			b.WriteString(strconv.FormatBool(v == "1"))
		case c == "timestamp" && isJSONNumber(v) && !strings.ContainsAny(v, ".eE-"):
			b.WriteString(v)
		default:
			s, _ := json.Marshal(uncell(v))
			b.Write(s)
		}
	}
	b.WriteByte('}')
}

func isJSONNumber(s string) bool {
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}
