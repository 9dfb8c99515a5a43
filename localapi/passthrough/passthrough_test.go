package passthrough

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
)

// Secrets of the requests below: none of them may ever reach the disk, the log or a message.
const (
	openAIKey    = "sk-proj-SECRET0penAI0000000000000000000001"
	anthropicKey = "sk-ant-api03-SECRETanthropic000000000000002"
	geminiKey    = "AIzaSySECRETgemini0000000000000000000003"
	oauthToken   = "ya29.a0SECRET0auth0000000000000000000000004"
)

// format is one upstream API's request and answer, the answer in the pieces the fake upstream sends.
type format struct {
	name, upstream, path string
	hdr                  []string
	reqBody, ctype       string
	chunks               []string
	want                 [5]int64 // input, output, cached, reasoning, cache creation
	model, id, account   string
}

func (f format) body() string { return strings.Join(f.chunks, "") }

var bearerOpenAI = []string{"Authorization", "Bearer " + openAIKey}

func nonStreaming() []format {
	return []format{
		{name: "openai chat", upstream: "openai", path: "/v1/chat/completions", hdr: bearerOpenAI,
			reqBody: `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`, ctype: "application/json",
			chunks: []string{`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1769097600,"model":"gpt-4o-2024-08-06",` +
				`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],` +
				`"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920},"completion_tokens_details":{"reasoning_tokens":0}}}`},
			want: [5]int64{2006, 300, 1920, 0, 0}, model: "gpt-4o-2024-08-06", id: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
			account: usage.KeyFingerprint(openAIKey)},
		{name: "openai responses", upstream: "openai", path: "/v1/responses", hdr: bearerOpenAI,
			reqBody: `{"model":"o4-mini","input":"Hi"}`, ctype: "application/json",
			chunks: []string{`{"id":"resp_67ccd2bed1ec8190","object":"response","created_at":1769097600,"status":"completed","model":"o4-mini-2025-04-16","output":[],` +
				`"usage":{"input_tokens":328,"input_tokens_details":{"cached_tokens":256},"output_tokens":1500,"output_tokens_details":{"reasoning_tokens":1344},"total_tokens":1828}}`},
			want: [5]int64{328, 1500, 256, 1344, 0}, model: "o4-mini-2025-04-16", id: "resp_67ccd2bed1ec8190", account: usage.KeyFingerprint(openAIKey)},
		{name: "anthropic messages", upstream: "anthropic", path: "/v1/messages", hdr: []string{"X-Api-Key", anthropicKey, "Anthropic-Version", "2023-06-01"},
			reqBody: `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hi"}]}`, ctype: "application/json",
			chunks: []string{`{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",` +
				`"content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn",` +
				`"usage":{"input_tokens":21,"cache_creation_input_tokens":188086,"cache_read_input_tokens":1000,"output_tokens":393}}`},
			want: [5]int64{189107, 393, 1000, 0, 188086}, model: "claude-sonnet-4-5-20250929", id: "msg_013Zva2CMHLNnXjNJJKqJ2EF",
			account: usage.KeyFingerprint(anthropicKey)},
		{name: "gemini generateContent", upstream: "gemini", path: "/v1beta/models/gemini-2.5-pro:generateContent?key=" + geminiKey,
			reqBody: `{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}`, ctype: "application/json; charset=UTF-8",
			chunks: []string{`{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP"}],` +
				`"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":30,"thoughtsTokenCount":50,"cachedContentTokenCount":64,"totalTokenCount":200},` +
				`"modelVersion":"gemini-2.5-pro","responseId":"mAitaLOPHbmdkdUP"}`},
			want: [5]int64{120, 80, 64, 50, 0}, model: "gemini-2.5-pro", id: "mAitaLOPHbmdkdUP", account: usage.KeyFingerprint(geminiKey)},
		{name: "code assist generateContent", upstream: "gemini-code-assist", path: "/v1internal:generateContent",
			hdr:     []string{"Authorization", "Bearer " + oauthToken},
			reqBody: `{"model":"gemini-2.5-flash","project":"proj-cli-42","request":{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}}`,
			ctype:   "application/json; charset=UTF-8",
			chunks: []string{`{"response": {"candidates": [{"content": {"role": "model","parts": [{"text": "Why did the scarecrow win?"}]},"finishReason": "STOP"}],` +
				`"usageMetadata": {"promptTokenCount": 10,"candidatesTokenCount": 17,"thoughtsTokenCount": 24,"totalTokenCount": 51},` +
				`"modelVersion": "gemini-2.5-flash","responseId": "kbFhaY2lCr-ZseMPqMiDmAU"},"traceId": "55650653afd3c738"}`},
			want: [5]int64{10, 41, 0, 24, 0}, model: "gemini-2.5-flash", id: "kbFhaY2lCr-ZseMPqMiDmAU", account: "proj-cli-42"},
	}
}

