package passthrough

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// rig is a pass-through in front of fake upstreams, storing into a real store in a temporary folder,
// with its log in a file there too.
type rig struct {
	t        *testing.T
	dir      string
	store    *stats.Store
	h        *Handler
	srv      *httptest.Server // the pass-through, served as the listener serves it
	recorded chan stats.Record
	notes    chan string
	served   chan struct{} // one per request the handler has finished
	logPath  string        // the handler's log, a file in dir as the app's would be
}

var testNow = time.Date(2026, 1, 22, 16, 30, 0, 0, time.UTC)

func newRig(t *testing.T, ups ...Upstream) *rig {
	t.Helper()
	return newRigWith(t, Config{Upstreams: ups})
}

func newRigWith(t *testing.T, cfg Config) *rig {
	t.Helper()
	dir := t.TempDir()
	store, _, err := stats.Open(filepath.Join(dir, "proxy.db"), stats.Options{Location: time.UTC,
		Now: func() time.Time { return testNow.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: dir, store: store, recorded: make(chan stats.Record, 1000), notes: make(chan string, 1000),
		served: make(chan struct{}, 1000), logPath: filepath.Join(dir, "tokenstats.log")}
	logFile, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cfg.Logger = slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Now = func() time.Time { return testNow }
	cfg.Record = func(ctx context.Context, rec stats.Record) error {
		_, err := store.Record(ctx, rec)
		if err == nil {
			r.recorded <- rec
		}
		return err
	}
	cfg.NoteError = func(ctx context.Context, source, msg string) {
		store.NoteSource(ctx, stats.SourceNote{Name: source, Kind: stats.KindProxy, Error: msg})
		r.notes <- source + ": " + msg
	}
	r.h, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() { r.served <- struct{}{} }() // also when the handler aborts with a panic
		r.h.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		r.srv.Close()
		r.h.Wait()
		store.Close()
	})
	return r
}

// logText is what the handler logged so far.
func (r *rig) logText() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

// stream sends a format's request and returns the answer unread.
func (r *rig) stream(f format) *http.Response {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.srv.URL+"/proxy/"+f.upstream+f.path, strings.NewReader(f.reqBody))
	for i := 0; i+1 < len(f.hdr); i += 2 {
		req.Header.Set(f.hdr[i], f.hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp
}

// client does not ask for compression itself, so answers arrive as the upstream encoded them.
var client = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// do sends a request through the pass-through and reads the whole answer.
func (r *rig) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, b
}

// record waits for the next stored record.
func (r *rig) record() stats.Record {
	r.t.Helper()
	select {
	case rec := <-r.recorded:
		return rec
	case <-time.After(10 * time.Second):
		r.t.Fatal("no record was stored")
	}
	return stats.Record{}
}

// settle waits until the handler has finished n requests and stored all they produced.
func (r *rig) settle(n int) {
	r.t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.served:
		case <-time.After(10 * time.Second):
			r.t.Fatal("the handler did not finish")
		}
	}
	r.h.Wait()
}

// stored is the number of records in the store.
func (r *rig) stored() int64 {
	r.t.Helper()
	inf, err := r.store.Info(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return inf.Records
}

// seen is one request as a fake upstream received it.
type seen struct {
	method, path, escaped, query, host string
	header                             http.Header
	body                               []byte
}

// fake is an upstream that answers every request with fn and remembers what it received.
type fake struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newFake(t *testing.T, fn http.HandlerFunc) *fake {
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{req.Method, req.URL.Path, req.URL.EscapedPath(), req.URL.RawQuery, req.Host, req.Header.Clone(), b})
		f.mu.Unlock()
		fn(w, req)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func (f *fake) last(t *testing.T) seen {
	t.Helper()
	r := f.requests()
	if len(r) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return r[len(r)-1]
}

// answer is a fake's fixed reply.
func answer(status int, body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Add(hdr[i], hdr[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}
