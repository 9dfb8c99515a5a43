package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tokenstats/tokenstats/usage/usagetest"
)

// scan feeds an answer to a new scanner in pieces of n bytes (0: whole).
func scan(answer string, n int) (Answer, error) {
	a := NewAnswerScanner()
	b := []byte(answer)
	for len(b) > 0 {
		k := len(b)
		if n > 0 && n < k {
			k = n
		}
		a.Write(b[:k])
		b = b[k:]
	}
	return a.Result()
}

func counts(c Counts) [5]int64 {
	return [5]int64{c.InputTokens, c.OutputTokens, c.CachedTokens, c.ReasoningTokens, c.CacheCreationTokens}
}

var pieceSizes = []int{0, 1, 2, 7, 64}

// Every normalisation vector that is a response body reads the same from the scanner, however the body
// is cut: the pass-through records exactly what POST /usage would.
func TestAnswerScannerVectors(t *testing.T) {
	n := 0
	for _, v := range usagetest.Vectors(t) {
		if v.UsageOnly || v.Provider != "" || strings.HasPrefix(v.Name, "anthropic message_") {
			continue // not answers (bare usage objects, a provider the answer cannot name, a lone stream event)
		}
		var indented bytes.Buffer
		json.Indent(&indented, v.Body, "", "  ")
		for _, body := range []string{string(v.Body), indented.String()} {
			for _, size := range pieceSizes {
				got, err := scan(body, size)
				if v.Error != "" {
					if err == nil {
						t.Errorf("%s (pieces of %d): no error, want one like %q", v.Name, size, v.Error)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s (pieces of %d): %v", v.Name, size, err)
					continue
				}
				want := [5]int64{v.Want.Input, v.Want.Output, v.Want.Cached, v.Want.Reasoning, v.Want.CacheCreation}
				if counts(got.Counts) != want || got.Counts.Provider != v.Want.Provider {
					t.Errorf("%s (pieces of %d): %s %v, want %s %v", v.Name, size, got.Counts.Provider, counts(got.Counts), v.Want.Provider, want)
				}
			}
		}
		n++
	}
	if n < 8 {
		t.Fatalf("only %d vectors are answers", n)
	}
}

const openAIStream = `data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"Hi \"usage\": {}"}}],"usage":null}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920},"completion_tokens_details":{"reasoning_tokens":64}}}

data: [DONE]

`

const anthropicStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_01XF","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}

`

const responsesStream = `event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_67cc","object":"response","status":"in_progress","model":"gpt-5-codex","output":[],"usage":null}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi","sequence_number":4}

event: response.completed
data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_67cc","object":"response","status":"completed","model":"gpt-5-codex","output":[{"type":"message","id":"msg_1","content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":328,"input_tokens_details":{"cached_tokens":256},"output_tokens":1500,"output_tokens_details":{"reasoning_tokens":1344},"total_tokens":1828}}}

