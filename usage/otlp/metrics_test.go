package otlp_test

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/otlp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

const (
	delta      = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	cumulative = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
)

func sum(name string, temp metricspb.AggregationTemporality, pts ...*metricspb.NumberDataPoint) *metricspb.Metric {
	return &metricspb.Metric{Name: name, Unit: "tokens", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
		AggregationTemporality: temp, IsMonotonic: true, DataPoints: pts}}}
}

func histogram(name string, temp metricspb.AggregationTemporality, pts ...*metricspb.HistogramDataPoint) *metricspb.Metric {
	return &metricspb.Metric{Name: name, Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
		AggregationTemporality: temp, DataPoints: pts}}}
}

func intPoint(start, at time.Time, v int64, attrs ...*commonpb.KeyValue) *metricspb.NumberDataPoint {
	return &metricspb.NumberDataPoint{StartTimeUnixNano: ns(start), TimeUnixNano: ns(at), Attributes: attrs,
		Value: &metricspb.NumberDataPoint_AsInt{AsInt: v}}
}

func doublePoint(start, at time.Time, v float64, attrs ...*commonpb.KeyValue) *metricspb.NumberDataPoint {
	return &metricspb.NumberDataPoint{StartTimeUnixNano: ns(start), TimeUnixNano: ns(at), Attributes: attrs,
		Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v}}
}

func histPoint(start, at time.Time, total float64, n uint64, attrs ...*commonpb.KeyValue) *metricspb.HistogramDataPoint {
	return &metricspb.HistogramDataPoint{StartTimeUnixNano: ns(start), TimeUnixNano: ns(at), Attributes: attrs,
		Count: n, Sum: &total}
}

func with(attrs []*commonpb.KeyValue, more ...*commonpb.KeyValue) []*commonpb.KeyValue {
	return append(slices.Clone(attrs), more...)
}

// apply decodes a metrics body and applies it against prev.
func apply(t *testing.T, data *metricspb.MetricsData, enc otlp.Encoding, prev map[string]otlp.SeriesState, eventsFrom func(string) bool) otlp.MetricsResult {
	t.Helper()
	b, err := otlp.DecodeMetrics(encode(t, data, enc), enc)
	if err != nil {
		t.Fatal(err)
	}
	out := b.Apply(prev, now, eventsFrom)
	checkRecords(t, out.Records)
	return out
}

// states is a store of series states, as the database will keep them.
type states map[string]otlp.SeriesState

func (s states) save(list []otlp.SeriesState) {
	for _, st := range list {
		s[st.Key] = st
	}
}

func total(recs []stats.Record) counts {
	var c counts
	for _, r := range recs {
		c.in += r.InputTokens
		c.out += r.OutputTokens
		c.cached += r.CachedTokens
		c.reasoning += r.ReasoningTokens
		c.creation += r.CacheCreationTokens
	}
	return c
}

