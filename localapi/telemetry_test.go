package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/otlp"
	"google.golang.org/protobuf/proto"
)

// Each agent's events, in the encoding it uses, become records whose numbers add up to what the agents
// counted; what is not usage is counted in Sources under the agent, with its names in the note.
func TestOTLPEventsOfEachAgent(t *testing.T) {
	h := newHarness(t)
	t0 := callTime
	h.export("/v1/logs", logsExport(claudeResource, "com.anthropic.claude_code.events",
		claudeEvent("user_prompt", t0), claudeRequest("req_1", t0, 20, 300, 1000, 500),
		claudeEvent("tool_result", t0), claudeRequest("req_2", t0.Add(time.Second), 10, 50, 0, 0)), otlp.Protobuf, false)
	// Gemini CLI with otlpProtocol "http" sends OTLP/JSON.
	h.export("/v1/logs", logsExport(geminiResource, "gemini-cli",
		geminiResponse(t0, 1200, 80, 1024, 200, 56), geminiDetails(t0, 1200, 80)), otlp.JSON, false)
	// Codex with protocol "binary", gzipped as its exporter can.
	h.export("/v1/logs", logsExport(codexResource, "codex_otel",
		codexSSE("response.created", t0), codexSSE("response.completed", t0, "12000", "900", "8000", "600")), otlp.Protobuf, true)

	got := h.totals()
	want := stats.Totals{Requests: 4,
		InputTokens:  (20 + 1000 + 500) + 10 + (1200 + 56) + 12000,
		OutputTokens: 300 + 50 + (80 + 200) + 900,
		CachedTokens: 1000 + 1024 + 8000, ReasoningTokens: 200 + 600, CacheCreationTokens: 500,
		AgentCost: 2 * 12_500_000, AgentRequests: 2, Unpriced: 4}
	if got != want {
		t.Errorf("totals = %+v\nwant     %+v", got, want)
	}
	for name, ignored := range map[string]int64{"claude-code 2.1.214": 2, "gemini-cli 0.56.0": 1, "codex_cli_rs 0.130.0": 1} {
		src := h.sourceNamed(name)
		if src.Kind != stats.KindOTLP || src.Ignored != ignored || src.Error != "" {
			t.Errorf("source %q = %+v, want kind otlp, %d ignored, no error", name, src, ignored)
		}
	}
	if note := h.sourceNamed("claude-code 2.1.214").Note; !contains(note, "claude_code.tool_result") || !contains(note, "claude_code.user_prompt") {
		t.Errorf("claude-code note %q does not name what was ignored", note)
	}
}

// An exporter that retries a batch, in either encoding, gzipped or not, counts it once: log records and
// spans by their request or span id, delta metric points by series and time.
func TestOTLPRetriedBatchesCountOnce(t *testing.T) {
	h := newHarness(t)
	t0 := callTime
	batches := []struct {
		path string
		m    proto.Message
	}{
		// The metrics first: once Claude Code's events are in, its token metrics are not counted.
		{"/v1/metrics", claudeTokens(deltaTemp, t0, t0.Add(time.Minute), 7, 3, 0, 0)},
		{"/v1/logs", logsExport(claudeResource, "s", claudeRequest("req_1", t0, 20, 300, 1000, 500))},
		{"/v1/logs", logsExport(geminiResource, "gemini-cli", geminiResponse(t0, 1200, 80, 1024, 200, 56))},
		{"/v1/logs", logsExport(codexResource, "codex_otel", codexSSE("response.completed", t0, "12000", "900", "8000", "600"))},
		{"/v1/traces", genaiSpan("eee19b7ec3c1b174", t0, 2006, 300)},
	}
	var once stats.Totals
	for i, b := range batches {
		h.export(b.path, b.m, otlp.Protobuf, false)
		once = h.totals()
		for _, enc := range []otlp.Encoding{otlp.Protobuf, otlp.JSON} {
			for _, gz := range []bool{false, true} {
				h.export(b.path, b.m, enc, gz)
				if got := h.totals(); got != once {
					t.Fatalf("batch %d sent again (encoding %v, gzip %v): totals %+v, want %+v", i, enc, gz, got, once)
				}
			}
		}
	}
	if once.Requests != 5 {
		t.Errorf("%d records, want one per batch", once.Requests)
	}
	// The span's id is the request id, the same whichever encoding it came in.
	if got := h.sourceNamed("support-bot 1.4.2"); got.Today.Requests != 1 || got.Today.InputTokens != 2006 {
		t.Errorf("support-bot = %+v, want its one span", got)
	}
}

// An empty export succeeds in either encoding; an unreadable one is refused with a Status in the
// request's encoding naming the problem; nothing of a refused export is stored.
func TestOTLPEmptyAndHostileExports(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		body []byte
		enc  otlp.Encoding
		want string
	}{{nil, otlp.Protobuf, ""}, {nil, otlp.JSON, "{}"}, {[]byte("{}"), otlp.JSON, "{}"}} {
		for _, path := range []string{"/v1/logs", "/v1/metrics", "/v1/traces"} {
			code, raw, hdr := h.post(path, c.body, "Content-Type", c.enc.ContentType())
			if code != 200 || string(raw) != c.want || hdr.Get("Content-Type") != c.enc.ContentType() {
				t.Errorf("empty %s export %q: %d %q %q", path, c.body, code, raw, hdr.Get("Content-Type"))
			}
		}
	}

	valid := encodeOTLP(t, logsExport(claudeResource, "s", claudeRequest("req_1", callTime, 20, 300, 0, 0)), otlp.Protobuf)
	padded := logsExport(claudeResource, "s", claudeRequest("req_2", callTime, 20, 300, 0, 0))
	padded.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Attributes = append(padded.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Attributes,
		kv("padding", strings.Repeat("x", 21<<20)))
	big := encodeOTLP(t, padded, otlp.Protobuf)
	member := gzipBytes(t, make([]byte, 1<<20))
	bomb := bytes.Repeat(member, 1024) // 1 GiB of zeros in about 1 MiB
	deep := []byte(strings.Repeat(`{"resourceLogs":[`, 60) + strings.Repeat(`]}`, 60))
	cases := []struct {
		name        string
		body        []byte
		ctype, cenc string
		status      int
		code        int64
		want        string
	}{
		{"truncated protobuf", valid[:len(valid)-7], "application/x-protobuf", "", 400, otlp.CodeInvalidArgument, "truncated"},
		{"21 MiB", big, "application/x-protobuf", "", 413, otlp.CodeResourceExhausted, "larger than 20 MiB"},
		{"gzip bomb", bomb, "application/x-protobuf", "gzip", 413, otlp.CodeResourceExhausted, "once decompressed"},
		{"not gzip", valid, "application/x-protobuf", "gzip", 400, otlp.CodeInvalidArgument, "gzip"},
		{"deep JSON", deep, "application/json", "", 400, otlp.CodeInvalidArgument, "nested more than 100 levels"},
		{"malformed JSON", []byte(`{"resourceLogs":[{"scopeLogs":[`), "application/json", "", 400, otlp.CodeInvalidArgument, "malformed OTLP/JSON"},
		{"other type", valid, "text/plain", "", 415, otlp.CodeInvalidArgument, "application/x-protobuf or application/json"},
		{"gRPC", valid, "application/grpc", "", 415, otlp.CodeInvalidArgument, "unsupported"},
		{"brotli", valid, "application/x-protobuf", "br", 415, otlp.CodeInvalidArgument, "Content-Encoding"},
	}
	for _, c := range cases {
		for _, path := range []string{"/v1/logs", "/v1/metrics", "/v1/traces"} {
			hdr := []string{"Content-Type", c.ctype}
			if c.cenc != "" {
				hdr = append(hdr, "Content-Encoding", c.cenc)
			}
			code, raw, got := h.post(path, c.body, hdr...)
			enc := otlp.Protobuf
			if c.ctype != "application/x-protobuf" {
				enc = otlp.JSON
			}
			if code != c.status || got.Get("Content-Type") != enc.ContentType() {
				t.Errorf("%s to %s: %d %q, want %d in %s", c.name, path, code, got.Get("Content-Type"), c.status, enc.ContentType())
				continue
			}
			if sc, msg := status(t, raw, enc); sc != c.code || !contains(msg, c.want) {
				t.Errorf("%s to %s: status %d %q, want code %d saying %q", c.name, path, sc, msg, c.code, c.want)
			}
		}
	}
	// Without the token: 401, as on every route.
	req, _ := http.NewRequest("POST", h.srv.URL+"/v1/logs", bytes.NewReader(valid))
	req.Header.Set("Content-Type", "application/x-protobuf")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("export without the token: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	if got := h.totals(); got != (stats.Totals{}) {
		t.Errorf("refused exports stored %+v", got)
	}
	if list, _ := h.store.Sources(context.Background(), stats.LastHours(h.now, 24)); len(list) != 0 {
		t.Errorf("refused exports made sources %+v", list)
	}
}

// Usage that cannot be stored is rejected, counted in the answer's partial_success and shown as the
// source's error; the rest of the export is stored.
func TestOTLPRejectedItems(t *testing.T) {
	h := newHarness(t)
	bad := claudeRequest("req_bad", callTime, 20, 300, 0, 0)
	bad.Attributes = append(bad.Attributes[:0:0], bad.Attributes...)
	for i, a := range bad.Attributes {
		if a.Key == "output_tokens" {
			bad.Attributes[i] = kv("output_tokens", "-4")
		}
	}
	export := logsExport(claudeResource, "s", bad, claudeRequest("req_good", callTime, 20, 300, 0, 0))
	for _, enc := range []otlp.Encoding{otlp.JSON, otlp.Protobuf} {
		code, raw, _ := h.post("/v1/logs", encodeOTLP(t, export, enc), "Content-Type", enc.ContentType())
		want := otlp.EncodeResponse(otlp.Logs, enc, 1, "1 not stored: claude_code.api_request: output_tokens: must not be negative (1)")
		if code != 200 || !bytes.Equal(raw, want) {
			t.Errorf("%v: %d %q, want 200 %q", enc, code, raw, want)
		}
	}
	if got := h.totals(); got.Requests != 1 || got.OutputTokens != 300 {
		t.Errorf("totals %+v, want only req_good", got)
	}
	if src := h.sourceNamed("claude-code 2.1.214"); !contains(src.Error, "output_tokens: must not be negative") || src.ErrorAt.IsZero() {
		t.Errorf("source = %+v, want the reason as its error", src)
	}
}

// A cumulative counter counts its increase per export; an agent restart (new start time) counts its
// new values whole; a Token Stats restart (the database file closed and opened again) reads the series
// states back and counts nothing twice, even when the agent retries its last export.
func TestOTLPCumulativeAcrossRestarts(t *testing.T) {
	path := tempDB(t)
	now := callTime.Add(time.Hour)
	h := harnessAt(t, path, now)
	start := callTime
	h.export("/v1/metrics", claudeTokens(cumulativeTemp, start, start.Add(1*time.Minute), 100, 10, 1000, 0), otlp.Protobuf, false)
	h.export("/v1/metrics", claudeTokens(cumulativeTemp, start, start.Add(2*time.Minute), 150, 12, 1500, 0), otlp.JSON, false)
	if got := h.totals(); got.InputTokens != 150+1500 || got.OutputTokens != 12 || got.CachedTokens != 1500 {
		t.Fatalf("after two exports: %+v, want input 1650 (150 + 1500 cache reads), output 12", got)
	}
	h.stop()

	h = harnessAt(t, path, now)
	// The agent did not hear the answer and sends its last export again; then goes on counting.
	h.export("/v1/metrics", claudeTokens(cumulativeTemp, start, start.Add(2*time.Minute), 150, 12, 1500, 0), otlp.Protobuf, true)
	h.export("/v1/metrics", claudeTokens(cumulativeTemp, start, start.Add(3*time.Minute), 170, 20, 1500, 0), otlp.Protobuf, false)
	// The agent restarts: a new start time, its counters from zero.
	restart := start.Add(4 * time.Minute)
	h.export("/v1/metrics", claudeTokens(cumulativeTemp, restart, restart.Add(time.Minute), 30, 5, 0, 0), otlp.Protobuf, false)
	h.export("/v1/metrics", claudeTokens(cumulativeTemp, restart, restart.Add(time.Minute), 30, 5, 0, 0), otlp.JSON, false)
	got := h.totals()
	if got.InputTokens != 170+1500+30 || got.OutputTokens != 20+5 || got.CachedTokens != 1500 {
		t.Errorf("over the run: %+v, want input 1700, output 25, cached 1500: what the agent counted", got)
	}
}