func sse(events ...string) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e + "\n\n"
	}
	return out
}

func streaming() []format {
	geminiChunks := []string{
		`{"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 120,"totalTokenCount": 120},"modelVersion": "gemini-2.5-pro","responseId": "r-abc"}`,
		`{"candidates": [{"content": {"parts": [{"text": "lo"}],"role": "model"},"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 30,"thoughtsTokenCount": 50,"totalTokenCount": 200},"modelVersion": "gemini-2.5-pro","responseId": "r-abc"}`,
	}
	crlf := func(prefix, suffix string) []string {
		out := make([]string, len(geminiChunks))
		for i, c := range geminiChunks {
			out[i] = "data: " + prefix + c + suffix + "\r\n\r\n"
		}
		return out
	}
	oauth := []string{"Authorization", "Bearer " + oauthToken}
	return []format{
		{name: "openai chat stream", upstream: "openai", path: "/v1/chat/completions", hdr: bearerOpenAI,
			reqBody: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, ctype: "text/event-stream; charset=utf-8",
			chunks: sse(
				`data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}`,
				`data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}`,
				`data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":17,"completion_tokens":9,"total_tokens":26}}`,
				`data: [DONE]`),
			want: [5]int64{17, 9, 0, 0, 0}, model: "gpt-4o-mini-2024-07-18", id: "chatcmpl-9", account: usage.KeyFingerprint(openAIKey)},
		{name: "openai responses stream", upstream: "openai", path: "/v1/responses", hdr: bearerOpenAI,
			reqBody: `{"model":"gpt-5-codex","stream":true,"input":"Hi"}`, ctype: "text/event-stream; charset=utf-8",
			chunks: sse(
				"event: response.created\n"+`data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-5-codex","output":[],"usage":null}}`,
				"event: response.output_text.delta\n"+`data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi","sequence_number":4}`,
				"event: response.completed\n"+`data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","object":"response","status":"completed","model":"gpt-5-codex","output":[],"usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":16},"total_tokens":52}}}`),
			want: [5]int64{12, 40, 0, 16, 0}, model: "gpt-5-codex", id: "resp_1", account: usage.KeyFingerprint(openAIKey)},
		{name: "anthropic stream", upstream: "anthropic", path: "/v1/messages", hdr: []string{"X-Api-Key", anthropicKey},
			reqBody: `{"model":"claude-sonnet-4-5","stream":true,"max_tokens":64,"messages":[]}`, ctype: "text/event-stream; charset=utf-8",
			chunks: sse(
				"event: message_start\n"+`data: {"type":"message_start","message":{"id":"msg_01XF","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}`,
				"event: content_block_delta\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
				"event: message_delta\n"+`data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`,
				"event: message_stop\n"+`data: {"type":"message_stop"}`),
			want: [5]int64{2125, 15, 2000, 0, 100}, model: "claude-sonnet-4-5-20250929", id: "msg_01XF", account: usage.KeyFingerprint(anthropicKey)},
		{name: "gemini alt=sse", upstream: "gemini", path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
			hdr: []string{"X-Goog-Api-Key", geminiKey}, reqBody: `{"contents":[]}`, ctype: "text/event-stream",
			chunks: crlf("", ""), want: [5]int64{120, 80, 0, 50, 0}, model: "gemini-2.5-pro", id: "r-abc", account: usage.KeyFingerprint(geminiKey)},
		{name: "gemini JSON array stream", upstream: "gemini", path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
			hdr: []string{"X-Goog-Api-Key", geminiKey}, reqBody: `{"contents":[]}`, ctype: "application/json; charset=UTF-8",
			chunks: []string{"[" + geminiChunks[0], ",\r\n" + geminiChunks[1], "]"},
			want:   [5]int64{120, 80, 0, 50, 0}, model: "gemini-2.5-pro", id: "r-abc", account: usage.KeyFingerprint(geminiKey)},
		{name: "code assist stream", upstream: "gemini-code-assist", path: "/v1internal:streamGenerateContent?alt=sse", hdr: oauth,
			reqBody: `{"model":"gemini-2.5-pro","project":"proj-cli-42","request":{"contents":[]}}`, ctype: "text/event-stream",
			chunks: crlf(`{"response": `, `, "traceId": "bf3a5eb6636774d2"}`),
			want:   [5]int64{120, 80, 0, 50, 0}, model: "gemini-2.5-pro", id: "r-abc", account: "proj-cli-42"},
	}
}

