package localapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/otlp"
	"github.com/tokenstats/tokenstats/usage/otlp/otlptest"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The exports below are shaped like each agent's (attribute names, types and scopes as the agents send
// them; docs/telemetry.md cites the sources), built with the OTLP proto types and encoded the way the
// OpenTelemetry SDKs encode them.

// callTime is when the calls of the exports happened: before the harness clock (2026-01-22 16:30 UTC).
var callTime = time.Date(2026, 1, 22, 15, 0, 0, 0, time.UTC)

// kv builds an attribute (otlptest.KV).
func kv(k string, v any) *commonpb.KeyValue { return otlptest.KV(k, v) }

func resource(attrs ...*commonpb.KeyValue) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: attrs}
}

var (
	claudeResource = resource(kv("service.name", "claude-code"), kv("service.version", "2.1.214"), kv("os.type", "linux"))
	geminiResource = resource(kv("service.name", "gemini-cli"), kv("service.version", "0.56.0"),
		kv("session.id", "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"))
	codexResource = resource(kv("service.name", "codex_cli_rs"), kv("service.version", "0.130.0"), kv("env", "dev"))
	appResource   = resource(kv("service.name", "support-bot"), kv("service.version", "1.4.2"))
)

func ns(t time.Time) uint64 { return uint64(t.UnixNano()) }

func logsExport(r *resourcepb.Resource, scope string, recs ...*logspb.LogRecord) *logspb.LogsData {
	return &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{Resource: r,
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: scope}, LogRecords: recs}}}}}
}

// claudeRequest is Claude Code's claude_code.api_request: the short name in event.name, the full one in
// the body, counts as intValue, cost as doubleValue; input_tokens excludes the cache.
func claudeRequest(reqID string, at time.Time, in, out, read, created int) *logspb.LogRecord {
	attrs := []*commonpb.KeyValue{
		kv("user.id", "3f1c0e7b2a9d4c1e"), kv("session.id", "6c1e2f3a-4b5c-4d6e-8f9a-0b1c2d3e4f5a"),
		kv("user.account_uuid", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"), kv("user.email", "dev@example.com"),
		kv("event.name", "api_request"), kv("event.timestamp", at.Format("2006-01-02T15:04:05.000Z07:00")),
		kv("model", "claude-opus-4-1"), kv("cost_usd", 0.0125), kv("duration_ms", 2345),
		kv("input_tokens", in), kv("output_tokens", out), kv("cache_read_tokens", read),
		kv("cache_creation_tokens", created), kv("request_id", reqID),
	}
	return &logspb.LogRecord{TimeUnixNano: ns(at), ObservedTimeUnixNano: ns(at),
		Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "claude_code.api_request"}}, Attributes: attrs}
}

// claudeEvent is one of Claude Code's other events (user_prompt, tool_result, …): not usage.
func claudeEvent(name string, at time.Time) *logspb.LogRecord {
	return &logspb.LogRecord{TimeUnixNano: ns(at),
		Body:       &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "claude_code." + name}},
		Attributes: []*commonpb.KeyValue{kv("event.name", name), kv("user.id", "3f1c0e7b2a9d4c1e")}}
}

// geminiResponse is Gemini CLI's gemini_cli.api_response: Gemini's usageMetadata, input including the
// cache, output without thoughts, no request id.
func geminiResponse(at time.Time, in, out, cached, thoughts, tool int) *logspb.LogRecord {
	return &logspb.LogRecord{TimeUnixNano: ns(at), Attributes: []*commonpb.KeyValue{
		kv("session.id", "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"), kv("installation.id", "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"),
		kv("interactive", true), kv("user.email", "dev@example.com"), kv("event.name", "gemini_cli.api_response"),
		kv("event.timestamp", at.Format("2006-01-02T15:04:05.000Z")), kv("model", "gemini-2.5-pro"),
		kv("duration_ms", 5123), kv("input_token_count", in), kv("output_token_count", out),
		kv("cached_content_token_count", cached), kv("thoughts_token_count", thoughts), kv("tool_token_count", tool),
		kv("total_token_count", in+out+thoughts+tool), kv("prompt_id", "1f2e3d4c########3"), kv("status_code", 200),
	}}
}

// geminiDetails is the gen_ai.client.inference.operation.details event Gemini CLI logs beside each
// response: the same call again, ignored.
func geminiDetails(at time.Time, in, out int) *logspb.LogRecord {
	return &logspb.LogRecord{TimeUnixNano: ns(at), Attributes: []*commonpb.KeyValue{
		kv("event.name", "gen_ai.client.inference.operation.details"), kv("gen_ai.usage.input_tokens", in),
		kv("gen_ai.usage.output_tokens", out)}}
}

