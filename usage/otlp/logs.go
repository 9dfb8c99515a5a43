package otlp

import (
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

// Event names of the log records that become records. docs/telemetry.md says which agent version each
// mapping was checked against.
const (
	EventClaudeAPIRequest  = "claude_code.api_request"
	EventGeminiAPIResponse = "gemini_cli.api_response"
	EventCodexSSE          = "codex.sse_event"
)

// logEvent is one log record with what a mapping needs.
type logEvent struct {
	name  string
	res   resource
	rec   *logspb.LogRecord
	scope string
	lists []kvs // record attributes, then resource attributes
}

// DecodeLogs reads a /v1/logs body: Claude Code api_request events, Gemini CLI api_response events and
// Codex response.completed events become records; other log records are counted in Ignored. now is the
// server clock, for stats.Record.Validate.
func DecodeLogs(body []byte, enc Encoding, now time.Time) (Result, error) {
	var data logspb.LogsData
	if err := unmarshal(body, enc, &data); err != nil {
		return Result{}, err
	}
	var res Result
	for _, rl := range data.GetResourceLogs() {
		r := newResource(rl.GetResource())
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				ev := logEvent{name: eventName(lr), res: r, rec: lr, scope: sl.GetScope().GetName(),
					lists: []kvs{lr.GetAttributes(), r.attrs}}
				var t tokens
				var rec stats.Record
				var skip, reason string
				switch ev.name {
				case EventClaudeAPIRequest:
					t, rec, reason = claudeRequest(ev)
				case EventGeminiAPIResponse:
					t, rec, reason = geminiResponse(ev)
				case EventCodexSSE:
					t, rec, skip, reason = codexCompleted(ev)
				default:
					skip = ev.name
				}
				if skip != "" {
					res.ignore(r.source, skip)
					continue
				}
				if reason == "" {
					reason = t.check()
				}
				if reason == "" {
					rec.Time, reason = ev.time()
				}
				if reason != "" {
					res.reject(r.source, ev.name+": "+reason)
					continue
				}
				rec.Account = account(ev.lists...)
				rec.Model = model(ev.lists...)
				rec.Source = r.source
				if res.add(t.record(rec), ev.name, now) {
					res.agent(r.agent())
				}
			}
		}
	}
	return res, nil
}

// eventName is the record's event name. Claude Code puts the short name in event.name
// ("api_request") and the full one in the body ("claude_code.api_request"); Gemini CLI and Codex put the
// full name in event.name; newer SDKs also fill the LogRecord's event_name field.
func eventName(lr *logspb.LogRecord) string {
	name := lr.GetEventName()
	if name == "" {
		name = stringAttr("event.name", lr.GetAttributes())
	}
	body := lr.GetBody().GetStringValue()
	if !strings.Contains(name, ".") && strings.HasSuffix(body, "."+name) && !strings.ContainsAny(body, " \n") {
		return body
	}
	if name == "" && !strings.ContainsAny(body, " \n") && strings.Contains(body, ".") {
		return body
	}
	return name
}

// time is when the request happened: event.timestamp (ISO 8601, which the agents set), else the log
// record's time, else the time the SDK observed it.
func (ev logEvent) time() (time.Time, string) {
	if s := stringAttr("event.timestamp", ev.rec.GetAttributes()); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, ""
		}
	}
	for _, ns := range []uint64{ev.rec.GetTimeUnixNano(), ev.rec.GetObservedTimeUnixNano()} {
		if ns != 0 && ns < 1<<63 {
			return time.Unix(0, int64(ns)).UTC(), ""
		}
	}
	return time.Time{}, "has no timestamp"
}

// identityID is the request id of a log record that carries none: a hash of everything that makes the
// record itself (resource, scope, times, event name, attributes, body). An exporter's retry resends the
// same record, so it hashes the same; two API calls differ at least in their timestamps and attributes.
func (ev logEvent) identityID() string {
	id := newIdentity()
	id.attrs(ev.res.attrs)
	id.str(ev.scope)
	id.u64(ev.rec.GetTimeUnixNano())
	id.u64(ev.rec.GetObservedTimeUnixNano())
	id.str(ev.name)
	id.attrs(ev.rec.GetAttributes())
	id.value(ev.rec.GetBody())
	return requestID(ev.res.agent(), "log:"+id.sum())
}

