package otlp_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/otlp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

var callTime = time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)

var claudeResource = res(kv("service.name", "claude-code"), kv("service.version", "2.1.214"), kv("os.type", "darwin"))

// claudeRequest is a claude_code.api_request log record as Claude Code emits it: the short name in
// event.name, the full one in the body, counts as intValue, cost as doubleValue.
func claudeRequest(reqID string, in, out, read, created int) *logspb.LogRecord {
	ts := callTime.Add(time.Duration(in) * time.Millisecond)
	attrs := []*commonpb.KeyValue{
		kv("user.id", "3f1c0e7b2a9d4c1e"), kv("session.id", "6c1e2f3a-4b5c-4d6e-8f9a-0b1c2d3e4f5a"),
		kv("user.account_uuid", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"), kv("user.email", "dev@example.com"),
		kv("event.name", "api_request"), kv("event.timestamp", ts.Format("2006-01-02T15:04:05.000Z07:00")),
		kv("event.sequence", in), kv("model", "claude-opus-4-1"), kv("cost_usd", 0.0125),
		kv("duration_ms", 2345), kv("input_tokens", in), kv("output_tokens", out),
		kv("cache_read_tokens", read), kv("cache_creation_tokens", created), kv("query_source", "repl_main_thread"),
	}
	if reqID != "" {
		attrs = append(attrs, kv("request_id", reqID))
	}
	return &logspb.LogRecord{TimeUnixNano: ns(ts), ObservedTimeUnixNano: ns(ts),
		Body: str("claude_code.api_request"), Attributes: attrs}
}

func claudeEvent(name string) *logspb.LogRecord {
	return &logspb.LogRecord{TimeUnixNano: ns(callTime), Body: str("claude_code." + name),
		Attributes: []*commonpb.KeyValue{kv("event.name", name), kv("user.id", "3f1c0e7b2a9d4c1e")}}
}

func TestClaudeCodeEvents(t *testing.T) {
	noID := claudeRequest("", 50, 7, 0, 0)
	withClientID := claudeRequest("", 60, 8, 0, 0)
	withClientID.Attributes = append(withClientID.Attributes, kv("client_request_id", "0b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d"),
		kv("cost_usd_micros", 4242))
	data := logsData(claudeResource, "com.anthropic.claude_code.events",
		claudeEvent("user_prompt"),
		claudeRequest("req_011CVz8m3pXkQ9aZr7bW2nYt", 21, 393, 1000, 188086),
		noID, withClientID,
		claudeEvent("tool_result"), claudeEvent("tool_result"))

	for _, enc := range []otlp.Encoding{otlp.Protobuf, otlp.JSON} {
		r, err := otlp.DecodeLogs(encode(t, data, enc), enc, now)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, r.Records)
		if len(r.Records) != 3 {
			t.Fatalf("%d records, want 3 (one per api_request)", len(r.Records))
		}
		first := r.Records[0]
		// Anthropic's input_tokens excludes the cache; Token Stats' input includes reads and writes.
		if got, want := countsOf(first), (counts{in: 21 + 1000 + 188086, out: 393, cached: 1000, creation: 188086}); got != want {
			t.Errorf("counts = %+v, want %+v", got, want)
		}
		if first.RequestID != "otlp:claude-code:req_011CVz8m3pXkQ9aZr7bW2nYt" {
			t.Errorf("request id = %q", first.RequestID)
		}
		if first.Account != "dev@example.com" || first.Model != "claude-opus-4-1" || first.Source != "claude-code 2.1.214" {
			t.Errorf("account/model/source = %q/%q/%q", first.Account, first.Model, first.Source)
		}
		if !first.HasAgentCost || first.AgentCost != 12_500_000 {
			t.Errorf("agent cost = %v (%v), want $0.0125", first.AgentCost, first.HasAgentCost)
		}
		if want := callTime.Add(21 * time.Millisecond); !first.Time.Equal(want) {
			t.Errorf("time = %v, want event.timestamp %v", first.Time, want)
		}
		if id := r.Records[1].RequestID; !strings.HasPrefix(id, "otlp:claude-code:log:") {
			t.Errorf("record without request_id: id = %q, want a hash of the record", id)
		}
		if id := r.Records[2].RequestID; id != "otlp:claude-code:client:0b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d" {
			t.Errorf("record with client_request_id: id = %q", id)
		}
		if r.Records[2].AgentCost != 4_242_000 {
			t.Errorf("cost_usd_micros 4242 became %v, want $0.004242", r.Records[2].AgentCost)
		}
		if want := map[string]int{"claude_code.user_prompt": 1, "claude_code.tool_result": 2}; !maps.Equal(r.Ignored, want) {
			t.Errorf("ignored = %v, want %v", r.Ignored, want)
		}
		if tally := r.BySource["claude-code 2.1.214"]; len(r.BySource) != 1 || tally == nil || !maps.Equal(tally.Ignored, r.Ignored) {
			t.Errorf("by source = %v, want the ignored events under claude-code 2.1.214", r.BySource)
		}
		if !slices.Equal(r.Agents, []string{"claude-code"}) {
			t.Errorf("agents = %v", r.Agents)
		}
	}
}