// Claude Code exports delta counters (its default temporality) with doubles. The four types of one
// model and session at one time make one record.
func TestClaudeCodeTokenMetrics(t *testing.T) {
	base := []*commonpb.KeyValue{kv("user.email", "dev@example.com"), kv("session.id", "s1"), kv("model", "claude-sonnet-4-5"),
		kv("user.account_uuid", "a1b2"), kv("terminal.type", "iTerm.app")}
	t1, t2 := callTime, callTime.Add(time.Minute)
	data := metricsData(claudeResource, "com.anthropic.claude_code",
		sum(otlp.MetricClaudeTokens, delta,
			doublePoint(callTime.Add(-time.Minute), t1, 21, with(base, kv("type", "input"))...),
			doublePoint(callTime.Add(-time.Minute), t1, 393, with(base, kv("type", "output"))...),
			doublePoint(callTime.Add(-time.Minute), t1, 1000, with(base, kv("type", "cacheRead"))...),
			doublePoint(callTime.Add(-time.Minute), t1, 188086, with(base, kv("type", "cacheCreation"))...),
			doublePoint(t1, t2, 5, with(base, kv("type", "input"))...),
			doublePoint(t1, t2, 3, with(base, kv("type", "output"))...),
		),
		sum("claude_code.cost.usage", delta, doublePoint(t1, t2, 0.01, base...)),
		sum("claude_code.session.count", delta, doublePoint(t1, t2, 1, base...)),
	)
	out := apply(t, data, otlp.Protobuf, nil, nil)
	if len(out.Records) != 2 {
		t.Fatalf("%d records, want one per export time: %+v", len(out.Records), out.Records)
	}
	if got, want := countsOf(out.Records[0]), (counts{in: 189107, out: 393, cached: 1000, creation: 188086}); got != want {
		t.Errorf("first export: %+v, want %+v", got, want)
	}
	if got, want := countsOf(out.Records[1]), (counts{in: 5, out: 3}); got != want {
		t.Errorf("second export: %+v, want %+v", got, want)
	}
	rec := out.Records[0]
	if rec.Account != "dev@example.com" || rec.Model != "claude-sonnet-4-5" || !rec.Time.Equal(t1) || rec.Source != "claude-code 2.1.214" {
		t.Errorf("record %+v", rec)
	}
	if len(out.States) != 0 {
		t.Errorf("delta series need no state, got %d", len(out.States))
	}
	if out.Ignored["claude_code.cost.usage"] != 1 || out.Ignored["claude_code.session.count"] != 1 {
		t.Errorf("ignored = %v", out.Ignored)
	}
	// A retried batch, as protobuf or JSON, yields the same request ids: the store keeps one of each.
	again := apply(t, data, otlp.JSON, nil, nil)
	for i := range out.Records {
		if again.Records[i].RequestID != out.Records[i].RequestID {
			t.Errorf("retry: request id %q then %q", out.Records[i].RequestID, again.Records[i].RequestID)
		}
		if !strings.HasPrefix(out.Records[i].RequestID, "otlp:claude-code:metric:") {
			t.Errorf("request id %q is not namespaced", out.Records[i].RequestID)
		}
	}
}

var geminiResource = res(kv("service.name", "gemini-cli"), kv("service.version", "0.56.0"))

// geminiExport is one export of Gemini CLI's cumulative counters (started at start) and of the GenAI
// histogram it records beside them for the same calls.
func geminiExport(start, at time.Time, in, out, cache, thought, tool int64) *metricspb.MetricsData {
	base := []*commonpb.KeyValue{kv("session.id", "g1"), kv("installation.id", "inst-1"), kv("interactive", true),
		kv("user.email", "dev@example.com"), kv("model", "gemini-2.5-pro")}
	genai := []*commonpb.KeyValue{kv("gen_ai.operation.name", "generate_content"), kv("gen_ai.provider.name", "gcp.gen_ai"),
		kv("gen_ai.request.model", "gemini-2.5-pro")}
	return metricsData(geminiResource, "gemini-cli",
		sum(otlp.MetricGeminiTokens, cumulative,
			intPoint(start, at, in, with(base, kv("type", "input"))...),
			intPoint(start, at, out, with(base, kv("type", "output"))...),
			intPoint(start, at, cache, with(base, kv("type", "cache"))...),
			intPoint(start, at, thought, with(base, kv("type", "thought"))...),
			intPoint(start, at, tool, with(base, kv("type", "tool"))...)),
		histogram(otlp.MetricGenAITokens, cumulative,
			histPoint(start, at, float64(in), 2, with(genai, kv("gen_ai.token.type", "input"))...),
			histPoint(start, at, float64(out), 2, with(genai, kv("gen_ai.token.type", "output"))...)),
	)
}

