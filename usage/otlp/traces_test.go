package otlp_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/usage/otlp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func tracesData(r *resourcepb.Resource, spans ...*tracepb.Span) *tracepb.TracesData {
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: r, ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "instr"}, Spans: spans}},
	}}}
}

func genaiSpan(spanID string, attrs ...*commonpb.KeyValue) *tracepb.Span {
	return &tracepb.Span{TraceId: mustHex("5b8efff798038103d269b633813fc60c"), SpanId: mustHex(spanID), Name: "chat",
		StartTimeUnixNano: ns(callTime), EndTimeUnixNano: ns(callTime.Add(time.Second)), Attributes: attrs}
}

// OTLP/JSON ids are hex. protojson alone would read "eee19b7ec3c1b174" as base64 (12 wrong bytes); the
// span id, which is the request id, must come out as the exporter meant it, in either encoding.
func TestGenAISpans(t *testing.T) {
	j, err := otlp.DecodeTraces(readTestdata(t, "genai-traces.json"), otlp.JSON, now)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, j.Records)
	if len(j.Records) != 1 {
		t.Fatalf("%d records, want 1", len(j.Records))
	}
	rec := j.Records[0]
	if rec.RequestID != "otlp:support-bot:span:eee19b7ec3c1b174" {
		t.Errorf("request id = %q, want the hex span id", rec.RequestID)
	}
	if got, want := countsOf(rec), (counts{in: 2006, out: 300, cached: 1920}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if rec.Model != "gpt-4o-mini-2024-07-18" || rec.Source != "support-bot 1.4.2" || rec.Account != otlp.UnknownAccount {
		t.Errorf("model/source/account = %q/%q/%q", rec.Model, rec.Source, rec.Account)
	}
	if !rec.Time.Equal(callTime) {
		t.Errorf("time = %v, want the span start %v", rec.Time, callTime)
	}
	if j.Ignored["POST"] != 1 {
		t.Errorf("ignored = %v, want the HTTP span counted", j.Ignored)
	}
	if j.BySource["support-bot 1.4.2"] == nil || j.BySource["support-bot 1.4.2"].Ignored["POST"] != 1 {
		t.Errorf("by source = %v, want the HTTP span under support-bot 1.4.2", j.BySource)
	}
	// Spans with usage are per-request records, like events: their sender's token metrics must not count
	// the same calls again.
	if len(j.Agents) != 1 || j.Agents[0] != "support-bot" {
		t.Errorf("agents = %v, want [support-bot]", j.Agents)
	}

	// The same span as protobuf.
	p := tracesData(res(kv("service.name", "support-bot"), kv("service.version", "1.4.2")),
		genaiSpan("eee19b7ec3c1b174", kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", "gpt-4o-mini"),
			kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"), kv("gen_ai.usage.input_tokens", 2006),
			kv("gen_ai.usage.output_tokens", 300), kv("gen_ai.usage.cache_read.input_tokens", 1920)))
	pr, err := otlp.DecodeTraces(encode(t, p, otlp.Protobuf), otlp.Protobuf, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Records) != 1 || pr.Records[0] != rec {
		t.Errorf("protobuf record %+v\nJSON record     %+v", pr.Records, rec)
	}
}

func TestAgentSpansAreNotCountedTwice(t *testing.T) {
	usage := []*commonpb.KeyValue{kv("gen_ai.usage.input_tokens", 100), kv("gen_ai.usage.output_tokens", 10)}
	data := tracesData(res(kv("service.name", "gemini-cli")), genaiSpan("0000000000000001", usage...))
	data.ResourceSpans = append(data.ResourceSpans,
		tracesData(res(kv("service.name", "codex_cli_rs")),
			genaiSpan("0000000000000002", append(usage, kv("codex.usage.total_tokens", 110))...)).ResourceSpans...)
	data.ResourceSpans = append(data.ResourceSpans,
		tracesData(res(kv("service.name", "my-agent")),
			genaiSpan("0000000000000003", append(usage, kv("gen_ai.operation.name", "invoke_agent"))...),
			genaiSpan("0000000000000004", append(usage, kv("gen_ai.operation.name", "chat"))...)).ResourceSpans...)
	r, err := otlp.DecodeTraces(encode(t, data, otlp.Protobuf), otlp.Protobuf, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 1 || r.Records[0].RequestID != "otlp:my-agent:span:0000000000000004" {
		t.Fatalf("records = %+v, want only my-agent's chat span", r.Records)
	}
	if len(r.Ignored) != 3 {
		t.Errorf("ignored = %v, want the Gemini CLI, Codex and invoke_agent spans, each with its reason", r.Ignored)
	}
}

// Instrumentations that copy Anthropic's input_tokens leave the cache out of input, against the
// conventions; Token Stats adds it back when the cache counts show it.
func TestSpanInputWithoutCache(t *testing.T) {
	data := tracesData(res(kv("service.name", "app")), genaiSpan("0000000000000009",
		kv("gen_ai.usage.input_tokens", 21), kv("gen_ai.usage.output_tokens", 393),
		kv("gen_ai.usage.cache_read.input_tokens", 1000), kv("gen_ai.usage.cache_creation.input_tokens", 188086),
		kv("gen_ai.request.model", "claude-sonnet-4-5")))
	r, err := otlp.DecodeTraces(encode(t, data, otlp.Protobuf), otlp.Protobuf, now)
	if err != nil || len(r.Records) != 1 {
		t.Fatalf("records %+v, err %v", r.Records, err)
	}
	if got, want := countsOf(r.Records[0]), (counts{in: 189107, out: 393, cached: 1000, creation: 188086}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
}