func ups(urls map[string]string) []Upstream {
	var out []Upstream
	for _, b := range Builtins() {
		if u, ok := urls[b.Name]; ok {
			b.URL = u
		}
		out = append(out, b)
	}
	return out
}

// allTo points every built-in upstream at one fake.
func allTo(f *fake) []Upstream {
	m := map[string]string{}
	for _, b := range Builtins() {
		m[b.Name] = f.URL
	}
	return ups(m)
}

func checkRecord(t *testing.T, name string, rec stats.Record, f format, source string) {
	t.Helper()
	got := [5]int64{rec.InputTokens, rec.OutputTokens, rec.CachedTokens, rec.ReasoningTokens, rec.CacheCreationTokens}
	wantCred := ""
	for i := 0; i+1 < len(f.hdr); i += 2 {
		switch f.hdr[i] {
		case "Authorization":
			wantCred = usage.KeyFingerprint(strings.TrimPrefix(f.hdr[i+1], "Bearer "))
		case "X-Api-Key", "X-Goog-Api-Key":
			wantCred = usage.KeyFingerprint(f.hdr[i+1])
		}
	}
	if strings.Contains(f.path, "key=") {
		wantCred = usage.KeyFingerprint(geminiKey)
	}
	if got != f.want || rec.Model != f.model || rec.Account != f.account || rec.Credential != wantCred ||
		rec.RequestID != "proxy:"+f.upstream+":"+f.id || rec.Source != source || rec.Kind != stats.KindProxy ||
		!rec.Time.Equal(testNow) || rec.IsAntigravity != (f.upstream == "antigravity") {
		t.Errorf("%s: record %+v\nwant tokens %v model %q account %q credential %q id %q source %q", name, rec, f.want, f.model,
			f.account, wantCred, "proxy:"+f.upstream+":"+f.id, source)
	}
}

// Every format, answered whole: the request reaches the upstream as sent (bar our own headers), the
// answer comes back as the upstream wrote it, and one record holds its exact usage.
func TestForwardsAndRecords(t *testing.T) {
	for _, f := range nonStreaming() {
		up := newFake(t, answer(http.StatusOK, f.body(), "Content-Type", f.ctype, "X-Upstream-Trace", "t-1",
			"Set-Cookie", "sid=1; HttpOnly", "Cache-Control", "private"))
		r := newRig(t, allTo(up)...)
		hdr := append([]string{"X-Custom", "one", "X-Custom", "two", "User-Agent", "client/1.2", "Content-Type", "application/json"}, f.hdr...)
		resp, body := r.do("POST", "/proxy/"+f.upstream+f.path, f.reqBody, hdr...)
		if resp.StatusCode != 200 || string(body) != f.body() {
			t.Fatalf("%s: answer %d %q", f.name, resp.StatusCode, body)
		}
		for k, want := range map[string]string{"Content-Type": f.ctype, "X-Upstream-Trace": "t-1", "Set-Cookie": "sid=1; HttpOnly",
			"Cache-Control": "private", "Content-Length": fmt.Sprint(len(f.body()))} {
			if got := resp.Header.Values(k); len(got) != 1 || got[0] != want {
				t.Errorf("%s: answer header %s = %q, want %q", f.name, k, got, want)
			}
		}
		if _, ok := resp.Header["X-Content-Type-Options"]; ok {
			t.Errorf("%s: the pass-through added headers to the answer: %v", f.name, resp.Header)
		}
		got := up.last(t)
		path, query, _ := strings.Cut(f.path, "?")
		if got.method != "POST" || got.path != path || got.query != query || string(got.body) != f.reqBody ||
			got.host != strings.TrimPrefix(up.URL, "http://") {
			t.Errorf("%s: upstream got %s %s ? %s host %s body %q", f.name, got.method, got.path, got.query, got.host, got.body)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			if vals := got.header.Values(hdr[i]); !slices.Contains(vals, hdr[i+1]) {
				t.Errorf("%s: upstream got %s %q, want %q among them", f.name, hdr[i], vals, hdr[i+1])
			}
		}
		checkRecord(t, f.name, r.record(), f, f.upstream)
	}
}

// readFirst reads the first n bytes of a streaming answer, failing if they do not come within 10 s
// (which they would not if the pass-through held the answer back until its end).
func readFirst(t *testing.T, body io.Reader, n int) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		b := make([]byte, n)
		k, _ := io.ReadFull(body, b)
		got <- string(b[:k])
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the first event did not reach the client while the upstream held the rest")
	}
	return ""
}

