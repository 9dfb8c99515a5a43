// Package litellm turns what LiteLLM's generic API logger (callback type generic_api) posts into
// stats.Records: a JSON array of StandardLoggingPayload objects (its default log_format json_array),
// NDJSON (log_format ndjson), or one object per request (log_format single). LiteLLM labels every one
// of them application/json, so the shape is told from the content. It is a pure decoder: bytes in,
// records out.
package litellm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
	"github.com/tokenstats/tokenstats/usage/internal/ingest"
)

const (
	// Source is the Source of every record.
	Source = "litellm"
	// MaxBodyBytes bounds one body. LiteLLM sends up to batch_size (default 100) payloads at once,
	// each with the request's messages and the response unless message logging is turned off.
	MaxBodyBytes = 32 << 20
	// UnknownAccount and UnknownModel stand in when a payload names no key, user or team, or no model.
	UnknownAccount = "unknown"
	UnknownModel   = "unknown"
)

// Result is what one body yields.
type Result struct {
	Records []stats.Record
	// Ignored counts payloads that are not usage, by reason (failed calls without tokens, cache hits).
	Ignored map[string]int
	// Rejected counts payloads that carry usage but cannot be stored, by reason.
	Rejected map[string]int
}

// payload holds the StandardLoggingPayload fields Token Stats reads (litellm/types/utils.py).
type payload struct {
	ID               string          `json:"id"`
	CallID           string          `json:"litellm_call_id"`
	Status           string          `json:"status"`
	Model            string          `json:"model"`
	ModelGroup       string          `json:"model_group"`
	PromptTokens     json.RawMessage `json:"prompt_tokens"`
	CompletionTokens json.RawMessage `json:"completion_tokens"`
	ResponseCost     json.RawMessage `json:"response_cost"`
	CostFailure      json.RawMessage `json:"response_cost_failure_debug_info"`
	StartTime        json.RawMessage `json:"startTime"`
	EndTime          json.RawMessage `json:"endTime"`
	CacheHit         *bool           `json:"cache_hit"`
	EndUser          string          `json:"end_user"`
	Metadata         struct {
		UserEmail   string          `json:"user_api_key_user_email"`
		KeyAlias    string          `json:"user_api_key_alias"`
		TeamAlias   string          `json:"user_api_key_team_alias"`
		TeamAlias2  string          `json:"team_alias"`
		UserID      string          `json:"user_api_key_user_id"`
		UsageObject json.RawMessage `json:"usage_object"`
	} `json:"metadata"`
	HiddenParams struct {
		ModelName   string          `json:"litellm_model_name"`
		UsageObject json.RawMessage `json:"usage_object"`
	} `json:"hidden_params"`
}

// usageObject is LiteLLM's Usage (an OpenAI chat usage object) as model_dump writes it, with the
// Anthropic cache fields LiteLLM keeps beside it.
type usageObject struct {
	PromptTokens        json.RawMessage `json:"prompt_tokens"`
	CompletionTokens    json.RawMessage `json:"completion_tokens"`
	CacheReadInput      json.RawMessage `json:"cache_read_input_tokens"`
	CacheCreationInput  json.RawMessage `json:"cache_creation_input_tokens"`
	PromptTokensDetails struct {
		Cached        json.RawMessage `json:"cached_tokens"`
		CacheCreation json.RawMessage `json:"cache_creation_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		Reasoning json.RawMessage `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// Decode reads a body LiteLLM's generic API logger posted. A body that is not JSON, or not objects, is
// an error; a payload that cannot be used is counted in Rejected or Ignored and the others are kept,
// because LiteLLM does not send a refused batch again. now is the server clock, for Validate.
func Decode(body []byte, now time.Time) (Result, error) {
	if len(body) > MaxBodyBytes {
		return Result{}, fmt.Errorf("litellm: body is larger than %d MiB", MaxBodyBytes>>20)
	}
	items, err := split(body)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for _, raw := range items {
		var p payload
		if err := json.Unmarshal(raw, &p); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				res.count(&res.Rejected, "payload: "+te.Field+" has the wrong type")
				continue
			}
			return Result{}, fmt.Errorf("litellm: malformed payload: %w", err)
		}
		rec, ignore, reject := p.record()
		switch {
		case ignore != "":
			res.count(&res.Ignored, ignore)
		case reject != "":
			res.count(&res.Rejected, reject)
		default:
			if err := rec.Validate(now); err != nil {
				res.count(&res.Rejected, err.Error())
				continue
			}
			res.Records = append(res.Records, rec)
		}
	}
	return res, nil
}

func (r *Result) count(m *map[string]int, reason string) {
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[reason]++
}