// codexSSE is Codex's codex.sse_event; counts are strings (Rust Display through the log bridge).
func codexSSE(kind string, at time.Time, counts ...string) *logspb.LogRecord {
	attrs := []*commonpb.KeyValue{kv("event.name", "codex.sse_event"), kv("event.kind", kind),
		kv("event.timestamp", at.Format("2006-01-02T15:04:05.000Z")), kv("conversation.id", "0199a1b2-c3d4-7e5f"),
		kv("user.account_id", "acct-1234"), kv("user.email", "dev@example.com"), kv("model", "gpt-5.1-codex")}
	for i, k := range []string{"input_token_count", "output_token_count", "cached_token_count", "reasoning_token_count"} {
		if i < len(counts) {
			attrs = append(attrs, kv(k, counts[i]))
		}
	}
	return &logspb.LogRecord{TimeUnixNano: ns(at), Attributes: attrs}
}

const (
	deltaTemp      = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	cumulativeTemp = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
)

func metricsExport(r *resourcepb.Resource, scope string, ms ...*metricspb.Metric) *metricspb.MetricsData {
	return &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{Resource: r,
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: scope}, Metrics: ms}}}}}
}

// claudeTokens is Claude Code's claude_code.token.usage: a double sum per token type, delta by default,
// cumulative with OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative.
func claudeTokens(temp metricspb.AggregationTemporality, start, at time.Time, in, out, read, created float64) *metricspb.MetricsData {
	var pts []*metricspb.NumberDataPoint
	for typ, v := range map[string]float64{"input": in, "output": out, "cacheRead": read, "cacheCreation": created} {
		pts = append(pts, &metricspb.NumberDataPoint{StartTimeUnixNano: ns(start), TimeUnixNano: ns(at),
			Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v},
			Attributes: []*commonpb.KeyValue{kv("user.id", "3f1c0e7b2a9d4c1e"), kv("session.id", "6c1e2f3a"),
				kv("user.email", "dev@example.com"), kv("type", typ), kv("model", "claude-opus-4-1")}})
	}
	return metricsExport(claudeResource, "com.anthropic.claude_code", &metricspb.Metric{Name: otlp.MetricClaudeTokens,
		Unit: "tokens", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{AggregationTemporality: temp, IsMonotonic: true, DataPoints: pts}}})
}

// geminiTokens is Gemini CLI's cumulative gemini_cli.token.usage with the gen_ai.client.token.usage
// histogram it exports beside it.
func geminiTokens(start, at time.Time, in, out int64) *metricspb.MetricsData {
	base := []*commonpb.KeyValue{kv("session.id", "g1"), kv("installation.id", "inst-1"), kv("user.email", "dev@example.com"),
		kv("model", "gemini-2.5-pro")}
	point := func(typ string, v int64) *metricspb.NumberDataPoint {
		return &metricspb.NumberDataPoint{StartTimeUnixNano: ns(start), TimeUnixNano: ns(at),
			Value: &metricspb.NumberDataPoint_AsInt{AsInt: v}, Attributes: append(base[:len(base):len(base)], kv("type", typ))}
	}
	hist := func(typ string, v float64) *metricspb.HistogramDataPoint {
		return &metricspb.HistogramDataPoint{StartTimeUnixNano: ns(start), TimeUnixNano: ns(at), Count: 1, Sum: &v,
			Attributes: []*commonpb.KeyValue{kv("gen_ai.operation.name", "generate_content"), kv("gen_ai.token.type", typ)}}
	}
	return metricsExport(geminiResource, "gemini-cli",
		&metricspb.Metric{Name: otlp.MetricGeminiTokens, Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
			AggregationTemporality: cumulativeTemp, IsMonotonic: true, DataPoints: []*metricspb.NumberDataPoint{point("input", in), point("output", out)}}}},
		&metricspb.Metric{Name: otlp.MetricGenAITokens, Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			AggregationTemporality: cumulativeTemp, DataPoints: []*metricspb.HistogramDataPoint{hist("input", float64(in)), hist("output", float64(out))}}}})
}

