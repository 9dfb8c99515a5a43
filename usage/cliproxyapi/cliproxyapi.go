// Package cliproxyapi turns the usage records CLIProxyAPI's management API hands out
// (GET /v0/management/usage-queue?count=N, a destructive pop of the oldest records as a JSON array)
// into stats.Records. It is a pure decoder: bytes in, records out; the poller lives elsewhere.
package cliproxyapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
	"github.com/tokenstats/tokenstats/usage/internal/ingest"
)

const (
	// QueuePath is the management route that pops usage records; count=N pops up to N (default 1).
	QueuePath = "/v0/management/usage-queue"
	// Source is the Source of every record.
	Source = "cliproxyapi"
	// UnknownAccount stands in when a record names no account, key or credential.
	UnknownAccount = "unknown"
	// MaxBodyBytes bounds one answer of the queue.
	MaxBodyBytes = 32 << 20
)

// Result is what one answer of the queue yields. The records were popped for good, so a record that
// cannot be stored is counted, never an error that would drop the others.
type Result struct {
	Records []stats.Record
	// Ignored counts records that are not usage, by reason (failed requests without tokens).
	Ignored map[string]int
	// Rejected counts records that carry usage but cannot be stored, by reason.
	Rejected map[string]int
}

// queued holds the fields of a queue record Token Stats reads (internal/redisqueue/plugin.go,
// queuedUsageDetail and requestDetail).
type queued struct {
	Timestamp time.Time `json:"timestamp"`
	Source    string    `json:"source"`
	AuthIndex string    `json:"auth_index"`
	Tokens    struct {
		Input            int64 `json:"input_tokens"`
		Output           int64 `json:"output_tokens"`
		Reasoning        int64 `json:"reasoning_tokens"`
		Cached           int64 `json:"cached_tokens"`
		CacheRead        int64 `json:"cache_read_tokens"`
		CacheReadPresent bool  `json:"cache_read_tokens_present"`
		CacheCreation    int64 `json:"cache_creation_tokens"`
		Total            int64 `json:"total_tokens"`
	} `json:"tokens"`
	Failed         bool           `json:"failed"`
	TokenBreakdown tokenBreakdown `json:"token_breakdown"`
	Provider       string         `json:"provider"`
	ExecutorType   string         `json:"executor_type"`
	Model          string         `json:"model"`
	APIKey         string         `json:"api_key"`
	RequestID      string         `json:"request_id"`
}

// tokenBreakdown is CLIProxyAPI's canonical accounting (sdk/cliproxy/usage/accounting.go, schema 2):
// mutually exclusive buckets whose totals are Token Stats' input and output.
type tokenBreakdown struct {
	SchemaVersion int    `json:"schema_version"`
	Quality       string `json:"quality"`
	Input         struct {
		Total      int64 `json:"total_tokens"`
		Uncached   int64 `json:"uncached_tokens"`
		CacheRead  int64 `json:"cache_read_tokens"`
		CacheWrite int64 `json:"cache_write_tokens"`
	} `json:"input"`
	Output struct {
		Total        int64 `json:"total_tokens"`
		NonReasoning int64 `json:"non_reasoning_tokens"`
		Reasoning    int64 `json:"reasoning_tokens"`
	} `json:"output"`
}

// Decode reads an answer of the usage queue: a JSON array of records. now is the server clock, for
// Validate.
func Decode(body []byte, now time.Time) (Result, error) {
	if len(body) > MaxBodyBytes {
		return Result{}, fmt.Errorf("cliproxyapi: body is larger than %d MiB", MaxBodyBytes>>20)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return Result{}, fmt.Errorf("cliproxyapi: the usage queue did not answer a JSON array: %w", err)
	}
	var res Result
	for _, raw := range items {
		rec, ignore, reject := record(raw)
		switch {
		case ignore != "":
			count(&res.Ignored, ignore)
		case reject != "":
			count(&res.Rejected, reject)
		default:
			if err := rec.Validate(now); err != nil {
				count(&res.Rejected, err.Error())
				continue
			}
			res.Records = append(res.Records, rec)
		}
	}
	return res, nil
}

func count(m *map[string]int, reason string) {
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[reason]++
}