// The OTLP/JSON Claude Code sends with OTEL_EXPORTER_OTLP_PROTOCOL=http/json: int64 times as strings,
// counts as JSON numbers, hex trace and span ids.
func TestClaudeCodeJSONFixture(t *testing.T) {
	r, err := otlp.DecodeLogs(readTestdata(t, "claude-code-logs.json"), otlp.JSON, now)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, r.Records)
	if len(r.Records) != 1 {
		t.Fatalf("%d records, want 1", len(r.Records))
	}
	rec := r.Records[0]
	if got, want := countsOf(rec), (counts{in: 189107, out: 393, cached: 1000, creation: 188086}); got != want {
		t.Errorf("counts = %+v, want %+v (the Anthropic vector of docs/usage-normalization.md)", got, want)
	}
	if rec.AgentCost != 74_236_500 || rec.Time != time.Date(2026, 11, 30, 11, 0, 5, 456e6, time.UTC) {
		t.Errorf("cost %v, time %v", rec.AgentCost, rec.Time)
	}
	if r.Ignored["claude_code.user_prompt"] != 1 {
		t.Errorf("ignored = %v", r.Ignored)
	}
}

// Gemini CLI's telemetry.otlpProtocol "http" uses the OTel JS http exporters, which send OTLP/JSON.
func TestGeminiCLIEvents(t *testing.T) {
	body := readTestdata(t, "gemini-cli-logs.json")
	r, err := otlp.DecodeLogs(body, otlp.JSON, now)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, r.Records)
	if len(r.Records) != 2 {
		t.Fatalf("%d records, want 2 (one per api_response)", len(r.Records))
	}
	// Gemini's prompt count includes the cache but not the tool-use prompt; its candidates exclude
	// thoughts: the same numbers as the generateContent vector of docs/usage-normalization.md.
	if got, want := countsOf(r.Records[0]), (counts{in: 1256, out: 280, cached: 1024, reasoning: 200}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if got, want := countsOf(r.Records[1]), (counts{in: 2000, out: 100}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	// Both calls answer one prompt (same prompt_id): they are still two requests.
	if r.Records[0].RequestID == r.Records[1].RequestID {
		t.Errorf("two API calls of one prompt share request id %q", r.Records[0].RequestID)
	}
	for _, rec := range r.Records {
		if rec.Account != "dev@example.com" || rec.Model != "gemini-2.5-pro" || rec.Source != "gemini-cli 0.56.0" {
			t.Errorf("account/model/source = %q/%q/%q", rec.Account, rec.Model, rec.Source)
		}
	}
	want := map[string]int{"gemini_cli.api_request": 1, "gen_ai.client.inference.operation.details": 1}
	if !maps.Equal(r.Ignored, want) {
		t.Errorf("ignored = %v, want %v (the GenAI details event repeats api_response)", r.Ignored, want)
	}

	// A retried batch yields the same ids, so the store counts it once.
	again, _ := otlp.DecodeLogs(body, otlp.JSON, now)
	for i := range again.Records {
		if again.Records[i].RequestID != r.Records[i].RequestID {
			t.Errorf("retry changed request id %d: %q then %q", i, r.Records[i].RequestID, again.Records[i].RequestID)
		}
	}
}

// codexCompleted is a codex.sse_event for response.completed as Codex's tracing bridge emits it: counts
// recorded with Display (%) arrive as strings, Option<i64> ones as intValue.
func codexCompleted(at time.Time, in, out, cached, reasoning string) *logspb.LogRecord {
	return &logspb.LogRecord{TimeUnixNano: ns(at), ObservedTimeUnixNano: ns(at), Attributes: []*commonpb.KeyValue{
		kv("event.name", "codex.sse_event"), kv("event.kind", "response.completed"),
		kv("input_token_count", in), kv("output_token_count", out),
		kv("cached_token_count", mustInt(cached)), kv("reasoning_token_count", mustInt(reasoning)),
		kv("tool_token_count", "13700"),
		kv("event.timestamp", at.Format("2006-01-02T15:04:05.000Z")), kv("conversation.id", "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
		kv("app.version", "0.130.0"), kv("auth_mode", "Chatgpt"), kv("originator", "codex_cli_rs"),
		kv("user.account_id", "acct-1234"), kv("user.email", "dev@example.com"),
		kv("terminal.type", "ghostty"), kv("model", "gpt-5.1-codex"), kv("slug", "gpt-5.1-codex"),
	}}
}

func mustInt(s string) int64 {
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return n
}

func TestCodexEvents(t *testing.T) {
	other := &logspb.LogRecord{TimeUnixNano: ns(callTime), Attributes: []*commonpb.KeyValue{
		kv("event.name", "codex.sse_event"), kv("event.kind", "response.output_text.delta"), kv("duration_ms", "3")}}
	failed := &logspb.LogRecord{TimeUnixNano: ns(callTime), Attributes: []*commonpb.KeyValue{
		kv("event.name", "codex.sse_event"), kv("event.kind", "response.completed"), kv("error.message", "stream closed")}}
	data := logsData(res(kv("service.name", "codex_cli_rs"), kv("service.version", "0.130.0"), kv("env", "dev")), "codex_otel",
		other, codexCompleted(callTime, "12000", "900", "8000", "600"), failed,
		&logspb.LogRecord{TimeUnixNano: ns(callTime), Attributes: []*commonpb.KeyValue{kv("event.name", "codex.tool_result")}})
	body := encode(t, data, otlp.Protobuf)
	r, err := otlp.DecodeLogs(body, otlp.Protobuf, now)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, r.Records)
	if len(r.Records) != 1 {
		t.Fatalf("%d records, want 1", len(r.Records))
	}
	// The Responses API's input includes cached tokens and its output includes reasoning tokens.
	if got, want := countsOf(r.Records[0]), (counts{in: 12000, out: 900, cached: 8000, reasoning: 600}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if rec := r.Records[0]; rec.Model != "gpt-5.1-codex" || rec.Account != "dev@example.com" || rec.Source != "codex_cli_rs 0.130.0" {
		t.Errorf("model/account/source = %q/%q/%q", rec.Model, rec.Account, rec.Source)
	}
	if want := map[string]int{"codex.sse_event": 2, "codex.tool_result": 1}; !maps.Equal(r.Ignored, want) {
		t.Errorf("ignored = %v, want %v", r.Ignored, want)
	}

	// Codex with protocol = "json": the same events in OTLP/JSON decode to the same records and ids.
	j, err := otlp.DecodeLogs(readTestdata(t, "codex-logs.json"), otlp.JSON, now)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, j.Records)
	if len(j.Records) != 1 || countsOf(j.Records[0]) != countsOf(r.Records[0]) {
		t.Fatalf("JSON fixture: %+v", j.Records)
	}
}

// The same log records sent as protobuf and as OTLP/JSON get the same request ids, hashed ones included:
// an exporter that switches encoding between retries still counts once.
func TestLogIDsAreEncodingIndependent(t *testing.T) {
	data := logsData(claudeResource, "s", claudeRequest("", 10, 1, 0, 0), claudeRequest("req_x", 20, 2, 0, 0))
	data.ResourceLogs = append(data.ResourceLogs, logsData(res(kv("service.name", "codex_exec")), "codex_otel",
		codexCompleted(callTime, "100", "10", "0", "0")).ResourceLogs...)
	p, err := otlp.DecodeLogs(encode(t, data, otlp.Protobuf), otlp.Protobuf, now)
	if err != nil {
		t.Fatal(err)
	}
	j, err := otlp.DecodeLogs(encode(t, data, otlp.JSON), otlp.JSON, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 3 || len(j.Records) != 3 {
		t.Fatalf("%d and %d records, want 3", len(p.Records), len(j.Records))
	}
	for i := range p.Records {
		if p.Records[i] != j.Records[i] {
			t.Errorf("record %d differs:\nprotobuf %+v\nJSON     %+v", i, p.Records[i], j.Records[i])
		}
	}
	if !slices.Equal(p.Agents, []string{"claude-code", "codex_exec"}) {
		t.Errorf("agents = %v", p.Agents)
	}
}

// Usage that cannot be stored is rejected and counted with its reason; the rest of the batch is kept.
func TestBadUsageIsRejectedNotStored(t *testing.T) {
	negative := claudeRequest("req_neg", 10, 1, 0, 0)
	negative.Attributes = append(negative.Attributes[:0:0], negative.Attributes...)
	for _, a := range negative.Attributes {
		if a.Key == "output_tokens" {
			a.Value = str("-4")
		}
	}
	fraction := claudeRequest("req_frac", 11, 1, 0, 0)
	for _, a := range fraction.Attributes {
		if a.Key == "input_tokens" {
			a.Value = &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}}
		}
	}
	missing := claudeRequest("req_missing", 12, 1, 0, 0)
	missing.Attributes = slices.DeleteFunc(missing.Attributes, func(a *commonpb.KeyValue) bool { return a.Key == "output_tokens" })
	future := claudeRequest("req_future", 13, 1, 0, 0)
	for _, a := range future.Attributes {
		if a.Key == "event.timestamp" {
			a.Value = str(now.Add(time.Hour).Format(time.RFC3339))
		}
	}
	gemini := &logspb.LogRecord{TimeUnixNano: ns(callTime), Attributes: []*commonpb.KeyValue{
		kv("event.name", "gemini_cli.api_response"), kv("model", "gemini-2.5-flash"),
		kv("input_token_count", 10), kv("output_token_count", 1), kv("cached_content_token_count", 11)}}
	data := logsData(claudeResource, "s", negative, fraction, missing, future, gemini, claudeRequest("req_good", 14, 1, 0, 0))
	r, err := otlp.DecodeLogs(encode(t, data, otlp.Protobuf), otlp.Protobuf, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 1 || r.Records[0].RequestID != "otlp:claude-code:req_good" {
		t.Fatalf("records = %+v, want only req_good", r.Records)
	}
	want := map[string]int{
		"claude_code.api_request: output_tokens: must not be negative":              1,
		"claude_code.api_request: input_tokens: must be a whole number":             1,
		"claude_code.api_request: output_tokens: is missing":                        1,
		"claude_code.api_request: timestamp: is more than 10 minutes in the future": 1,
		"gemini_cli.api_response: cached tokens exceed input tokens":                1,
	}
	if !maps.Equal(r.Rejected, want) {
		t.Errorf("rejected = %v\nwant %v", r.Rejected, want)
	}
	checkBySource(t, r, "claude-code 2.1.214")
	if r.RejectedCount() != 5 {
		t.Errorf("RejectedCount = %d, want 5", r.RejectedCount())
	}
}

// A record without account or model attributes still counts, under "unknown"; a long request id is
// hashed to fit.
func TestMissingNamesAndLongIDs(t *testing.T) {
	rec := &logspb.LogRecord{TimeUnixNano: ns(callTime), Body: str("claude_code.api_request"), Attributes: []*commonpb.KeyValue{
		kv("event.name", "api_request"), kv("input_tokens", 5), kv("output_tokens", 1),
		kv("request_id", strings.Repeat("r", 200))}}
	r, err := otlp.DecodeLogs(encode(t, logsData(res(), "s", rec), otlp.Protobuf), otlp.Protobuf, now)
	if err != nil || len(r.Records) != 1 {
		t.Fatalf("records %+v, err %v", r.Records, err)
	}
	got := r.Records[0]
	checkRecords(t, r.Records)
	if got.Account != otlp.UnknownAccount || got.Model != otlp.UnknownModel || got.Source != "unknown_service" {
		t.Errorf("account/model/source = %q/%q/%q", got.Account, got.Model, got.Source)
	}
	if len(got.RequestID) > stats.MaxRequestIDLen || !strings.HasPrefix(got.RequestID, "otlp:h:") {
		t.Errorf("request id %q: want a hashed otlp: id within %d bytes", got.RequestID, stats.MaxRequestIDLen)
	}
	if got.Time != callTime {
		t.Errorf("time = %v, want the record's time_unix_nano %v", got.Time, callTime)
	}
}
