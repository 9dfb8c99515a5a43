package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
)

// MaxBatch is the most records one POST /usage body may carry.
const MaxBatch = 10000

// wireRecord is a record as JSON carries it. Numbers arrive raw so that fractions, signs, strings and
// overflow are told apart and named, rather than silently rounded or zeroed.
type wireRecord struct {
	Account       *string         `json:"account_email"`
	Model         *string         `json:"model"`
	Input         json.RawMessage `json:"input_tokens"`
	Output        json.RawMessage `json:"output_tokens"`
	Cached        json.RawMessage `json:"cached_tokens"`
	Reasoning     json.RawMessage `json:"reasoning_tokens"`
	CacheCreation json.RawMessage `json:"cache_creation_tokens"`
	Credential    *string         `json:"credential_file"`
	IsAntigravity *bool           `json:"is_antigravity"`
	Timestamp     json.RawMessage `json:"timestamp"`
	RequestID     *string         `json:"request_id"`
	Source        *string         `json:"source"`
	// AgentCost is what the reporting tool itself said the request cost, in US dollars.
	AgentCost json.RawMessage `json:"agent_cost_usd"`
	// Provider-native usage, normalised by the server (docs/usage-normalization.md): the usage object as
	// the upstream returned it, or a whole response body or final stream event; provider is optional.
	Usage    json.RawMessage `json:"usage"`
	Response json.RawMessage `json:"response"`
	Provider *string         `json:"provider"`
}