// streamingFake writes the first chunk, flushes, and holds the rest until release is closed.
func streamingFake(t *testing.T, f format, release chan struct{}) *fake {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", f.ctype)
		w.WriteHeader(http.StatusOK)
		for i, c := range f.chunks {
			if i == 1 {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			io.WriteString(w, c)
			w.(http.Flusher).Flush()
		}
	})
}

// Streams go through event by event: the client holds the first event while the upstream has not yet
// sent the second; the whole answer arrives unchanged and its last usage is recorded.
func TestStreamsEventByEvent(t *testing.T) {
	for _, f := range streaming() {
		release := make(chan struct{})
		releaseOnce := sync.OnceFunc(func() { close(release) })
		defer releaseOnce() // a failing test must not leave the fake upstream holding its handler
		up := streamingFake(t, f, release)
		r := newRig(t, allTo(up)...)
		resp := r.stream(f)
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") != f.ctype {
			t.Errorf("%s: Content-Type %q", f.name, resp.Header.Get("Content-Type"))
		}
		firstEvent := readFirst(t, resp.Body, len(f.chunks[0]))
		if firstEvent != f.chunks[0] {
			t.Fatalf("%s: first event %q, want %q", f.name, firstEvent, f.chunks[0])
		}
		releaseOnce()
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || firstEvent+string(rest) != f.body() {
			t.Fatalf("%s: answer %q %v, want %q", f.name, firstEvent+string(rest), err, f.body())
		}
		checkRecord(t, f.name, r.record(), f, f.upstream)
	}
}

// A client that leaves in the middle of a stream gets what the stream had produced recorded: Gemini's
// running totals, Anthropic's input tokens (its output count comes only at the end).
func TestAbandonedStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		want [5]int64
	}{{"gemini alt=sse", [5]int64{120, 0, 0, 0, 0}}, {"anthropic stream", [5]int64{2125, 1, 2000, 0, 100}}} {
		i := slices.IndexFunc(streaming(), func(f format) bool { return f.name == tc.name })
		f := streaming()[i]
		left := make(chan struct{})
		up := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", f.ctype)
			io.WriteString(w, f.chunks[0])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the rest never comes: the client leaves first
			close(left)
		})
		r := newRig(t, allTo(up)...)
		resp := r.stream(f)
		defer resp.Body.Close()
		readFirst(t, resp.Body, len(f.chunks[0]))
		resp.Body.Close() // the client hangs up
		rec := r.record()
		got := [5]int64{rec.InputTokens, rec.OutputTokens, rec.CachedTokens, rec.ReasoningTokens, rec.CacheCreationTokens}
		if got != tc.want || rec.Model != f.model || rec.Account != f.account {
			t.Errorf("%s: abandoned stream recorded %v %q %q, want %v", tc.name, got, rec.Model, rec.Account, tc.want)
		}
		select {
		case <-left:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the upstream request was not cancelled when the client left", tc.name)
		}
	}
}

// An upstream's error answer passes unchanged and records nothing; the Sources view learns of it, at
// most once per source every noteGap.
func TestUpstreamErrorsRecordNothing(t *testing.T) {
	cases := []struct {
		status int
		body   string
	}{
		{400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`},
		{401, `{"error":{"message":"Incorrect API key provided: sk-proj-****0001.","type":"invalid_request_error","code":"invalid_api_key"}}`},
		{429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your rate limit"}}`},
		{500, `{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`},
		{503, "upstream connect error or disconnect/reset before headers"},
	}
	for _, c := range cases {
		up := newFake(t, answer(c.status, c.body, "Content-Type", "application/json"))
		r := newRig(t, allTo(up)...)
		for i := 0; i < 2; i++ {
			resp, body := r.do("POST", "/proxy/openai/v1/chat/completions", `{"model":"gpt-4o"}`, bearerOpenAI...)
			if resp.StatusCode != c.status || string(body) != c.body {
				t.Fatalf("%d: answer %d %q", c.status, resp.StatusCode, body)
			}
		}
		r.settle(2)
		if n := r.stored(); n != 0 {
			t.Errorf("%d: %d records stored", c.status, n)
		}
		select {
		case n := <-r.notes:
			if !strings.Contains(n, fmt.Sprintf("answered %d", c.status)) || !strings.HasPrefix(n, "openai: ") {
				t.Errorf("%d: note %q", c.status, n)
			}
		default:
			t.Errorf("%d: no note for the Sources view", c.status)
		}
		if len(r.notes) != 0 {
			t.Errorf("%d: the second failure within %v was noted too", c.status, noteGap)
		}
	}
}