func record(raw json.RawMessage) (rec stats.Record, ignore, reject string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		// The management handler writes an item that is not valid JSON as a JSON string.
		return rec, "", "record is not a JSON object"
	}
	var q queued
	if err := json.Unmarshal(raw, &q); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return rec, "", "record: " + te.Field + " has the wrong type"
		}
		var pe *time.ParseError
		if errors.As(err, &pe) {
			return rec, "", "record: timestamp is not an RFC 3339 time"
		}
		return rec, "", "record is malformed"
	}
	t := q.tokens()
	if t.input == 0 && t.output == 0 {
		if q.Failed {
			return rec, "failed request without tokens", ""
		}
		return rec, "request without token counts", ""
	}
	if t.cached > t.input || t.cacheCreation > t.input || t.reasoning > t.output || t.input < 0 || t.output < 0 {
		return rec, "", "token counts are inconsistent"
	}
	if q.Timestamp.IsZero() {
		return rec, "", "record has no timestamp"
	}
	rec = stats.Record{
		Time:                q.Timestamp.UTC(),
		Account:             q.account(),
		Model:               ingest.Clean(q.Model, stats.MaxModelLen),
		InputTokens:         t.input,
		OutputTokens:        t.output,
		CachedTokens:        t.cached,
		ReasoningTokens:     t.reasoning,
		CacheCreationTokens: t.cacheCreation,
		Source:              Source,
		Kind:                stats.KindCLIProxyAPI,
	}
	if q.AuthIndex != "" {
		rec.Credential = ingest.Clean("auth "+q.AuthIndex, stats.MaxCredentialLen)
	}
	// request_id is 8 random hex digits (internal/logging/requestid.go), and one request can publish two
	// records (Codex's image tool adds one for its model): the record's own bytes make the id unique.
	// The queue hands each record out once, so no retry resends it.
	sum := sha256.Sum256(raw)
	if q.RequestID != "" {
		rec.RequestID = ingest.RequestID("cliproxyapi", q.RequestID, hex.EncodeToString(sum[:8]))
	} else {
		rec.RequestID = ingest.RequestID("cliproxyapi", hex.EncodeToString(sum[:8]))
	}
	return rec, "", ""
}

type tokens struct{ input, output, cached, reasoning, cacheCreation int64 }

// tokens normalises a record so that input includes cached and output includes reasoning.
//
// The canonical token_breakdown says it directly when CLIProxyAPI could classify the record
// (quality complete, or unclassified with classified buckets beside a remainder, which Token Stats
// leaves out: its total is input plus output). Otherwise the raw tokens are read by provider the way
// CLIProxyAPI's own accounting does (tokenAccountingSemanticsFor): Claude records give uncached input
// with cache reads and writes beside it; Gemini-family records give reasoning beside output; OpenAI,
// Codex and the rest count cached inside input and reasoning inside output.
func (q queued) tokens() tokens {
	b := q.TokenBreakdown
	if b.SchemaVersion == 2 && (b.Quality == "complete" || b.Quality == "unclassified") &&
		b.Input.Total == b.Input.Uncached+b.Input.CacheRead+b.Input.CacheWrite &&
		b.Output.Total == b.Output.NonReasoning+b.Output.Reasoning &&
		b.Input.Total+b.Output.Total > 0 {
		return tokens{input: b.Input.Total, output: b.Output.Total, cached: b.Input.CacheRead,
			cacheCreation: b.Input.CacheWrite, reasoning: b.Output.Reasoning}
	}
	k := q.Tokens
	read := k.Cached
	if k.CacheReadPresent {
		read = k.CacheRead
	}
	t := tokens{input: k.Input, output: k.Output, cached: read, cacheCreation: k.CacheCreation, reasoning: k.Reasoning}
	switch semantics(q.Provider, q.ExecutorType) {
	case "independent":
		t.input += read + k.CacheCreation
	case "separate-reasoning":
		t.output += k.Reasoning
	}
	// A provider CLIProxyAPI does not know: counts that do not fit inside input and output evidently
	// lie beside them.
	if t.cached+t.cacheCreation > t.input {
		t.input += t.cached + t.cacheCreation
	}
	if t.reasoning > t.output {
		t.output += t.reasoning
	}
	return t
}

// semantics mirrors how CLIProxyAPI classifies a provider and executor
// (sdk/cliproxy/usage/accounting.go, tokenAccountingSemanticsFor).
func semantics(provider, executor string) string {
	p := strings.ToLower(strings.TrimSpace(provider))
	e := strings.ToLower(strings.TrimSpace(executor))
	v := p + " " + e
	switch {
	case e == "openaicompatexecutor" || p == "openai-compatibility" || strings.HasPrefix(p, "openai-compatible-"):
		return "subset"
	case strings.Contains(v, "claude") || strings.Contains(v, "anthropic"):
		return "independent"
	}
	for _, m := range []string{"gemini", "aistudio", "antigravity", "vertex", "interaction"} {
		if strings.Contains(v, m) {
			return "separate-reasoning"
		}
	}
	return "subset"
}

// account is who the request ran as: the OAuth account's e-mail when CLIProxyAPI names one in source.
// Otherwise source holds an API key, the upstream's or the client's, or a Vertex project id, which
// cannot be told apart, so it is fingerprinted; then the client's api_key; then the credential.
func (q queued) account() string {
	src := strings.TrimSpace(q.Source)
	switch {
	case strings.Contains(src, "@") && !strings.ContainsAny(src, " \t"):
		if s := ingest.Clean(src, stats.MaxAccountLen); s != "" {
			return s
		}
	case src != "":
		return usage.KeyFingerprint(src)
	case strings.TrimSpace(q.APIKey) != "":
		return usage.KeyFingerprint(q.APIKey)
	case q.AuthIndex != "":
		return ingest.Clean("auth "+q.AuthIndex, stats.MaxAccountLen)
	}
	return UnknownAccount
}
