// Package stats is the domain of Token Stats: usage records, their validation, the SQLite store and every
// query the listener and the windows make. It knows nothing of HTTP or of the UI.
package stats

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Limits on what a record may carry. They keep one bad proxy from filling the disk with a single request.
const (
	MaxAccountLen    = 320
	MaxModelLen      = 256
	MaxRequestIDLen  = 128
	MaxCredentialLen = 1024
	MaxSourceLen     = 128
	// MaxFuture is how far ahead of the server clock a record's timestamp may be (clock skew between hosts).
	MaxFuture = 10 * time.Minute
	// MaxTokens bounds every token count: far beyond any real request, and sums of many stay inside int64.
	MaxTokens = 1 << 40
)

// Record is the usage of one request, as a proxy reports it, after normalisation.
type Record struct {
	Time                time.Time
	Account             string
	Model               string
	InputTokens         int64 // includes cached tokens
	OutputTokens        int64 // includes reasoning tokens
	CachedTokens        int64
	ReasoningTokens     int64
	CacheCreationTokens int64
	// Credential names the credential that served the request: a proxy's credential file, or the
	// irreversible fingerprint the pass-through makes of an API key ("key …a1b2"). Never the secret itself.
	Credential    string
	IsAntigravity bool
	RequestID     string // optional; a record whose id was stored before is a duplicate
	Source        string // which proxy or tool sent it (gcli2api, claude-code, litellm, …)
	// Kind is how the record arrived: KindPost, KindProxy, KindOTLP, … It is kept per source (the Sources
	// view shows it), not per record.
	Kind string
	// AgentCost is what the reporting tool itself said the request cost (Claude Code's cost_usd,
	// LiteLLM's response_cost), kept beside Token Stats' own estimate; HasAgentCost says it said anything.
	AgentCost    Money
	HasAgentCost bool
}

// Kinds of ingest path, as Record.Kind and the Sources view name them.
const (
	KindPost        = "post"        // POST /usage, the Go client, the CLI and the gcli2api drop-in
	KindProxy       = "proxy"       // the recording pass-through, /proxy/{upstream}/
	KindOTLP        = "otlp"        // OpenTelemetry logs, metrics or traces from an agent or app
	KindLiteLLM     = "litellm"     // LiteLLM's generic API logger
	KindCLIProxyAPI = "cliproxyapi" // CLIProxyAPI's usage queue
	KindImport      = "import"      // tokenstats import
)

// TotalTokens is input plus output: the one definition of "total" everywhere.
func (r Record) TotalTokens() int64 { return r.InputTokens + r.OutputTokens }

// FieldError says which field of a record is wrong. Index is the record's place in its batch, or -1.
type FieldError struct {
	Index int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("record %d: %s: %s", e.Index, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

// Validate checks a record against the limits; now is the server clock, for the future-timestamp rule.
func (r Record) Validate(now time.Time) error {
	strs := []struct {
		field, val string
		max        int
		required   bool
	}{
		{"account_email", r.Account, MaxAccountLen, true},
		{"model", r.Model, MaxModelLen, true},
		{"request_id", r.RequestID, MaxRequestIDLen, false},
		{"credential_file", r.Credential, MaxCredentialLen, false},
		{"source", r.Source, MaxSourceLen, false},
	}
	for _, s := range strs {
		if msg := checkString(s.val, s.max, s.required); msg != "" {
			return &FieldError{Index: -1, Field: s.field, Msg: msg}
		}
	}
	nums := []struct {
		field string
		val   int64
	}{
		{"input_tokens", r.InputTokens}, {"output_tokens", r.OutputTokens}, {"cached_tokens", r.CachedTokens},
		{"reasoning_tokens", r.ReasoningTokens}, {"cache_creation_tokens", r.CacheCreationTokens},
	}
	for _, n := range nums {
		if n.val < 0 {
			return &FieldError{Index: -1, Field: n.field, Msg: "must not be negative"}
		}
		if n.val > MaxTokens {
			return &FieldError{Index: -1, Field: n.field, Msg: fmt.Sprintf("must be at most %d", int64(MaxTokens))}
		}
	}
	// Input includes cached and cache-creation tokens and output includes reasoning (the normalisation
	// table's promise); counts that break it would make every derived figure, cost included, wrong.
	if r.CachedTokens > r.InputTokens {
		return &FieldError{Index: -1, Field: "cached_tokens", Msg: fmt.Sprintf(
			"(%d) exceed input_tokens (%d), which include them", r.CachedTokens, r.InputTokens)}
	}
	if r.CachedTokens+r.CacheCreationTokens > r.InputTokens {
		return &FieldError{Index: -1, Field: "cache_creation_tokens", Msg: fmt.Sprintf(
			"(%d) plus cached_tokens (%d) exceed input_tokens (%d), which include both",
			r.CacheCreationTokens, r.CachedTokens, r.InputTokens)}
	}
	if r.ReasoningTokens > r.OutputTokens {
		return &FieldError{Index: -1, Field: "reasoning_tokens", Msg: fmt.Sprintf(
			"(%d) exceed output_tokens (%d), which include them", r.ReasoningTokens, r.OutputTokens)}
	}
	if r.Time.IsZero() || r.Time.Unix() < 0 {
		return &FieldError{Index: -1, Field: "timestamp", Msg: "must be a time after 1970-01-01"}
	}
	if r.Time.After(now.Add(MaxFuture)) {
		return &FieldError{Index: -1, Field: "timestamp", Msg: "is more than 10 minutes in the future"}
	}
	switch r.Kind {
	case "", KindPost, KindProxy, KindOTLP, KindLiteLLM, KindCLIProxyAPI, KindImport:
	default:
		return &FieldError{Index: -1, Field: "kind", Msg: fmt.Sprintf("%.20q is not a known ingest path", r.Kind)}
	}
	if r.HasAgentCost && (r.AgentCost < 0 || r.AgentCost > maxMoneyUSD*NanosPerUSD) {
		return &FieldError{Index: -1, Field: "agent_cost", Msg: fmt.Sprintf("must be from 0 to %d USD", maxMoneyUSD)}
	}
	return nil
}

// A Pricer estimates what one record cost. ok is false when its model has no price: the record is then
// unpriced, counted as such and never as $0. The store calls it from its one writer goroutine.
type Pricer interface {
	Price(r *Record) (cost Money, ok bool)
}

func checkString(s string, max int, required bool) string {
	if s == "" {
		if required {
			return "is required and must not be empty"
		}
		return ""
	}
	if len(s) > max {
		return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(s), max)
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return "must not contain control characters"
		}
	}
	return ""
}

// nameOfDim is the record's name of a dimension.
func nameOfDim(r *Record, d Dimension) string { return *r.nameField(d) }

// nameField is the record's field holding its name of dimension d (the model for no dimension).
func (r *Record) nameField(d Dimension) *string {
	switch d {
	case ByAccount:
		return &r.Account
	case BySource:
		return &r.Source
	case ByCredential:
		return &r.Credential
	}
	return &r.Model
}