// An answer without usage (a listing) records nothing and notes nothing; a retried answer with the same
// response id is counted once.
func TestNoUsageAndDuplicates(t *testing.T) {
	f := nonStreaming()[0]
	up := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			io.WriteString(w, `{"object":"list","data":[{"id":"gpt-4o","object":"model"}]}`)
			return
		}
		io.WriteString(w, f.body())
	})
	r := newRig(t, allTo(up)...)
	r.do("GET", "/proxy/openai/v1/models", "", bearerOpenAI...)
	r.settle(1)
	if r.stored() != 0 || len(r.notes) != 0 {
		t.Fatalf("a listing stored %d records and %d notes", r.stored(), len(r.notes))
	}
	r.do("POST", "/proxy/openai/v1/chat/completions", f.reqBody, bearerOpenAI...)
	r.do("POST", "/proxy/openai/v1/chat/completions", f.reqBody, bearerOpenAI...)
	r.settle(2)
	if n := r.stored(); n != 1 {
		t.Fatalf("the same response id twice stored %d records", n)
	}
}

func compress(t *testing.T, enc string, chunks []string) []string {
	var buf bytes.Buffer
	var w interface {
		io.Writer
		Flush() error
		Close() error
	}
	if enc == "deflate" {
		w = zlib.NewWriter(&buf)
	} else {
		w = gzip.NewWriter(&buf)
	}
	var out []string
	for _, c := range chunks {
		io.WriteString(w, c)
		w.Flush()
		out = append(out, buf.String())
		buf.Reset()
	}
	w.Close()
	out[len(out)-1] += buf.String()
	return out
}

// Compressed answers pass through as the upstream encoded them; a decoded copy is read for usage.
// An encoding Token Stats cannot read passes too, and the Sources view says its usage was lost.
func TestCompressedAnswers(t *testing.T) {
	for _, enc := range []string{"gzip", "deflate"} {
		for _, f := range []format{nonStreaming()[0], streaming()[2]} {
			wire := compress(t, enc, f.chunks)
			up := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", f.ctype)
				w.Header().Set("Content-Encoding", enc)
				for _, c := range wire {
					io.WriteString(w, c)
					w.(http.Flusher).Flush()
				}
			})
			r := newRig(t, allTo(up)...)
			resp, body := r.do("POST", "/proxy/"+f.upstream+f.path, f.reqBody, append([]string{"Accept-Encoding", "gzip, deflate"}, f.hdr...)...)
			if resp.Header.Get("Content-Encoding") != enc || string(body) != strings.Join(wire, "") {
				t.Fatalf("%s %s: the compressed answer was changed", enc, f.name)
			}
			if got := up.last(t).header.Get("Accept-Encoding"); got != "gzip, deflate" {
				t.Errorf("%s: upstream got Accept-Encoding %q", enc, got)
			}
			checkRecord(t, enc+" "+f.name, r.record(), f, f.upstream)
		}
	}
	f := nonStreaming()[0]
	up := newFake(t, answer(200, "\x1b\x00\x00not really brotli", "Content-Encoding", "br", "Content-Type", "application/json"))
	r := newRig(t, allTo(up)...)
	resp, body := r.do("POST", "/proxy/openai"+f.path, f.reqBody, bearerOpenAI...)
	r.settle(1)
	if resp.StatusCode != 200 || string(body) != "\x1b\x00\x00not really brotli" || r.stored() != 0 {
		t.Fatalf("br answer: %d %q, %d records", resp.StatusCode, body, r.stored())
	}
	if n := <-r.notes; !strings.Contains(n, "br-encoded") {
		t.Fatalf("note %q", n)
	}
}