// Gemini CLI exports cumulative counters. Each export counts its increase; a retried export counts
// nothing; an agent restart (new start time) counts the new values whole; a Token Stats restart (states
// saved and read back) counts nothing twice. Over the whole run the records add up to exactly what the
// agent counted.
func TestCumulativeCountersAcrossRestarts(t *testing.T) {
	db := states{}
	var all []stats.Record
	run := func(data *metricspb.MetricsData, enc otlp.Encoding) otlp.MetricsResult {
		b, err := otlp.DecodeMetrics(encode(t, data, enc), enc)
		if err != nil {
			t.Fatal(err)
		}
		prev := map[string]otlp.SeriesState{}
		for _, k := range b.SeriesKeys() {
			if st, ok := db[k]; ok {
				prev[k] = st
			}
		}
		out := b.Apply(prev, now, nil)
		checkRecords(t, out.Records)
		db.save(out.States)
		all = append(all, out.Records...)
		return out
	}
	start1 := callTime
	first := run(geminiExport(start1, start1.Add(10*time.Second), 1200, 80, 1024, 200, 56), otlp.Protobuf)
	if got, want := countsOf(first.Records[0]), (counts{in: 1256, out: 280, cached: 1024, reasoning: 200}); len(first.Records) != 1 || got != want {
		t.Fatalf("first export: %+v, want one record %+v", first.Records, want)
	}
	if first.Ignored[otlp.MetricGenAITokens+" (the same calls as "+otlp.MetricGeminiTokens+")"] != 1 {
		t.Errorf("ignored = %v, want gen_ai.client.token.usage ignored as a duplicate", first.Ignored)
	}
	if len(first.States) != 5 {
		t.Errorf("%d states, want one per gemini_cli.token.usage series", len(first.States))
	}

	second := geminiExport(start1, start1.Add(20*time.Second), 3200, 180, 1024, 200, 56)
	out := run(second, otlp.JSON)
	if got, want := countsOf(out.Records[0]), (counts{in: 2000, out: 100}); len(out.Records) != 1 || got != want {
		t.Fatalf("second export: %+v, want the increase %+v", out.Records, want)
	}
	if out = run(second, otlp.Protobuf); len(out.Records) != 0 {
		t.Fatalf("retried export made records %+v", out.Records)
	}

	// Token Stats restarts: the states go through the database (JSON here) and come back.
	saved, err := json.Marshal(db)
	if err != nil {
		t.Fatal(err)
	}
	db = states{}
	if err := json.Unmarshal(saved, &db); err != nil {
		t.Fatal(err)
	}
	out = run(geminiExport(start1, start1.Add(30*time.Second), 3300, 190, 1024, 200, 56), otlp.JSON)
	if got, want := countsOf(out.Records[0]), (counts{in: 100, out: 10}); len(out.Records) != 1 || got != want {
		t.Fatalf("after a Token Stats restart: %+v, want %+v", out.Records, want)
	}

	// Gemini CLI restarts: a new start time, values from zero.
	start2 := start1.Add(time.Hour)
	out = run(geminiExport(start2, start2.Add(10*time.Second), 500, 50, 0, 0, 0), otlp.Protobuf)
	if got, want := countsOf(out.Records[0]), (counts{in: 500, out: 50}); len(out.Records) != 1 || got != want {
		t.Fatalf("after an agent restart: %+v, want the new values whole %+v", out.Records, want)
	}
	out = run(geminiExport(start2, start2.Add(20*time.Second), 700, 60, 0, 0, 0), otlp.Protobuf)
	if got, want := countsOf(out.Records[0]), (counts{in: 200, out: 10}); len(out.Records) != 1 || got != want {
		t.Fatalf("second export after the restart: %+v, want %+v", out.Records, want)
	}

	// The agent counted 3300+56 input in its first run and 700 in its second.
	if got, want := total(all), (counts{in: 3356 + 700, out: 190 + 200 + 60, cached: 1024, reasoning: 200}); got != want {
		t.Errorf("all records add up to %+v, want %+v", got, want)
	}
	ids := map[string]bool{}
	for _, r := range all {
		if ids[r.RequestID] {
			t.Errorf("request id %q used twice", r.RequestID)
		}
		ids[r.RequestID] = true
	}
}