// split tells the body's shape from its content: a JSON array, or one or more objects (a single
// payload, or NDJSON).
func split(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimLeft(body, " \t\r\n\ufeff")
	if len(body) == 0 {
		return nil, errors.New("litellm: body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var items []json.RawMessage
	if body[0] == '[' {
		if err := dec.Decode(&items); err != nil {
			return nil, fmt.Errorf("litellm: malformed JSON array: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("litellm: malformed body: data after the JSON array")
		}
	} else {
		for {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("litellm: malformed JSON (one object, an array or NDJSON expected): %w", err)
			}
			items = append(items, raw)
		}
	}
	for i, raw := range items {
		if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '{' {
			return nil, fmt.Errorf("litellm: item %d is not a JSON object", i)
		}
	}
	return items, nil
}

// record maps one payload. It says why when the payload is not a record: ignore for what is not
// usage, reject for usage that cannot be used.
func (p payload) record() (rec stats.Record, ignore, reject string) {
	u := p.usage()
	in, err := count(p.PromptTokens, u.PromptTokens)
	if err != nil {
		return rec, "", "prompt_tokens: " + err.Error()
	}
	out, err := count(p.CompletionTokens, u.CompletionTokens)
	if err != nil {
		return rec, "", "completion_tokens: " + err.Error()
	}
	cached, err := count(u.PromptTokensDetails.Cached, u.CacheReadInput)
	if err != nil {
		return rec, "", "usage_object cached tokens: " + err.Error()
	}
	created, err := count(u.PromptTokensDetails.CacheCreation, u.CacheCreationInput)
	if err != nil {
		return rec, "", "usage_object cache creation tokens: " + err.Error()
	}
	reasoning, err := count(u.CompletionTokensDetails.Reasoning, nil)
	if err != nil {
		return rec, "", "usage_object reasoning tokens: " + err.Error()
	}
	if p.Status != "" && p.Status != "success" && in == 0 && out == 0 {
		return rec, "failed call without tokens", ""
	}
	if p.CacheHit != nil && *p.CacheHit {
		return rec, "LiteLLM cache hit (no upstream call)", ""
	}
	// LiteLLM's usage is OpenAI's: prompt_tokens includes cache reads and writes, completion_tokens
	// includes reasoning. Releases whose Anthropic mapping added only cache reads to prompt_tokens
	// leave the writes out; when the cache counts do not fit, the prompt count evidently excludes them
	// and they are added.
	if cached+created > in {
		if cached <= in {
			in += created
		} else {
			in += cached + created
		}
	}
	if reasoning > out {
		out += reasoning
	}
	at, ok := epoch(p.StartTime)
	if !ok {
		if at, ok = epoch(p.EndTime); !ok {
			return rec, "", "startTime: is missing or not a time"
		}
	}
	rec = stats.Record{
		Time:                at,
		Account:             p.account(),
		Model:               p.model(),
		InputTokens:         in,
		OutputTokens:        out,
		CachedTokens:        cached,
		ReasoningTokens:     reasoning,
		CacheCreationTokens: created,
		RequestID:           p.requestID(),
		Source:              Source,
		Kind:                stats.KindLiteLLM,
	}
	rec.AgentCost, rec.HasAgentCost = p.cost()
	return rec, "", ""
}

// usage is the usage object LiteLLM logged: metadata.usage_object, else hidden_params.usage_object.
func (p payload) usage() usageObject {
	var u usageObject
	for _, raw := range []json.RawMessage{p.Metadata.UsageObject, p.HiddenParams.UsageObject} {
		if len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &u) == nil {
			return u
		}
	}
	return u
}

// count reads the first present of raws as a token count; absent or null everywhere is 0.
func count(raws ...json.RawMessage) (int64, error) {
	for _, raw := range raws {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		return usage.ParseCount(raw)
	}
	return 0, nil
}

// epoch reads a float of seconds since 1970 (LiteLLM's startTime), to the microsecond.
func epoch(raw json.RawMessage) (time.Time, bool) {
	var f float64
	if json.Unmarshal(raw, &f) != nil || f <= 0 || math.IsInf(f, 0) || f > 1e11 {
		return time.Time{}, false
	}
	return time.UnixMicro(int64(math.Round(f * 1e6))).UTC(), true
}

func (p payload) account() string {
	for _, s := range []string{p.Metadata.UserEmail, p.Metadata.KeyAlias, p.Metadata.TeamAlias, p.Metadata.TeamAlias2,
		p.Metadata.UserID, p.EndUser} {
		if s = ingest.Clean(s, stats.MaxAccountLen); s != "" {
			return s
		}
	}
	return UnknownAccount
}

func (p payload) model() string {
	for _, s := range []string{p.Model, p.ModelGroup, p.HiddenParams.ModelName} {
		if s = ingest.Clean(s, stats.MaxModelLen); s != "" {
			return s
		}
	}
	return UnknownModel
}

// requestID is litellm_call_id (a UUID per call), else the response id, namespaced; a hash when too
// long or not printable.
func (p payload) requestID() string {
	id := p.CallID
	if id == "" {
		id = p.ID
	}
	if id == "" {
		return ""
	}
	return ingest.RequestID("litellm", id)
}

// cost is response_cost, unless LiteLLM said its cost calculation failed (it then logs 0).
func (p payload) cost() (stats.Money, bool) {
	if c := bytes.TrimSpace(p.CostFailure); len(c) > 0 && string(c) != "null" {
		return 0, false
	}
	var usd float64
	if json.Unmarshal(p.ResponseCost, &usd) != nil {
		return 0, false
	}
	m, err := stats.MoneyFromUSD(usd)
	return m, err == nil
}