// The Code Assist request shape gcli2api sends (src/api/geminicli.py and src/api/antigravity.py):
// {"model","project","request"} to /v1internal:generateContent and :streamGenerateContent?alt=sse,
// through both Google upstreams: the project names the account, the answer's modelVersion (else the
// request's model) the model.
func TestGcli2apiRequestShape(t *testing.T) {
	var n atomic.Int32
	envelope := func(model string) string {
		mv := ""
		if model != "" {
			mv = `,"modelVersion":"` + model + `"`
		}
		return `{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}],` +
			`"usageMetadata":{"promptTokenCount":1500,"candidatesTokenCount":200,"cachedContentTokenCount":1000,"totalTokenCount":1700}` + mv +
			`,"responseId":"resp-` + fmt.Sprint(n.Add(1)) + `"},"traceId":"bf3a5eb6636774d2"}`
	}
	up := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		model := ""
		if strings.Contains(r.Header.Get("User-Agent"), "GeminiCLI") {
			model = "gemini-2.5-pro"
		}
		switch {
		case r.URL.Path == "/v1internal:generateContent" && r.URL.RawQuery == "":
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			io.WriteString(w, envelope(model))
		case r.URL.Path == "/v1internal:streamGenerateContent" && r.URL.RawQuery == "alt=sse":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: "+envelope(model)+"\r\n\r\n")
		default:
			http.Error(w, "unexpected "+r.URL.String(), http.StatusNotFound)
		}
	})
	r := newRig(t, allTo(up)...)
	bodies := map[string]string{
		"gemini-code-assist": `{"model":"gemini-2.5-pro","project":"proj-cli-42","request":{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}}`,
		"antigravity": `{"project":"proj-ag-7","requestId":"agent/0b7e/1769097600000/9a1c/1","request":{"contents":[],"sessionId":"-42"},` +
			`"model":"claude-sonnet-4-5","userAgent":"antigravity","requestType":"agent"}`,
	}
	wantAccount := map[string]string{"gemini-code-assist": "proj-cli-42", "antigravity": "proj-ag-7"}
	wantModel := map[string]string{"gemini-code-assist": "gemini-2.5-pro", "antigravity": "claude-sonnet-4-5"}
	ua := map[string]string{"gemini-code-assist": "GeminiCLI/0.56.0/gemini-2.5-pro (linux; x64)", "antigravity": "antigravity/1.15.8 linux/amd64"}
	for _, name := range []string{"gemini-code-assist", "antigravity"} {
		for _, path := range []string{"/v1internal:generateContent", "/v1internal:streamGenerateContent?alt=sse"} {
			resp, body := r.do("POST", "/proxy/"+name+path, bodies[name], "Authorization", "Bearer "+oauthToken,
				"Content-Type", "application/json", "User-Agent", ua[name])
			if resp.StatusCode != 200 {
				t.Fatalf("%s%s: %d %s", name, path, resp.StatusCode, body)
			}
			rec := r.record()
			if rec.Account != wantAccount[name] || rec.Model != wantModel[name] || rec.InputTokens != 1500 || rec.OutputTokens != 200 ||
				rec.CachedTokens != 1000 || rec.Source != name || rec.IsAntigravity != (name == "antigravity") ||
				rec.Credential != usage.KeyFingerprint(oauthToken) {
				t.Errorf("%s%s: %+v", name, path, rec)
			}
		}
	}
}

