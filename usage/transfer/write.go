// Package transfer moves usage records in and out of Token Stats as files: it writes Token Stats' CSV
// and JSONL exports (and CSV of the tables and trends), and reads them back together with the token
// statistics databases of the origin design's gcli2api module and of Antigravity-Manager, detecting
// which one a file is. Every record it reads goes through usage.DecodeRecords or stats.Record.Validate
// and is stored with Kind stats.KindImport. docs/export-import.md describes the formats.
package transfer

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// Format is a kind of file: one of Token Stats' exports or another tool's database.
type Format string

const (
	CSV           Format = "csv"   // Token Stats' CSV export (RFC 4180, UTF-8)
	JSONL         Format = "jsonl" // Token Stats' JSONL export: one POST /usage record per line
	OriginDB      Format = "gcli2api-db"
	AntigravityDB Format = "antigravity-manager-db"
)

// Name is how a report names the format.
func (f Format) Name() string {
	switch f {
	case CSV:
		return "Token Stats CSV"
	case JSONL:
		return "Token Stats JSONL"
	case OriginDB:
		return "gcli2api token_stats.db (the origin design's module)"
	case AntigravityDB:
		return "Antigravity-Manager token_stats.db"
	}
	return string(f)
}

// ParseExportFormat reads the format of an export: "csv" or "jsonl".
func ParseExportFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case CSV, JSONL:
		return f, nil
	}
	return "", fmt.Errorf("format must be csv or jsonl, not %.20q", s)
}

// Columns are the fields of an exported record: the CSV header, in this order, and the keys of every
// JSONL line. They are POST /usage's fields, so a line is a record POST /usage and import accept;
// total_tokens and estimated_cost_usd are written for people and ignored when read back (the store
// computes both).
var Columns = []string{"timestamp", "account_email", "model", "input_tokens", "output_tokens",
	"total_tokens", "cached_tokens", "reasoning_tokens", "cache_creation_tokens", "credential_file",
	"is_antigravity", "source", "request_id", "agent_cost_usd", "estimated_cost_usd"}

// bom is the UTF-8 byte order mark. Excel reads a CSV file without it in the system's legacy code page,
// which turns Chinese names into mojibake; with it every spreadsheet reads UTF-8.
const bom = "\uFEFF"

// Writer writes exported records as CSV or JSONL.
type Writer struct {
	f   Format
	loc *time.Location
	buf *bufio.Writer
	csv *csv.Writer
	row []string
	enc *json.Encoder
}

// NewWriter starts an export in format f to w: a CSV export begins with the byte order mark when
// withBOM is set, then the header. Times are written in loc. Close flushes it.
func NewWriter(w io.Writer, f Format, loc *time.Location, withBOM bool) (*Writer, error) {
	ew := &Writer{f: f, loc: loc, buf: bufio.NewWriterSize(w, 64<<10)}
	switch f {
	case CSV:
		if withBOM {
			ew.buf.WriteString(bom)
		}
		ew.csv = csv.NewWriter(ew.buf)
		ew.csv.UseCRLF = true // RFC 4180
		ew.row = make([]string, len(Columns))
		if err := ew.csv.Write(Columns); err != nil {
			return nil, fmt.Errorf("write header: %w", err)
		}
	case JSONL:
		ew.enc = json.NewEncoder(ew.buf)
		ew.enc.SetEscapeHTML(false)
	default:
		return nil, fmt.Errorf("cannot write %s", f.Name())
	}
	return ew, nil
}

// Write writes one record.
func (w *Writer) Write(r *stats.ExportedRecord) error {
	if w.csv != nil {
		row := w.row
		row[0] = timeText(r.Time, w.loc)
		row[1], row[2] = cell(r.Account), cell(r.Model)
		row[3], row[4] = itoa(r.InputTokens), itoa(r.OutputTokens)
		row[5] = itoa(r.TotalTokens())
		row[6], row[7], row[8] = itoa(r.CachedTokens), itoa(r.ReasoningTokens), itoa(r.CacheCreationTokens)
		row[9], row[10], row[11], row[12] = cell(r.Credential), strconv.FormatBool(r.IsAntigravity), cell(r.Source), cell(r.RequestID)
		row[13], row[14] = "", ""
		if r.HasAgentCost {
			row[13] = usdText(r.AgentCost)
		}
		if r.Priced {
			row[14] = usdText(r.Cost)
		}
		return w.csv.Write(row)
	}
	jr := jsonRecord(&r.Record, w.loc)
	if r.Priced {
		jr.Cost = json.RawMessage(usdText(r.Cost))
	}
	return w.enc.Encode(jr)
}

// Close writes out what is buffered.
func (w *Writer) Close() error {
	if w.csv != nil {
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return err
		}
	}
	return w.buf.Flush()
}

// wireRecord is a record as a JSONL line and POST /usage carry it, every field present.
type wireRecord struct {
	Timestamp     string          `json:"timestamp"`
	Account       string          `json:"account_email"`
	Model         string          `json:"model"`
	Input         int64           `json:"input_tokens"`
	Output        int64           `json:"output_tokens"`
	Total         int64           `json:"total_tokens"`
	Cached        int64           `json:"cached_tokens"`
	Reasoning     int64           `json:"reasoning_tokens"`
	CacheCreation int64           `json:"cache_creation_tokens"`
	Credential    string          `json:"credential_file"`
	IsAntigravity bool            `json:"is_antigravity"`
	Source        string          `json:"source"`
	RequestID     string          `json:"request_id"`
	AgentCost     json.RawMessage `json:"agent_cost_usd"`
	Cost          json.RawMessage `json:"estimated_cost_usd"`
}

var null = json.RawMessage("null")

func jsonRecord(r *stats.Record, loc *time.Location) wireRecord {
	jr := wireRecord{Timestamp: timeText(r.Time, loc), Account: r.Account, Model: r.Model,
		Input: r.InputTokens, Output: r.OutputTokens, Total: r.TotalTokens(), Cached: r.CachedTokens,
		Reasoning: r.ReasoningTokens, CacheCreation: r.CacheCreationTokens, Credential: r.Credential,
		IsAntigravity: r.IsAntigravity, Source: r.Source, RequestID: r.RequestID, AgentCost: null, Cost: null}
	if r.HasAgentCost {
		jr.AgentCost = json.RawMessage(usdText(r.AgentCost))
	}
	return jr
}

// MarshalBatch writes records as a JSON array that POST /usage and POST /stats/import accept.
func MarshalBatch(recs []stats.Record) ([]byte, error) {
	out := make([]wireRecord, len(recs))
	for i := range recs {
		out[i] = jsonRecord(&recs[i], time.UTC)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode records: %w", err)
	}
	return b, nil
}

// timeText is RFC 3339 in loc, exact to the second. An offset with seconds (some zones' local mean time)
// cannot be written in RFC 3339, so such a time is written in UTC.
func timeText(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	if _, off := t.Zone(); off%60 != 0 {
		t = t.UTC()
	}
	return t.Format(time.RFC3339)
}

// usdText writes money as a plain decimal number of dollars, exact to the nano-dollar: "0.0125".
func usdText(m stats.Money) string { return strings.TrimPrefix(m.String(), "$") }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// cell guards a text cell against spreadsheet formulas: a value that starts with = + - @ (or with the
// guard's own ') gets a leading ', which the CSV reader removes again, so names come back exactly.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@'", rune(s[0])) {
		return "'" + s
	}
	return s
}

// uncell undoes cell.
func uncell(s string) string { return strings.TrimPrefix(s, "'") }