// genaiSpan is a model call of an app instrumented with the OpenTelemetry GenAI conventions.
func genaiSpan(spanID string, at time.Time, in, out int) *tracepb.TracesData {
	id, _ := hex.DecodeString(spanID)
	trace, _ := hex.DecodeString("5b8efff798038103d269b633813fc60c")
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{Resource: appResource,
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "opentelemetry.instrumentation.openai"},
			Spans: []*tracepb.Span{
				{TraceId: trace, SpanId: id, Name: "chat gpt-4o-mini", StartTimeUnixNano: ns(at), EndTimeUnixNano: ns(at.Add(time.Second)),
					Attributes: []*commonpb.KeyValue{kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", "gpt-4o-mini"),
						kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"), kv("gen_ai.usage.input_tokens", in),
						kv("gen_ai.usage.output_tokens", out)}},
				{TraceId: trace, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "POST", StartTimeUnixNano: ns(at), EndTimeUnixNano: ns(at)},
			}}}}}}
}

// hexIDs rewrites protojson's base64 trace and span ids as the hex strings OTLP/JSON uses.
var idField = regexp.MustCompile(`"(traceId|spanId|parentSpanId)":\s*"([^"]*)"`)

// encodeOTLP encodes an export as an exporter sends it: protobuf, or OTLP/JSON (protojson with hex ids).
func encodeOTLP(t *testing.T, m proto.Message, enc otlp.Encoding) []byte {
	t.Helper()
	if enc == otlp.Protobuf {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return idField.ReplaceAllFunc(b, func(f []byte) []byte {
		sub := idField.FindSubmatch(f)
		raw, err := base64.StdEncoding.DecodeString(string(sub[2]))
		if err != nil {
			t.Fatalf("id %s is not base64", sub[2])
		}
		return []byte(`"` + string(sub[1]) + `":"` + hex.EncodeToString(raw) + `"`)
	})
}

func gzipBytes(t *testing.T, b []byte) []byte { return otlptest.Gzip(t, b) }

// post sends a raw body with the token and returns the status, the answer's bytes and its headers.
func (h *harness) post(path string, body []byte, hdr ...string) (int, []byte, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, raw, resp.Header
}

// export sends an OTLP export in enc, gzipped when gz, and checks the answer is a full success: 200
// with the empty Export…ServiceResponse in the request's own encoding.
func (h *harness) export(path string, m proto.Message, enc otlp.Encoding, gz bool) {
	h.t.Helper()
	body := encodeOTLP(h.t, m, enc)
	hdr := []string{"Content-Type", enc.ContentType()}
	if gz {
		body = gzipBytes(h.t, body)
		hdr = append(hdr, "Content-Encoding", "gzip")
	}
	code, raw, got := h.post(path, body, hdr...)
	if code != 200 || got.Get("Content-Type") != enc.ContentType() {
		h.t.Fatalf("POST %s: %d %s %q", path, code, got.Get("Content-Type"), raw)
	}
	if want := otlp.EncodeResponse(otlp.Logs, enc, 0, ""); !bytes.Equal(raw, want) {
		h.t.Fatalf("POST %s: answer %q, want the empty response %q", path, raw, want)
	}
}

// totals are the stored records of the last year.
func (h *harness) totals() stats.Totals {
	h.t.Helper()
	s, err := h.store.Summary(context.Background(), stats.LastHours(h.now, 24*366), stats.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return s.Totals
}

// sourceNamed is the Sources entry of name, or a zero Source with an empty Kind when there is none.
func (h *harness) sourceNamed(name string) stats.Source {
	h.t.Helper()
	list, err := h.store.Sources(context.Background(), stats.LastHours(h.now, 24))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	return stats.Source{}
}

// harnessAt is a harness on the database file at path, so a test can stop Token Stats and start it
// again on the same file.
func harnessAt(t *testing.T, path string, now time.Time) *harness {
	t.Helper()
	store, _, err := stats.Open(path, stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, now: now}
	h.srv = httptest.NewServer(New(Config{Store: store, Token: testToken, Version: "test", Now: func() time.Time { return h.now }}))
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.srv.Close()
	h.store.Close()
}

func tempDB(t *testing.T) string { return filepath.Join(t.TempDir(), "tokenstats.db") }

// status decodes a google.rpc.Status answer (protobuf or JSON): its code and message.
func status(t *testing.T, raw []byte, enc otlp.Encoding) (int64, string) {
	t.Helper()
	if enc == otlp.JSON {
		var s struct {
			Code    int64  `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("status %q: %v", raw, err)
		}
		return s.Code, s.Message
	}
	var code int64
	var msg string
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			t.Fatalf("status %x is not protobuf", raw)
		}
		raw = raw[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(raw)
			code, raw = int64(v), raw[m:]
		case num == 2 && typ == protowire.BytesType:
			v, m := protowire.ConsumeString(raw)
			msg, raw = v, raw[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, raw)
			if m < 0 {
				t.Fatalf("status: bad field %d", num)
			}
			raw = raw[m:]
		}
	}
	return code, msg
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }
