package otlp

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// GenAI semantic-convention attributes a span's usage is read from.
const (
	attrGenAIInput         = "gen_ai.usage.input_tokens"
	attrGenAIOutput        = "gen_ai.usage.output_tokens"
	attrGenAICacheRead     = "gen_ai.usage.cache_read.input_tokens"
	attrGenAICacheCreation = "gen_ai.usage.cache_creation.input_tokens"
	attrGenAIReasoning     = "gen_ai.usage.reasoning.output_tokens"
	attrGenAIOperation     = "gen_ai.operation.name"
)

// DecodeTraces reads a /v1/traces body: spans with GenAI usage attributes become records, one per span,
// the span id being the request id. Other spans are counted in Ignored by span name.
//
// Three kinds of span with usage are ignored on purpose, because the same calls are counted elsewhere:
// spans of an agent whose log events Token Stats reads (Gemini CLI, service.name gemini-cli; Codex,
// whose spans carry codex.* attributes), and agent-level spans (gen_ai.operation.name invoke_agent,
// create_agent, execute_tool), which sum the model calls beneath them.
func DecodeTraces(body []byte, enc Encoding, now time.Time) (Result, error) {
	var data tracepb.TracesData
	if err := unmarshal(body, enc, &data); err != nil {
		return Result{}, err
	}
	var res Result
	for _, rs := range data.GetResourceSpans() {
		r := newResource(rs.GetResource())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				attrs := sp.GetAttributes()
				c := counter{lists: []kvs{attrs}}
				if !c.has(attrGenAIInput) && !c.has(attrGenAIOutput) {
					res.ignore(r.source, sp.GetName())
					continue
				}
				if why := agentSpan(r, sp); why != "" {
					res.ignore(r.source, sp.GetName()+" ("+why+")")
					continue
				}
				what := "span " + sp.GetName()
				in := c.get(attrGenAIInput, false)
				out := c.get(attrGenAIOutput, false)
				read := c.get(attrGenAICacheRead, false)
				created := c.get(attrGenAICacheCreation, false)
				reasoning := c.get(attrGenAIReasoning, false)
				if c.err != nil {
					res.reject(r.source, what+": "+c.err.Error())
					continue
				}
				// The conventions say input SHOULD include cache reads and writes. Instrumentations that
				// copy Anthropic's input_tokens do not; when the cache counts exceed input, the input
				// evidently excludes them, so they are added. The same for reasoning and output.
				if read+created > in {
					in += read + created
				}
				if reasoning > out {
					out += reasoning
				}
				t := tokens{input: in, output: out, cached: read, cacheCreation: created, reasoning: reasoning}
				if reason := t.check(); reason != "" {
					res.reject(r.source, what+": "+reason)
					continue
				}
				if len(sp.GetSpanId()) == 0 || sp.GetStartTimeUnixNano() == 0 || sp.GetStartTimeUnixNano() >= 1<<63 {
					res.reject(r.source, what+": has no span id or start time")
					continue
				}
				rec := t.record(stats.Record{
					Time:      time.Unix(0, int64(sp.GetStartTimeUnixNano())).UTC(),
					Account:   account(attrs, r.attrs),
					Model:     model(attrs, r.attrs),
					Source:    r.source,
					RequestID: requestID(r.agent(), "span:"+hex.EncodeToString(sp.GetSpanId())),
				})
				if res.add(rec, what, now) {
					res.agent(r.agent())
				}
			}
		}
	}
	return res, nil
}

// agentSpan says why a span with usage is not counted, or "".
func agentSpan(r resource, sp *tracepb.Span) string {
	switch stringAttr(attrGenAIOperation, sp.GetAttributes()) {
	case "invoke_agent", "create_agent", "execute_tool":
		return "agent span: its model calls are counted"
	}
	if r.service == "gemini-cli" {
		return "Gemini CLI: its api_response events are counted"
	}
	for _, kv := range sp.GetAttributes() {
		if strings.HasPrefix(kv.GetKey(), "codex.") {
			return "Codex: its response.completed events are counted"
		}
	}
	return ""
}