// A counter that drops without a new start time was reset: its value counts whole.
func TestCumulativeValueDrop(t *testing.T) {
	db := states{}
	a := apply(t, geminiExport(callTime, callTime.Add(time.Minute), 1000, 10, 0, 0, 0), otlp.Protobuf, db, nil)
	db.save(a.States)
	b := apply(t, geminiExport(callTime, callTime.Add(2*time.Minute), 300, 5, 0, 0, 0), otlp.Protobuf, db, nil)
	if got, want := total(b.Records), (counts{in: 300, out: 5}); got != want {
		t.Errorf("after a drop: %+v, want %+v", got, want)
	}
}

// An older export that arrives after a newer one (a late retry) counts nothing: its lower values are
// not a reset.
func TestCumulativeOutOfOrder(t *testing.T) {
	db := states{}
	older := geminiExport(callTime, callTime.Add(10*time.Second), 1000, 10, 0, 0, 0)
	newer := geminiExport(callTime, callTime.Add(20*time.Second), 1500, 20, 0, 0, 0)
	a := apply(t, newer, otlp.Protobuf, db, nil)
	db.save(a.States)
	b := apply(t, older, otlp.Protobuf, db, nil)
	if len(b.Records) != 0 || len(b.States) != 0 {
		t.Errorf("a late older export made records %+v and states %+v", b.Records, b.States)
	}
}

// When the store holds events from an agent, its token metrics make no records, but their states
// advance: should the events stop, the metrics count from there, not from the agent's start.
func TestEventsWinOverMetrics(t *testing.T) {
	db := states{}
	events := true
	from := func(agent string) bool { return events && agent == "gemini-cli" }
	out := apply(t, geminiExport(callTime, callTime.Add(10*time.Second), 1200, 80, 0, 0, 0), otlp.Protobuf, db, from)
	if len(out.Records) != 0 {
		t.Fatalf("metrics from an agent with events made records: %+v", out.Records)
	}
	if out.Ignored[otlp.MetricGeminiTokens+otlp.IgnoredEventsWin] != 2 {
		t.Errorf("ignored = %v", out.Ignored)
	}
	checkBySource(t, out.Result, "")
	db.save(out.States)
	events = false
	out = apply(t, geminiExport(callTime, callTime.Add(20*time.Second), 1500, 90, 0, 0, 0), otlp.Protobuf, db, from)
	if got, want := total(out.Records), (counts{in: 300, out: 10}); got != want {
		t.Errorf("after events stopped: %+v, want only the increase %+v", got, want)
	}

	// Claude Code: events and metrics of the same calls in one run.
	logs, err := otlp.DecodeLogs(encode(t, logsData(claudeResource, "s", claudeRequest("req_a", 100, 10, 0, 0)), otlp.Protobuf), otlp.Protobuf, now)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range logs.Agents {
		seen[a] = true
	}
	if !otlp.SendsEventsWithMetrics("gemini-cli") || otlp.SendsEventsWithMetrics("claude-code") {
		t.Error("SendsEventsWithMetrics: Gemini CLI always exports events with its metrics; Claude Code need not")
	}
	m := apply(t, metricsData(claudeResource, "com.anthropic.claude_code", sum(otlp.MetricClaudeTokens, delta,
		doublePoint(callTime, callTime.Add(time.Minute), 100, kv("type", "input"), kv("model", "claude-opus-4-1")),
		doublePoint(callTime, callTime.Add(time.Minute), 10, kv("type", "output"), kv("model", "claude-opus-4-1")))),
		otlp.Protobuf, nil, func(a string) bool { return seen[a] })
	if len(logs.Records) != 1 || len(m.Records) != 0 {
		t.Errorf("events made %d records and metrics %d; want the request once", len(logs.Records), len(m.Records))
	}
}