// Two exports of one cumulative series that arrive at once must not both count the same increase.
// Bursts of concurrent exports (late copies and retries of an exporter's recent exports, with rising
// values) must count exactly the counters' last values.
func TestOTLPConcurrentCumulativeExports(t *testing.T) {
	h := newHarness(t)
	start := callTime
	h.export("/v1/metrics", claudeTokens(cumulativeTemp, start, start.Add(time.Second), 100, 10, 0, 0), otlp.Protobuf, false)
	const rounds, n = 8, 16
	send := func(b []byte) string {
		req, _ := http.NewRequest("POST", h.srv.URL+"/v1/metrics", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return resp.Status
		}
		return ""
	}
	step := 0
	for r := 0; r < rounds; r++ {
		bodies := make([][]byte, n)
		for i := range bodies {
			step++
			bodies[i] = encodeOTLP(t, claudeTokens(cumulativeTemp, start, start.Add(time.Duration(1+step)*time.Second),
				float64(100+10*step), float64(10+step), 0, 0), otlp.Protobuf)
		}
		var wg sync.WaitGroup
		ready := make(chan struct{})
		errs := make(chan string, n)
		for _, b := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				if e := send(b); e != "" {
					errs <- e
				}
			}()
		}
		close(ready)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
	if got := h.totals(); got.InputTokens != int64(100+10*step) || got.OutputTokens != int64(10+step) {
		t.Errorf("after %d concurrent exports: input %d, output %d; want %d and %d, the counters' last values",
			step, got.InputTokens, got.OutputTokens, 100+10*step, 10+step)
	}
}

// When one agent sends events and metrics of the same calls, the events count and its token metrics do
// not, and Sources says so. Gemini CLI always exports both, so even its first metrics export, before
// any of its events, counts nothing. An agent whose events stop has its metrics counted again a day
// later. Which agents sent events survives a restart of Token Stats.
func TestOTLPEventsWinOverMetrics(t *testing.T) {
	path := tempDB(t)
	h := harnessAt(t, path, callTime.Add(time.Hour))
	t0 := callTime
	h.export("/v1/logs", logsExport(claudeResource, "s", claudeRequest("req_1", t0, 20, 300, 1000, 0)), otlp.Protobuf, false)
	h.export("/v1/metrics", claudeTokens(deltaTemp, t0, t0.Add(time.Minute), 20, 300, 1000, 0), otlp.Protobuf, false)
	if got := h.totals(); got.Requests != 1 || got.InputTokens != 1020 || got.OutputTokens != 300 {
		t.Errorf("events and metrics of one call: %+v, want the event only", got)
	}
	src := h.sourceNamed("claude-code 2.1.214")
	if !contains(src.Note, "events win") || src.Ignored != 3 {
		t.Errorf("claude-code source = %+v, want a note that its token metrics are not counted and 3 points (the types with tokens) ignored", src)
	}

	// Gemini CLI's metrics arrive before its first events.
	h.export("/v1/metrics", geminiTokens(t0, t0.Add(10*time.Second), 1200, 80), otlp.JSON, false)
	if got := h.sourceNamed("gemini-cli 0.56.0"); got.Today.Requests != 0 || !contains(got.Note, "events win") {
		t.Errorf("Gemini CLI's first metrics export: %+v, want nothing counted and the note", got)
	}
	h.export("/v1/logs", logsExport(geminiResource, "gemini-cli", geminiResponse(t0.Add(5*time.Second), 1200, 80, 0, 0, 0)), otlp.JSON, false)
	h.export("/v1/metrics", geminiTokens(t0, t0.Add(20*time.Second), 1200, 80), otlp.JSON, false)
	if got := h.sourceNamed("gemini-cli 0.56.0").Today; got.Requests != 1 || got.InputTokens != 1200 || got.OutputTokens != 80 {
		t.Errorf("Gemini CLI: %+v, want its one event", got)
	}

	// Token Stats restarts: Claude Code's events are remembered.
	h.stop()
	h = harnessAt(t, path, callTime.Add(2*time.Hour))
	h.export("/v1/metrics", claudeTokens(deltaTemp, t0, t0.Add(2*time.Minute), 5, 5, 0, 0), otlp.Protobuf, false)
	if got := h.totals(); got.Requests != 2 {
		t.Errorf("after a restart, Claude Code's metrics were counted beside its events: %+v", got)
	}

	// A day without events: its metrics count again.
	later := callTime.Add(26 * time.Hour)
	h.now = later.Add(time.Minute)
	h.export("/v1/metrics", claudeTokens(deltaTemp, later.Add(-time.Minute), later, 7, 3, 0, 0), otlp.Protobuf, false)
	if got := h.sourceNamed("claude-code 2.1.214").Today; got.Requests != 1 || got.InputTokens != 7 || got.OutputTokens != 3 {
		t.Errorf("metrics a day after the last events: %+v, want them counted", got)
	}
}