`

// Gemini with alt=sse ends lines with CRLF; every chunk carries running totals.
const geminiStream = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"}}],\"usageMetadata\": {\"promptTokenCount\": 120,\"totalTokenCount\": 120},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"r-abc\"}\r\n\r\n" +
	"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo\"}],\"role\": \"model\"},\"finishReason\": \"STOP\"}],\"usageMetadata\": {\"promptTokenCount\": 120,\"candidatesTokenCount\": 30,\"thoughtsTokenCount\": 50,\"cachedContentTokenCount\": 64,\"totalTokenCount\": 200},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"r-abc\"}\r\n\r\n"

func TestAnswerScannerStreams(t *testing.T) {
	codeAssist := strings.NewReplacer("data: {", `data: {"response": {`, "}\r\n", "}, \"traceId\": \"55650653afd3c738\"}\r\n").Replace(geminiStream)
	geminiArray := "[" + strings.ReplaceAll(strings.TrimSuffix(strings.ReplaceAll(geminiStream, "data: ", ""), "\r\n\r\n"), "\r\n\r\n", ",\r\n") + "]"
	cases := []struct {
		name, answer, model, id, provider string
		want                              [5]int64 // input, output, cached, reasoning, cache creation
	}{
		{"openai chat, stream_options.include_usage", openAIStream, "gpt-4o-mini-2024-07-18", "chatcmpl-9", ProviderOpenAI, [5]int64{2006, 300, 1920, 64, 0}},
		{"anthropic message_start + message_delta", anthropicStream, "claude-sonnet-4-5-20250929", "msg_01XF", ProviderAnthropic, [5]int64{2125, 15, 2000, 0, 100}},
		{"responses response.completed", responsesStream, "gpt-5-codex", "resp_67cc", ProviderOpenAIResponses, [5]int64{328, 1500, 256, 1344, 0}},
		{"gemini alt=sse, last usageMetadata", geminiStream, "gemini-2.5-pro", "r-abc", ProviderGemini, [5]int64{120, 80, 64, 50, 0}},
		{"code assist envelope", codeAssist, "gemini-2.5-pro", "r-abc", ProviderGemini, [5]int64{120, 80, 64, 50, 0}},
		{"gemini JSON array stream", geminiArray, "gemini-2.5-pro", "r-abc", ProviderGemini, [5]int64{120, 80, 64, 50, 0}},
		// One event's JSON over several data lines (joined with "\n"), CRLF line ends, a comment line.
		{"multi-line data", ": keep-alive\r\ndata: {\"model\": \"gemini-2.5-flash\",\r\ndata:\"usageMetadata\":\r\ndata\r\ndata: {\"promptTokenCount\": 9}}\r\n\r\n",
			"gemini-2.5-flash", "", ProviderGemini, [5]int64{9, 0, 0, 0, 0}},
	}
	for _, c := range cases {
		for _, size := range pieceSizes {
			got, err := scan(c.answer, size)
			if err != nil {
				t.Fatalf("%s (pieces of %d): %v", c.name, size, err)
			}
			if counts(got.Counts) != c.want || got.Counts.Provider != c.provider || got.Model != c.model || got.ID != c.id {
				t.Fatalf("%s (pieces of %d): %s %v model %q id %q; want %s %v %q %q", c.name, size,
					got.Counts.Provider, counts(got.Counts), got.Model, got.ID, c.provider, c.want, c.model, c.id)
			}
		}
	}
}

// A stream cut short yields what it carried so far: Gemini's running totals, Anthropic's input with
// message_start's output placeholder, and nothing from an OpenAI stream whose usage comes last.
func TestAnswerScannerAbandoned(t *testing.T) {
	cut := func(s, at string) string { return s[:strings.Index(s, at)+len(at)] }
	got, err := scan(cut(geminiStream, `"text": "lo`), 5)
	if err != nil || counts(got.Counts) != [5]int64{120, 0, 0, 0, 0} {
		t.Errorf("gemini cut in its second event: %v %v", counts(got.Counts), err)
	}
	got, err = scan(cut(anthropicStream, `"Hello"`), 5)
	if err != nil || counts(got.Counts) != [5]int64{2125, 1, 2000, 0, 100} {
		t.Errorf("anthropic cut before message_delta: %v %v", counts(got.Counts), err)
	}
	got, err = scan(cut(openAIStream, `"choices":[]`), 5)
	var ue *Error
	if !errors.As(err, &ue) || got.Model != "gpt-4o-mini-2024-07-18" {
		t.Errorf("openai cut before its usage: %v %v, want no usage and the model", counts(got.Counts), err)
	}
}

func TestAnswerScannerNoUsage(t *testing.T) {
	for _, answer := range []string{
		``, `   `, `{"error":{"code":401,"message":"API key not valid","status":"UNAUTHENTICATED"}}`,
		"data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n", `<html>502 Bad Gateway</html>`,
		`{"usage": "many"}`, `{"usage": {"prompt_tokens": 1, "completion_tokens": 2}`, // cut before the body closes
		"data: {\"id\":\"x\",\"choices\":[],\"usage\":null}\n\ndata: [DONE]\n\n",
	} {
		if got, err := scan(answer, 3); err == nil {
			t.Errorf("%q: usage %v, want none", answer, counts(got.Counts))
		}
	}
}

// Memory stays flat: a body whose text runs to megabytes, and a usage member too big to be one, leave
// the scanner holding kilobytes.
func TestAnswerScannerBounded(t *testing.T) {
	big := strings.Repeat("token ", 2<<20/6*4) // 8 MiB of text
	body := `{"id":"chatcmpl-big","object":"chat.completion","model":"gpt-4o","choices":[{"message":{"content":"` + big +
		`"}}],"usage":{"prompt_tokens":7,"completion_tokens":3}}`
	a := NewAnswerScanner()
	for b := []byte(body); len(b) > 0; {
		k := min(len(b), 32<<10)
		a.Write(b[:k])
		b = b[k:]
	}
	got, err := a.Result()
	if err != nil || counts(got.Counts) != [5]int64{7, 3, 0, 0, 0} {
		t.Fatalf("%v %v", counts(got.Counts), err)
	}
	if n := a.retained(); n > 64<<10 {
		t.Fatalf("the scanner keeps %d bytes after an 8 MiB body", n)
	}
	huge := `{"usage":{"prompt_tokens":1,"completion_tokens":1,"pad":"` + strings.Repeat("x", maxCapture) + `"}}`
	if got, err := scan(huge, 4096); err == nil {
		t.Fatalf("a usage member over %d bytes was kept: %v", maxCapture, counts(got.Counts))
	}
	deep := strings.Repeat("[", 100000)
	if _, err := scan(deep, 0); err == nil {
		t.Fatal("deep nesting found usage")
	}
}

// retained is what the scanner holds on to, in bytes (for the bound test).
func (a *AnswerScanner) retained() int {
	n := cap(a.last) + cap(a.hint) + cap(a.js.stack)*2
	for _, v := range a.js.vals {
		n += cap(v)
	}
	for k, v := range a.anth {
		n += len(k) + cap(v)
	}
	return n
}

func TestRequestScanner(t *testing.T) {
	body := `{"model": "gemini-2.5-pro", "project": "proj-4815",
	  "request": {"contents": [{"role": "user", "parts": [{"text": "say \"model\": \"x\""}]}], "model": "inner"},
	  "requestId": "agent/1/2/3/1", "userAgent": "antigravity"}`
	for _, size := range pieceSizes {
		r := NewRequestScanner()
		for b := []byte(body); len(b) > 0; {
			k := len(b)
			if size > 0 && size < k {
				k = size
			}
			r.Write(b[:k])
			b = b[k:]
		}
		if r.Model() != "gemini-2.5-pro" || r.Project() != "proj-4815" || r.RequestID() != "agent/1/2/3/1" {
			t.Fatalf("pieces of %d: model %q project %q request id %q", size, r.Model(), r.Project(), r.RequestID())
		}
	}
	r := NewRequestScanner()
	r.Write([]byte(`--boundary\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1`))
	if r.Model() != "" {
		t.Fatalf("a multipart body named model %q", r.Model())
	}
}

func TestModelFromPath(t *testing.T) {
	for path, want := range map[string]string{
		"/v1beta/models/gemini-2.5-pro:streamGenerateContent":                                       "gemini-2.5-pro",
		"/v1/projects/p/locations/us/publishers/google/models/gemini-2.0-flash-001:generateContent": "gemini-2.0-flash-001",
		"/v1internal:generateContent":                                                               "", "/v1/chat/completions": "", "/v1beta/models": "",
	} {
		if got := ModelFromPath(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

// FuzzAnswerScanner: whatever the answer, the scanner never panics, and cutting it anywhere changes
// nothing it reports.
func FuzzAnswerScanner(f *testing.F) {
	for _, s := range []string{openAIStream, anthropicStream, responsesStream, geminiStream,
		`{"usage":{"prompt_tokens":1,"completion_tokens":2}}`, `[{"usageMetadata":{"promptTokenCount":3}}]`} {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, answer []byte, at uint16) {
		whole, errWhole := scan(string(answer), 0)
		a := NewAnswerScanner()
		k := int(at) % (len(answer) + 1)
		a.Write(answer[:k])
		a.Write(answer[k:])
		cut, errCut := a.Result()
		if whole != cut || (errWhole == nil) != (errCut == nil) {
			t.Fatalf("whole: %+v %v; cut at %d: %+v %v", whole, errWhole, k, cut, errCut)
		}
	})
}