// DecodeRecords parses and validates a POST /usage body: one JSON object or an array of up to MaxBatch.
// Any error names the record's index (in an array) and the field; on error no record is returned.
func DecodeRecords(body []byte, now time.Time) ([]stats.Record, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, errors.New("empty body: send a JSON object or an array of objects")
	}
	if !utf8.Valid(body) {
		return nil, errors.New("body is not valid UTF-8")
	}
	if loneSurrogate(body) {
		// encoding/json would store it as U+FFFD without a word.
		return nil, errors.New(`body has a \u escape of a lone UTF-16 surrogate, which is not valid Unicode`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var recs []stats.Record
	one := func(index int) error {
		var wr wireRecord
		if err := dec.Decode(&wr); err != nil {
			return decodeError(index, err)
		}
		rec, err := wr.record(now)
		if err != nil {
			var fe *stats.FieldError
			if errors.As(err, &fe) {
				fe.Index = index
			}
			return err
		}
		recs = append(recs, rec)
		return nil
	}
	switch trimmed[0] {
	case '{':
		if err := one(-1); err != nil {
			return nil, err
		}
	case '[':
		if _, err := dec.Token(); err != nil {
			return nil, decodeError(-1, err)
		}
		for i := 0; dec.More(); i++ {
			if i >= MaxBatch {
				return nil, fmt.Errorf("a batch holds at most %d records; split it", MaxBatch)
			}
			if err := one(i); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, decodeError(-1, err)
		}
		if len(recs) == 0 {
			return nil, errors.New("empty array: send at least one record")
		}
	default:
		return nil, errors.New("body must be a JSON object or an array of objects")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return recs, nil
}

// loneSurrogate reports whether JSON text holds a \uD800–\uDFFF escape that is not half of a
// high-low pair. Backslashes occur only inside strings, so no string tracking is needed.
func loneSurrogate(b []byte) bool {
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		next := i + 2 // past a two-byte escape such as \\ or \n
		if b[i+1] == 'u' {
			r, ok := hex4(b[i+2:])
			next = i + 6
			switch {
			case !ok:
				return false // malformed: the decoder says so
			case r >= 0xDC00 && r <= 0xDFFF:
				return true
			case r >= 0xD800 && r <= 0xDBFF:
				if len(b) < i+12 || b[i+6] != '\\' || b[i+7] != 'u' {
					return true
				}
				if lo, ok := hex4(b[i+8:]); !ok || lo < 0xDC00 || lo > 0xDFFF {
					return true
				}
				next = i + 12
			}
		}
		j := bytes.IndexByte(b[min(next, len(b)):], '\\')
		if j < 0 {
			return false
		}
		i = min(next, len(b)) + j
	}
	return false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// RecordError is a refusal of one record of a batch that is not about one field (the record is not
// JSON, or not an object). Field errors are *stats.FieldError, whose Index says the same.
type RecordError struct {
	Index int
	Msg   string
}

func (e *RecordError) Error() string { return fmt.Sprintf("record %d: %s", e.Index, e.Msg) }

// RecordIndex tells which record of a batch an error refuses, when it is about one.
func RecordIndex(err error) (int, bool) {
	var fe *stats.FieldError
	if errors.As(err, &fe) && fe.Index >= 0 {
		return fe.Index, true
	}
	var re *RecordError
	if errors.As(err, &re) {
		return re.Index, true
	}
	return 0, false
}

func decodeError(index int, err error) error {
	var msg string
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		msg = fmt.Sprintf("%s: must be a %s, not a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &te):
		msg = fmt.Sprintf("must be a JSON object, not a JSON %s", te.Value)
	case errors.As(err, &se):
		msg = fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		msg = "JSON ends too early (truncated?)"
	default:
		msg = err.Error()
	}
	if index >= 0 {
		return &RecordError{Index: index, Msg: msg}
	}
	return errors.New("body: " + msg)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "bool":
		return "boolean"
	case "ptr", "string":
		return "string"
	}
	return goKind
}

func (wr *wireRecord) record(now time.Time) (stats.Record, error) {
	rec := stats.Record{IsAntigravity: true}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	rec.Account, rec.Model = str(wr.Account), str(wr.Model)
	rec.Credential, rec.RequestID, rec.Source = str(wr.Credential), str(wr.RequestID), str(wr.Source)
	if wr.IsAntigravity != nil {
		rec.IsAntigravity = *wr.IsAntigravity
	}
	native, hasNative, err := wr.nativeUsage()
	if err != nil {
		return rec, err
	}
	counts := []struct {
		field    string
		raw      json.RawMessage
		dst      *int64
		required bool
	}{
		{"input_tokens", wr.Input, &rec.InputTokens, true},
		{"output_tokens", wr.Output, &rec.OutputTokens, true},
		{"cached_tokens", wr.Cached, &rec.CachedTokens, false},
		{"reasoning_tokens", wr.Reasoning, &rec.ReasoningTokens, false},
		{"cache_creation_tokens", wr.CacheCreation, &rec.CacheCreationTokens, false},
	}
	if hasNative {
		rec.InputTokens, rec.OutputTokens, rec.CachedTokens = native.InputTokens, native.OutputTokens, native.CachedTokens
		rec.ReasoningTokens, rec.CacheCreationTokens = native.ReasoningTokens, native.CacheCreationTokens
	}
	// Explicit token fields win over usage/response, field by field.
	for _, c := range counts {
		v, present, err := parseCount(c.raw)
		if err != nil {
			return rec, &stats.FieldError{Index: -1, Field: c.field, Msg: err.Error()}
		}
		if !present {
			if c.required && !hasNative {
				return rec, &stats.FieldError{Index: -1, Field: c.field, Msg: "is required (or send usage or response)"}
			}
			continue
		}
		*c.dst = v
	}
	if present(wr.AgentCost) {
		if rec.AgentCost, err = parseUSD(wr.AgentCost); err != nil {
			return rec, &stats.FieldError{Index: -1, Field: "agent_cost_usd", Msg: err.Error()}
		}
		rec.HasAgentCost = true
	}
	ts, err := parseTimestamp(wr.Timestamp, now)
	if err != nil {
		return rec, &stats.FieldError{Index: -1, Field: "timestamp", Msg: err.Error()}
	}
	rec.Time = ts
	if err := rec.Validate(now); err != nil {
		return rec, err
	}
	return rec, nil
}

// nativeUsage normalises the record's usage or response member, when it has one.
func (wr *wireRecord) nativeUsage() (Counts, bool, error) {
	provider := ""
	if wr.Provider != nil && *wr.Provider == "" {
		wr.Provider = nil // "" is "not known": recognise the shape
	}
	if wr.Provider != nil {
		provider = *wr.Provider
		if !ValidProvider(provider) {
			return Counts{}, false, &stats.FieldError{Index: -1, Field: "provider",
				Msg: fmt.Sprintf("unknown provider %q: use one of %s", clip(provider), strings.Join(Providers, ", "))}
		}
	}
	hasUsage, hasResponse := present(wr.Usage), present(wr.Response)
	field, raw := "usage", wr.Usage
	switch {
	case hasUsage && hasResponse:
		return Counts{}, false, &stats.FieldError{Index: -1, Field: "usage", Msg: "send either usage or response, not both"}
	case hasResponse:
		field, raw = "response", wr.Response
	case !hasUsage:
		if wr.Provider != nil {
			return Counts{}, false, &stats.FieldError{Index: -1, Field: "provider", Msg: "only applies together with usage or response"}
		}
		return Counts{}, false, nil
	}
	u, err := Normalize(raw, provider)
	if err != nil {
		return Counts{}, false, &stats.FieldError{Index: -1, Field: field, Msg: err.Error()}
	}
	return u, true, nil
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// parseCount reads an optional token count with the one rule of ParseCount.
func parseCount(raw json.RawMessage) (int64, bool, error) {
	if !present(raw) {
		return 0, false, nil
	}
	v, err := ParseCount(raw)
	return v, true, err
}

// parseTimestamp reads unix seconds (a whole number) or an RFC 3339 string; absent means now.
func parseTimestamp(raw json.RawMessage, now time.Time) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return now, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, errors.New("must be unix seconds or an RFC 3339 string")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-01-22T16:04:05Z", clip(s))
		}
		return t.Truncate(time.Second), nil
	}
	if raw[0] == '-' {
		return time.Time{}, errors.New("must not be negative")
	}
	if !allDigits(raw) {
		return time.Time{}, errors.New("must be whole unix seconds or an RFC 3339 string")
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	switch {
	case err != nil || n >= 100_000_000_000_000:
		return time.Time{}, errors.New("is too large for unix seconds")
	case n >= 100_000_000_000: // year 5138 in seconds, but 1973 onwards in milliseconds
		return time.Time{}, errors.New("looks like milliseconds; send unix seconds")
	}
	return time.Unix(n, 0), nil
}