// claudeRequest maps claude_code.api_request. Its input_tokens is the Anthropic API's, without cache
// reads and writes; Token Stats' input includes both.
func claudeRequest(ev logEvent) (tokens, stats.Record, string) {
	c := counter{lists: ev.lists[:1]}
	in := c.get("input_tokens", true)
	out := c.get("output_tokens", true)
	read := c.get("cache_read_tokens", false)
	created := c.get("cache_creation_tokens", false)
	if c.err != nil {
		return tokens{}, stats.Record{}, c.err.Error()
	}
	t := tokens{input: in + read + created, output: out, cached: read, cacheCreation: created}
	var rec stats.Record
	attrs := ev.rec.GetAttributes()
	switch {
	case stringAttr("request_id", attrs) != "":
		rec.RequestID = requestID(ev.res.agent(), stringAttr("request_id", attrs))
	case stringAttr("client_request_id", attrs) != "":
		rec.RequestID = requestID(ev.res.agent(), "client:"+stringAttr("client_request_id", attrs))
	default:
		rec.RequestID = ev.identityID()
	}
	rec.AgentCost, rec.HasAgentCost = claudeCost(attrs)
	return t, rec, ""
}

// claudeCost prefers cost_usd_micros (an integer, exact) over cost_usd (a double).
func claudeCost(attrs kvs) (stats.Money, bool) {
	if v := lookup("cost_usd_micros", attrs); v != nil {
		if n, err := countValue(v); err == nil && n <= 1_000_000*1_000_000 {
			return stats.Money(n * 1000), true
		}
	}
	switch x := lookup("cost_usd", attrs).GetValue().(type) {
	case *commonpb.AnyValue_DoubleValue:
		if m, err := stats.MoneyFromUSD(x.DoubleValue); err == nil {
			return m, true
		}
	case *commonpb.AnyValue_IntValue:
		if m, err := stats.MoneyFromUSD(float64(x.IntValue)); err == nil {
			return m, true
		}
	}
	return 0, false
}

// geminiResponse maps gemini_cli.api_response. Its counts are Gemini's usageMetadata: input (prompt)
// includes cached tokens but not the tool-use prompt, output (candidates) excludes thoughts. prompt_id
// names a user prompt, which can make several API calls, so it is not a request id.
func geminiResponse(ev logEvent) (tokens, stats.Record, string) {
	c := counter{lists: ev.lists[:1]}
	in := c.get("input_token_count", true)
	out := c.get("output_token_count", true)
	cached := c.get("cached_content_token_count", false)
	thoughts := c.get("thoughts_token_count", false)
	tool := c.get("tool_token_count", false)
	if c.err != nil {
		return tokens{}, stats.Record{}, c.err.Error()
	}
	t := tokens{input: in + tool, output: out + thoughts, cached: cached, reasoning: thoughts}
	return t, stats.Record{RequestID: ev.identityID()}, ""
}

// codexCompleted maps codex.sse_event with event.kind = response.completed and token counts. Codex
// emits one codex.sse_event per SSE event; the others carry no usage and are ignored. Its counts are
// the Responses API's usage: input includes cached tokens, output includes reasoning tokens
// (codex-rs/codex-api/src/sse/responses.rs, From<ResponseCompletedUsage> for TokenUsage).
func codexCompleted(ev logEvent) (tokens, stats.Record, string, string) {
	c := counter{lists: ev.lists[:1]}
	if stringAttr("event.kind", ev.rec.GetAttributes()) != "response.completed" || !c.has("input_token_count") {
		return tokens{}, stats.Record{}, ev.name, ""
	}
	t := tokens{
		input:     c.get("input_token_count", true),
		output:    c.get("output_token_count", true),
		cached:    c.get("cached_token_count", false),
		reasoning: c.get("reasoning_token_count", false),
	}
	if c.err != nil {
		return tokens{}, stats.Record{}, "", c.err.Error()
	}
	return t, stats.Record{RequestID: ev.identityID()}, "", ""
}
