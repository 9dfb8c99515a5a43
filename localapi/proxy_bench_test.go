package localapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/localapi/passthrough"
	"github.com/tokenstats/tokenstats/stats"
)

// The pass-through's cost over loopback, against a local fake upstream (run by `make bench-proxy`):
// each benchmark has a "direct" run (client → fake) and a "passthrough" run (client → listener →
// fake); the difference of their medians is what the pass-through adds. Records go to a real store.

// benchRig is a fake upstream and the listener with its openai upstream pointed at it.
type benchRig struct {
	up, listener *httptest.Server
	api          *Server
	store        *stats.Store
	client       *http.Client
}

func newBenchRig(b *testing.B, upstream http.HandlerFunc) *benchRig {
	b.Helper()
	r := &benchRig{up: httptest.NewServer(upstream)}
	var err error
	r.store, _, err = stats.Open(filepath.Join(b.TempDir(), "bench.db"), stats.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	r.api = New(Config{Store: r.store, Token: testToken,
		Upstreams: passthrough.Merge(passthrough.Builtins(), []passthrough.Upstream{{Name: "openai", URL: r.up.URL}})})
	r.listener = httptest.NewServer(r.api)
	r.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}}
	b.Cleanup(func() {
		r.client.CloseIdleConnections()
		r.listener.Close()
		r.api.Wait()
		r.up.Close()
		r.store.Close()
	})
	return r
}

// url is where a run sends its requests: the fake itself, or the pass-through in front of it.
func (r *benchRig) url(via string) string {
	if via == "direct" {
		return r.up.URL + "/v1/chat/completions"
	}
	return r.listener.URL + "/proxy/openai/v1/chat/completions"
}

// measure times b.N calls after 50 that warm the connections, and reports the median and the 99th
// percentile.
func measure(b *testing.B, call func() time.Duration) {
	for i := 0; i < 50; i++ {
		call()
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d = append(d, call())
	}
	b.StopTimer()
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

const benchRequest = `{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello."}]}`

// BenchmarkProxyCall: one non-streaming chat completion, whole answer read.
func BenchmarkProxyCall(b *testing.B) {
	var n atomic.Int64
	answer := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-%d","object":"chat.completion","model":"gpt-4o-2024-08-06",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}`, n.Add(1))
	}
	for _, via := range []string{"direct", "passthrough"} {
		b.Run(via, func(b *testing.B) {
			r := newBenchRig(b, answer)
			call := func() time.Duration {
				start := time.Now()
				req, _ := http.NewRequest("POST", r.url(via), strings.NewReader(benchRequest))
				req.Header.Set("Authorization", "Bearer sk-bench-0000000000000000")
				req.Header.Set("Content-Type", "application/json")
				resp, err := r.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return time.Since(start)
			}
			measure(b, call)
		})
	}
}

// streamEvents is a chat stream: its first event, then ten more and the usage.
func streamEvents(id int64) []string {
	ev := []string{fmt.Sprintf(`data: {"id":"chatcmpl-%d","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}`+"\n\n", id)}
	for i := 0; i < 10; i++ {
		ev = append(ev, fmt.Sprintf(`data: {"id":"chatcmpl-%d","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"word %d "}}],"usage":null}`+"\n\n", id, i))
	}
	return append(ev, fmt.Sprintf(`data: {"id":"chatcmpl-%d","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":17,"completion_tokens":10,"total_tokens":27}}`+"\n\n", id),
		"data: [DONE]\n\n")
}

// writeStream sends events one by one, flushing each, after hold returns.
func writeStream(w http.ResponseWriter, r *http.Request, events []string, hold func()) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	io.WriteString(w, events[0])
	fl.Flush()
	if hold != nil {
		hold()
	}
	for _, e := range events[1:] {
		io.WriteString(w, e)
		fl.Flush()
	}
}

// BenchmarkProxyFirstByte: the time from sending a streaming request to reading its first event.
func BenchmarkProxyFirstByte(b *testing.B) {
	var n atomic.Int64
	stream := func(w http.ResponseWriter, r *http.Request) { writeStream(w, r, streamEvents(n.Add(1)), nil) }
	for _, via := range []string{"direct", "passthrough"} {
		b.Run(via, func(b *testing.B) {
			r := newBenchRig(b, stream)
			buf := make([]byte, 64<<10)
			call := func() time.Duration {
				start := time.Now()
				req, _ := http.NewRequest("POST", r.url(via), strings.NewReader(benchRequest))
				req.Header.Set("Authorization", "Bearer sk-bench-0000000000000000")
				resp, err := r.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadAtLeast(resp.Body, buf, 1); err != nil {
					b.Fatal(err)
				}
				took := time.Since(start)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return took
			}
			measure(b, call)
		})
	}
}

// BenchmarkProxyConcurrentStreams: rounds of 500 streams open at once through the pass-through (the fake
// holds each after its first event until all 500 are open). It reports the goroutines and the heap in
// use before the first measured round and after the last, once the answers ended and their records
// were stored, and the goroutines while all 500 were open.
func BenchmarkProxyConcurrentStreams(b *testing.B) {
	const streams = 500
	var n atomic.Int64
	var mu sync.Mutex
	var open int
	var all chan struct{}
	hold := func() {
		mu.Lock()
		open++
		ch := all
		if open == streams {
			close(all)
		}
		mu.Unlock()
		<-ch
	}
	r := newBenchRig(b, func(w http.ResponseWriter, req *http.Request) { writeStream(w, req, streamEvents(n.Add(1)), hold) })
	peak, rounds := 0, 0
	round := func() {
		rounds++
		mu.Lock()
		open, all = 0, make(chan struct{})
		ch := all
		mu.Unlock()
		var wg sync.WaitGroup
		for i := 0; i < streams; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", r.url("passthrough"), strings.NewReader(benchRequest))
				req.Header.Set("Authorization", "Bearer sk-bench-0000000000000000")
				resp, err := r.client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		<-ch
		peak = max(peak, runtime.NumGoroutine())
		wg.Wait()
	}
	// settled is the goroutine count and heap once the rounds' connections and records are done (a
	// record is stored just after its answer ended, so the store is asked until it holds all).
	settled := func() (int, uint64) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if inf, err := r.store.Info(b.Context()); err != nil || inf.Records >= int64(rounds*streams) {
				break
			}
		}
		r.api.Wait()
		r.client.CloseIdleConnections()
		g, same := runtime.NumGoroutine(), 0
		for deadline := time.Now().Add(5 * time.Second); same < 10 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			if now := runtime.NumGoroutine(); now == g {
				same++
			} else {
				g, same = now, 0
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return g, ms.HeapInuse
	}
	round() // the first round fills the connection pools
	g0, h0 := settled()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round()
	}
	b.StopTimer()
	g1, h1 := settled()
	b.ReportMetric(float64(g0), "goroutines-before")
	b.ReportMetric(float64(peak), "goroutines-peak")
	b.ReportMetric(float64(g1), "goroutines-after")
	b.ReportMetric(float64(h0>>10), "heap-KiB-before")
	b.ReportMetric(float64(h1>>10), "heap-KiB-after")
	if recs, err := r.store.Info(b.Context()); err == nil {
		b.ReportMetric(float64(recs.Records), "records")
	}
}