// LiteLLM's generic logger: a JSON array (its default), NDJSON and single objects, all labelled
// application/json, are stored once; failed calls and cache hits are counted in Sources; a retry is
// a duplicate; a body that is not JSON is refused whole.
func TestLiteLLMIngest(t *testing.T) {
	h := newHarness(t)
	// The payloads of usage/litellm's test batch, moved into the harness's past (they are of 2026-11-30).
	var items []map[string]any
	if err := json.Unmarshal(readFile(t, "../usage/litellm/testdata/generic-api-batch.json"), &items); err != nil {
		t.Fatal(err)
	}
	shift := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).Sub(time.Date(2026, 1, 22, 0, 0, 0, 0, time.UTC)).Seconds()
	var lines [][]byte
	for _, it := range items {
		for _, k := range []string{"startTime", "endTime", "completionStartTime"} {
			if v, ok := it[k].(float64); ok {
				it[k] = v - shift
			}
		}
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	array := append(append([]byte("[\n"), bytes.Join(lines, []byte(",\n"))...), "\n]"...)
	ndjson := bytes.Join(lines, []byte("\n"))

	code, res := h.do("POST", "/ingest/litellm", string(array))
	if code != 200 || res["accepted"] != 3.0 || res["duplicates"] != 0.0 || res["ignored"] != 2.0 || res["rejected"] != 0.0 {
		t.Fatalf("json_array: %d %v, want 3 accepted, the failure and the cache hit ignored", code, res)
	}
	once := h.totals()
	code, res = h.do("POST", "/ingest/litellm", string(ndjson))
	if code != 200 || res["accepted"] != 0.0 || res["duplicates"] != 3.0 {
		t.Errorf("the same payloads as NDJSON: %d %v, want 3 duplicates", code, res)
	}
	for i, line := range lines {
		if code, res := h.do("POST", "/ingest/litellm", string(line)); code != 200 || res["accepted"] != 0.0 {
			t.Errorf("payload %d alone: %d %v, want a duplicate or ignored", i, code, res)
		}
	}
	if got := h.totals(); got != once || got.Requests != 3 || got.AgentRequests != 3 {
		t.Errorf("totals %+v after resending, want %+v once, with LiteLLM's costs", got, once)
	}
	src := h.sourceNamed("litellm")
	if src.Kind != stats.KindLiteLLM || src.Ignored != 2+2+2 || src.Today.Requests != 3 {
		t.Errorf("litellm source = %+v, want kind litellm, 6 ignored over three sends", src)
	}

	for _, c := range []struct {
		body, ctype string
		status      int
		want        string
	}{
		{`[{"id":"x","model":"m","prompt_tokens":1`, "application/json", 400, "malformed"},
		{`[1,2]`, "application/json", 400, "not a JSON object"},
		{`{"id":"y"} trailing`, "application/json", 400, "malformed"},
		{string(array), "text/plain", 415, "Content-Type"},
		{"", "application/json", 400, "empty"},
	} {
		if code, res := h.do("POST", "/ingest/litellm", c.body, "Content-Type", c.ctype); code != c.status || !contains(fmt.Sprint(res["error"]), c.want) {
			t.Errorf("%.30q as %s: %d %v, want %d saying %q", c.body, c.ctype, code, res, c.status, c.want)
		}
	}
	huge := append([]byte(`[{"id":"`), bytes.Repeat([]byte("a"), 33<<20)...)
	if code, res := h.do("POST", "/ingest/litellm", string(huge)); code != 413 || !contains(fmt.Sprint(res["error"]), "larger than 32 MiB") {
		t.Errorf("33 MiB body: %d %v, want 413", code, res)
	}
	if got := h.totals(); got != once {
		t.Errorf("refused bodies changed the totals: %+v", got)
	}
}