// With the lookup on, a Code Assist token's account is its Google e-mail, asked once per token.
func TestGoogleEmailLookup(t *testing.T) {
	var calls atomic.Int32
	info := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+oauthToken {
			http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"id":"1098","email":"dev@example.com","verified_email":true,"picture":"https://example.com/p.png"}`)
	})
	f := nonStreaming()[4]
	up := newFake(t, answer(200, f.body(), "Content-Type", f.ctype))
	r := newRigWith(t, Config{Upstreams: allTo(up), LookupEmail: true, UserInfoURL: info.URL + "/oauth2/v2/userinfo"})
	for i := 0; i < 2; i++ {
		r.do("POST", "/proxy/gemini-code-assist"+f.path, f.reqBody, "Authorization", "Bearer "+oauthToken)
		if rec := r.record(); rec.Account != "dev@example.com" {
			t.Fatalf("account %q, want the token's e-mail", rec.Account)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("userinfo asked %d times for one token", calls.Load())
	}
	other := "ya29.a0SECRETother000000000000000000000005"
	r.do("POST", "/proxy/gemini-code-assist"+f.path, f.reqBody, "Authorization", "Bearer "+other)
	if rec := r.record(); rec.Account != "proj-cli-42" {
		t.Fatalf("a token Google does not know: account %q, want the project", rec.Account)
	}
	r.h.SetLookupEmail(false)
	r.do("POST", "/proxy/gemini-code-assist"+f.path, f.reqBody, "Authorization", "Bearer ya29.a0SECRETthird0000000000000000000000006")
	if rec := r.record(); rec.Account != "proj-cli-42" || calls.Load() != 2 {
		t.Fatalf("lookup off: account %q, %d calls", rec.Account, calls.Load())
	}
}

// X-TokenStats-Account and X-TokenStats-Source name the record and never reach the upstream; a bad one
// is refused before anything is forwarded.
func TestOwnHeaders(t *testing.T) {
	f := nonStreaming()[0]
	up := newFake(t, answer(200, f.body()))
	r := newRig(t, allTo(up)...)
	r.do("POST", "/proxy/openai"+f.path, f.reqBody, append([]string{AccountHeader, "team-a@example.com", SourceHeader, "my-agent",
		"X-Forwarded-For", "10.1.2.3", "Connection", "X-Hop", "X-Hop", "1"}, bearerOpenAI...)...)
	rec := r.record()
	if rec.Account != "team-a@example.com" || rec.Source != "my-agent" {
		t.Fatalf("record %+v", rec)
	}
	got := up.last(t).header
	if got.Get(AccountHeader) != "" || got.Get(SourceHeader) != "" || got.Get("X-Hop") != "" || got.Get("X-Forwarded-For") != "10.1.2.3" {
		t.Fatalf("upstream got headers %v", got)
	}
	for _, hdr := range [][]string{{AccountHeader, strings.Repeat("a", stats.MaxAccountLen+1)}, {SourceHeader, "x", SourceHeader, "y"},
		{SourceHeader, " "}} {
		resp, body := r.do("POST", "/proxy/openai"+f.path, f.reqBody, hdr...)
		if resp.StatusCode != 400 || !strings.Contains(string(body), hdr[0]) {
			t.Errorf("%v: %d %s", hdr, resp.StatusCode, body)
		}
	}
	if n := len(up.requests()); n != 1 {
		t.Fatalf("refused requests reached the upstream: %d requests", n)
	}
}

// No credential is written anywhere: not in the database, not in the log, not in a note or an error
// answer, whether the upstream answers, refuses or cannot be reached.
func TestNoCredentialOnDisk(t *testing.T) {
	okUp := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/bad") {
			http.Error(w, `{"error":"Incorrect API key provided"}`, http.StatusUnauthorized)
			return
		}
		for _, f := range nonStreaming() {
			if strings.HasSuffix(r.URL.Path, strings.SplitN(f.path, "?", 2)[0]) {
				io.WriteString(w, f.body())
				return
			}
		}
	})
	gone := newFake(t, answer(200, ""))
	gone.Close() // connection refused from now on
	m := map[string]string{}
	for _, b := range Builtins() {
		m[b.Name] = okUp.URL
	}
	m["gemini"] = gone.URL
	r := newRigWith(t, Config{Upstreams: append(ups(m), Upstream{"ok-gemini", okUp.URL}), LookupEmail: true,
		UserInfoURL: gone.URL + "/userinfo"})
	var answers []string
	n := 0
	for _, f := range nonStreaming() {
		for _, up := range []string{f.upstream, "ok-gemini"} {
			resp, body := r.do("POST", "/proxy/"+up+f.path, f.reqBody, f.hdr...)
			answers = append(answers, fmt.Sprint(resp.Header)+string(body))
			resp, body = r.do("POST", "/proxy/"+up+"/bad?key="+geminiKey, f.reqBody, f.hdr...)
			answers = append(answers, fmt.Sprint(resp.Header)+string(body))
			n += 2
		}
	}
	r.settle(n)
	if r.stored() < 4 {
		t.Fatalf("only %d records stored: the test proves nothing", r.stored())
	}
	close(r.notes)
	var notes []string
	for n := range r.notes {
		notes = append(notes, n)
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "could not be reached") }) {
		t.Fatalf("no unreachable-upstream note among %q", notes)
	}
	r.srv.Close()
	r.h.Wait()
	r.store.Close()
	for _, secret := range []string{openAIKey, anthropicKey, geminiKey, oauthToken} {
		for _, s := range append(append(notes, answers...), r.logText()) {
			if strings.Contains(s, secret) || strings.Contains(s, secret[len(secret)-12:]) {
				t.Errorf("a secret is in %q", s)
			}
		}
		filepath.Walk(r.dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(secret[len(secret)-12:])) {
				t.Errorf("%s holds a secret", filepath.Base(p))
			}
			return nil
		})
	}
}

// A web page cannot drive the pass-through: a foreign Origin, or a browser's cross-site fetch, is 403
// and never forwarded; the listener's own origin and clients without one pass.
func TestCrossSiteRefused(t *testing.T) {
	up := newFake(t, answer(200, "{}"))
	r := newRig(t, allTo(up)...)
	host := strings.TrimPrefix(r.srv.URL, "http://")
	for _, c := range []struct {
		hdr  []string
		want int
	}{
		{[]string{"Origin", "https://evil.example"}, 403}, {[]string{"Origin", "null"}, 403},
		{[]string{"Origin", "http://" + host + ".evil.example"}, 403}, {[]string{"Sec-Fetch-Site", "cross-site"}, 403},
		{[]string{"Sec-Fetch-Site", "same-site"}, 403},
		{[]string{"Origin", "http://" + host}, 200}, {[]string{"Sec-Fetch-Site", "none"}, 200}, {nil, 200},
	} {
		resp, body := r.do("POST", "/proxy/openai/v1/chat/completions", "{}", c.hdr...)
		if resp.StatusCode != c.want {
			t.Errorf("%v: %d %s, want %d", c.hdr, resp.StatusCode, body, c.want)
		}
	}
	if n := len(up.requests()); n != 3 {
		t.Fatalf("the upstream got %d requests, want the 3 allowed ones", n)
	}
}

// raw sends a request line as written (no client cleans it) and returns the status.
func raw(t *testing.T, addr, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Only configured upstreams are contacted, and a path cannot leave the upstream's base path: dot
// segments (plain or escaped), escaped slashes and backslashes are refused; "//host" and "http://host"
// stay path segments on the configured upstream.
func TestPathCannotEscape(t *testing.T) {
	var evilHits atomic.Int32
	evil := newFake(t, func(w http.ResponseWriter, r *http.Request) { evilHits.Add(1) })
	evilHost := strings.TrimPrefix(evil.URL, "http://")
	up := newFake(t, answer(200, "{}"))
	r := newRig(t, Upstream{"api", up.URL + "/base"})
	addr := strings.TrimPrefix(r.srv.URL, "http://")
	for target, want := range map[string]int{
		"/proxy/api/../secret": 400, "/proxy/api/v1/..": 400, "/proxy/api/%2e%2e/secret": 400, "/proxy/api/%2E%2e/x": 400,
		"/proxy/api/./x": 400, "/proxy/api/v1%2F..%2Fsecret": 400, "/proxy/api/v1%2fx": 400, "/proxy/api/..%5Csecret": 400,
		"/proxy/api/a%00b": 400, "/proxy/api/%zz": 400, "/proxy/nope/v1": 404, "/proxy/": 404, "/proxy/%2e%2e/x": 404,
	} {
		if got := raw(t, addr, target); got != want {
			t.Errorf("%s: %d, want %d", target, got, want)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("refused paths reached the upstream: %v", up.requests())
	}
	for target, want := range map[string][2]string{ // path, query
		"/proxy/api//" + evilHost + "/x":          {"/base/" + evilHost + "/x", ""},
		"/proxy/api/http://" + evilHost + "/x":    {"/base/http:/" + evilHost + "/x", ""},
		"/proxy/api/v1/models/":                   {"/base/v1/models/", ""},
		"/proxy/api":                              {"/base", ""},
		"/proxy/api/v1/files/a%20b%3Ac?x=1&y=%2F": {"/base/v1/files/a%20b%3Ac", "x=1&y=%2F"},
	} {
		if got := raw(t, addr, target); got != 200 {
			t.Errorf("%s: %d", target, got)
			continue
		}
		if got := up.last(t); got.escaped != want[0] || got.query != want[1] || got.host != strings.TrimPrefix(up.URL, "http://") {
			t.Errorf("%s: upstream got %q ? %q on %s, want %q", target, got.escaped, got.query, got.host, want)
		}
	}
	if evilHits.Load() != 0 {
		t.Fatalf("a host that is not an upstream was contacted %d times", evilHits.Load())
	}
}

func TestUpstreamConfig(t *testing.T) {
	for _, bad := range []string{"openai", "=https://x", "Open AI=https://x", "x=ftp://h", "x=https://", "x=https://u:p@h",
		"x=https://h/?a=1", "x=https://h/#f", "x=h.example", "x=https://h?"} {
		if _, err := ParseUpstream(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	list, err := ParseList(" local=http://127.0.0.1:4000/v1/ ,, openai=https://gw.example/openai")
	if err != nil {
		t.Fatal(err)
	}
	got := Merge(Builtins(), []Upstream{{"openai", "https://saved.example"}, {"mine", "https://mine.example"}}, list)
	want := ups(map[string]string{"openai": "https://gw.example/openai"})
	want = append(want, Upstream{"mine", "https://mine.example"}, Upstream{"local", "http://127.0.0.1:4000/v1/"})
	if !slices.Equal(got, want) {
		t.Fatalf("merged %v\nwant %v", got, want)
	}
	h, err := New(Config{Upstreams: got, Record: nil, NoteError: nil})
	if err == nil || h != nil {
		t.Fatal("a handler without Record and NoteError was built")
	}
	up := newFake(t, answer(200, "{}"))
	r := newRig(t, Upstream{"a", up.URL})
	if err := r.h.SetUpstreams([]Upstream{{"b", up.URL}, {"b", up.URL}}); err == nil {
		t.Fatal("a name given twice was accepted")
	}
	if err := r.h.SetUpstreams([]Upstream{{"b", up.URL + "/v1"}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := r.do("GET", "/proxy/a/x", ""); resp.StatusCode != 404 {
		t.Fatalf("removed upstream: %d", resp.StatusCode)
	}
	if resp, _ := r.do("GET", "/proxy/b/x", ""); resp.StatusCode != 200 || up.last(t).path != "/v1/x" {
		t.Fatalf("new upstream: %d %q", resp.StatusCode, up.last(t).path)
	}
}