// Codex exports a delta histogram per turn; total and non_cached_input are derived and not counted.
func TestCodexTurnMetrics(t *testing.T) {
	tags := []*commonpb.KeyValue{kv("auth_mode", "Chatgpt"), kv("session_source", "cli"), kv("originator", "codex_cli_rs"),
		kv("model", "gpt-5.1-codex"), kv("app.version", "0.130.0"), kv("tmp_mem", "false")}
	at := callTime.Add(time.Minute)
	var pts []*metricspb.HistogramDataPoint
	for typ, v := range map[string]float64{"total": 12900, "input": 12000, "cached_input": 8000, "non_cached_input": 4000,
		"output": 900, "reasoning_output": 600} {
		pts = append(pts, histPoint(callTime, at, v, 1, with(tags, kv("token_type", typ))...))
	}
	out := apply(t, metricsData(res(kv("service.name", "codex_cli_rs"), kv("service.version", "0.130.0")), "codex",
		histogram(otlp.MetricCodexTokens, delta, pts...)), otlp.Protobuf, nil, nil)
	if len(out.Records) != 1 {
		t.Fatalf("%d records, want 1", len(out.Records))
	}
	if got, want := countsOf(out.Records[0]), (counts{in: 12000, out: 900, cached: 8000, reasoning: 600}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if out.Records[0].Account != otlp.UnknownAccount {
		t.Errorf("account = %q: Codex metrics carry no account", out.Records[0].Account)
	}
}

// Any app instrumented with the GenAI conventions: gen_ai.client.token.usage counts when nothing else
// in the export covers the same calls.
func TestGenAIClientTokenUsage(t *testing.T) {
	attrs := []*commonpb.KeyValue{kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", "openai"),
		kv("gen_ai.request.model", "gpt-4o"), kv("gen_ai.response.model", "gpt-4o-2024-08-06")}
	out := apply(t, metricsData(res(kv("service.name", "support-bot")), "openai",
		histogram(otlp.MetricGenAITokens, delta,
			histPoint(callTime, callTime.Add(time.Minute), 2006, 3, with(attrs, kv("gen_ai.token.type", "input"))...),
			histPoint(callTime, callTime.Add(time.Minute), 300, 3, with(attrs, kv("gen_ai.token.type", "output"))...))),
		otlp.JSON, nil, nil)
	if len(out.Records) != 1 || countsOf(out.Records[0]) != (counts{in: 2006, out: 300}) || out.Records[0].Model != "gpt-4o-2024-08-06" {
		t.Fatalf("records = %+v", out.Records)
	}
}

func TestBadMetricPoints(t *testing.T) {
	at := callTime.Add(time.Minute)
	noTemporality := sum(otlp.MetricClaudeTokens, metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_UNSPECIFIED,
		doublePoint(callTime, at, 5, kv("type", "input")))
	noTemporality.Name = otlp.MetricCodexTokens
	out := apply(t, metricsData(claudeResource, "s",
		sum(otlp.MetricClaudeTokens, delta,
			doublePoint(callTime, at, -5, kv("type", "input"), kv("model", "m")),
			doublePoint(callTime, at, math.NaN(), kv("type", "output"), kv("model", "m")),
			doublePoint(callTime, at, 7, kv("type", "input"), kv("model", "good")),
			doublePoint(callTime, at, 7, kv("type", "banana"), kv("model", "good"))),
		noTemporality), otlp.Protobuf, nil, nil)
	if len(out.Records) != 1 || out.Records[0].Model != "good" || out.Records[0].InputTokens != 7 {
		t.Fatalf("records = %+v", out.Records)
	}
	want := map[string]int{
		otlp.MetricClaudeTokens + ": value is negative":                     1,
		otlp.MetricClaudeTokens + ": value is not a finite number":          1,
		otlp.MetricCodexTokens + ": aggregation temporality is unspecified": 1,
	}
	if !maps.Equal(out.Rejected, want) {
		t.Errorf("rejected = %v\nwant %v", out.Rejected, want)
	}
	if out.Ignored[otlp.MetricClaudeTokens+" type=banana"] != 1 {
		t.Errorf("ignored = %v", out.Ignored)
	}
	checkBySource(t, out.Result, "")
}
