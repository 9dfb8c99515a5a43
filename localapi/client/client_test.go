package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/localapi"
	"github.com/tokenstats/tokenstats/localapi/client"
	"github.com/tokenstats/tokenstats/stats"
)

const token = "client-test-token-0123456789"

// listener is the real local API on a real port that can be stopped and started again on that port.
type listener struct {
	t     *testing.T
	addr  string
	api   *localapi.Server
	store *stats.Store
	srv   *http.Server
	done  chan struct{}
}

func startListener(t *testing.T) *listener {
	t.Helper()
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "t.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{t: t, addr: "127.0.0.1:0", store: store,
		api: localapi.New(localapi.Config{Store: store, Token: token})}
	l.start()
	t.Cleanup(func() {
		l.stop()
		store.Close()
	})
	return l
}

func (l *listener) start() {
	l.t.Helper()
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		l.t.Fatalf("listen again on %s: %v", l.addr, err)
	}
	l.addr = ln.Addr().String()
	l.srv = &http.Server{Handler: l.api}
	l.done = make(chan struct{})
	go func() {
		l.srv.Serve(ln)
		close(l.done)
	}()
}

func (l *listener) stop() {
	if l.srv == nil {
		return
	}
	l.srv.Shutdown(context.Background())
	<-l.done
	l.srv = nil
}

func (l *listener) url() string { return "http://" + l.addr }

// requests is what the store holds, read from the store itself.
func (l *listener) summary() stats.Summary {
	l.t.Helper()
	s, err := l.store.Summary(context.Background(), stats.LastHours(time.Now(), 24), stats.Filter{})
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

// waitRequests polls until the store holds n requests; it fails the test after 10 s.
func (l *listener) waitRequests(n int64) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := l.summary().Requests
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("store holds %d requests, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rec(i int) client.Record {
	return client.Record{AccountEmail: "acct@example.com", Model: "m", InputTokens: int64(i), OutputTokens: 1}
}

func TestClientRecord(t *testing.T) {
	l := startListener(t)
	c := client.New(l.url()+"/", token)
	ctx := context.Background()
	res, err := c.Record(ctx,
		client.Record{AccountEmail: "a@x", Model: "gpt", InputTokens: 10, OutputTokens: 2, CachedTokens: 4, RequestID: "r1"},
		client.Record{AccountEmail: "a@x", Model: "gemini", Provider: "gemini",
			Usage: json.RawMessage(`{"promptTokenCount":100,"candidatesTokenCount":7,"thoughtsTokenCount":3}`)},
	)
	if err != nil || res != (client.Result{Accepted: 2}) {
		t.Fatalf("Record = %+v, %v", res, err)
	}
	s := l.summary()
	if s.InputTokens != 110 || s.OutputTokens != 12 || s.CachedTokens != 4 || s.ReasoningTokens != 3 {
		t.Errorf("stored %+v", s.Totals)
	}
	res, err = c.Record(ctx, client.Record{AccountEmail: "a@x", Model: "gpt", InputTokens: 10, OutputTokens: 2, RequestID: "r1"})
	if err != nil || res != (client.Result{Duplicates: 1}) {
		t.Errorf("resend = %+v, %v; want one duplicate", res, err)
	}
	_, err = c.Record(ctx, rec(1), client.Record{AccountEmail: "a@x", InputTokens: 1, OutputTokens: 1})
	var he *client.Error
	if !errors.As(err, &he) || he.Status != 400 || !he.BadRecord() || !strings.HasPrefix(he.Message, "record 1: model:") {
		t.Errorf("bad record: %v", err)
	}
	_, err = client.New(l.url(), "wrong").Record(ctx, rec(1))
	if !errors.As(err, &he) || he.Status != 401 || he.BadRecord() || !strings.Contains(err.Error(), "token") {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := c.Record(ctx); err == nil {
		t.Error("no records: want an error")
	}
	l.stop()
	if _, err := c.Record(ctx, rec(1)); err == nil || errors.As(err, &he) || !strings.Contains(err.Error(), l.addr) {
		t.Errorf("listener down: %v", err)
	}
	if n := l.summary().Requests; n != 2 {
		t.Errorf("store holds %d requests, want 2", n)
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "spool-*"))
	return m
}

// Records added while the listener is down (more than the queue holds, so some go to the spool) are
// delivered exactly once after it comes back on the same port.
func TestRecorderListenerRestart(t *testing.T) {
	l := startListener(t)
	spool := t.TempDir()
	r, err := client.NewRecorder(client.New(l.url(), token), client.RecorderOptions{SpoolDir: spool,
		QueueSize: 8, BatchSize: 5, BatchDelay: 20 * time.Millisecond, MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		r.Add(rec(i))
	}
	l.waitRequests(12)

	l.stop()
	for i := range 30 {
		r.Add(rec(100 + i))
	}
	// More than the queue holds: the spool writer puts some in a file.
	for deadline := time.Now().Add(10 * time.Second); len(spoolFiles(t, spool)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("30 records with a queue of 8 and the listener down: nothing spooled (%+v)", r.Stats())
		}
	}
	if n := l.summary().Requests; n != 12 {
		t.Fatalf("store holds %d requests while the listener is down, want 12", n)
	}
	l.start()
	l.waitRequests(42)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sum := l.summary()
	var wantInput int64
	for i := range 12 {
		wantInput += int64(i)
	}
	for i := range 30 {
		wantInput += int64(100 + i)
	}
	if sum.Requests != 42 || sum.InputTokens != wantInput {
		t.Errorf("after restart: %d requests, %d input tokens; want 42, %d", sum.Requests, sum.InputTokens, wantInput)
	}
	if f := spoolFiles(t, spool); len(f) != 0 {
		t.Errorf("spool not empty after Close: %v", f)
	}
	if st := r.Stats(); st.Accepted != 42 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A record the server refuses is isolated and dropped through OnDrop; the rest of its batch is stored.
func TestRecorderDropsOnlyBadRecords(t *testing.T) {
	l := startListener(t)
	var mu sync.Mutex
	var dropped []client.Record
	r, err := client.NewRecorder(client.New(l.url(), token), client.RecorderOptions{SpoolDir: t.TempDir(),
		BatchSize: 50, BatchDelay: time.Hour, OnDrop: func(rec client.Record, err error) {
			mu.Lock()
			dropped = append(dropped, rec)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		x := rec(i)
		if i == 3 || i == 7 {
			x.Model = "" // required
		}
		r.Add(x)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := l.summary().Requests; n != 8 {
		t.Errorf("store holds %d requests, want 8", n)
	}
	if len(dropped) != 2 || dropped[0].InputTokens != 3 || dropped[1].InputTokens != 7 {
		t.Errorf("dropped %+v, want records 3 and 7", dropped)
	}
}

// What Close cannot send by its deadline stays in the spool; the next Recorder delivers it.
func TestRecorderCloseDeadlineKeepsSpool(t *testing.T) {
	l := startListener(t)
	spool := t.TempDir()
	l.stop()
	c := client.New(l.url(), token)
	r, err := client.NewRecorder(c, client.RecorderOptions{SpoolDir: spool, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		r.Add(rec(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); err == nil || !strings.Contains(err.Error(), spool) {
		t.Fatalf("Close with the listener down = %v, want an error naming the spool", err)
	}
	r.Add(rec(5)) // after Close: straight to the spool
	lines := 0
	for _, f := range spoolFiles(t, spool) {
		b, _ := os.ReadFile(f)
		lines += strings.Count(string(b), "\n")
	}
	if lines != 6 {
		t.Fatalf("spool holds %d records, want 6", lines)
	}
	l.start()
	r2, err := client.NewRecorder(c, client.RecorderOptions{SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := r2.Close(ctx2); err != nil {
		t.Fatal(err)
	}
	if n := l.summary().Requests; n != 6 {
		t.Errorf("store holds %d requests, want 6", n)
	}
	if f := spoolFiles(t, spool); len(f) != 0 {
		t.Errorf("spool not empty: %v", f)
	}
}

// A spool file another process left (here in the Python drop-in's shape: plain dicts, a Code Assist
// response, a stale claim) is replayed by a new Recorder.
func TestRecorderReplaysForeignSpool(t *testing.T) {
	l := startListener(t)
	spool := t.TempDir()
	ts := time.Now().Add(-time.Hour).Unix()
	lines := `{"account_email":"py@x","model":"gemini-2.5-pro","response":{"response":{"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":5,"thoughtsTokenCount":5}}},"is_antigravity":false,"timestamp":` +
		strconv.FormatInt(ts, 10) + `,"request_id":"3f2a","source":"gcli2api"}` + "\n" +
		`{"account_email":"py@x","model":"m","input_tokens":7,"output_tokens":1,"timestamp":` + strconv.FormatInt(ts, 10) + `,"request_id":"3f2b"}` + "\n"
	if err := os.WriteFile(filepath.Join(spool, "spool-1-aaaa.jsonl"), []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(spool, "spool-2-bbbb.jsonl.claimed")
	os.WriteFile(stale, []byte(`{"account_email":"py@x","model":"m","input_tokens":1,"output_tokens":1,"request_id":"3f2c"}`+"\n"), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	r, err := client.NewRecorder(client.New(l.url(), token), client.RecorderOptions{SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s := l.summary()
	if s.Requests != 3 || s.InputTokens != 58 || s.OutputTokens != 12 || s.ReasoningTokens != 5 {
		t.Errorf("stored %+v", s.Totals)
	}
	if f := spoolFiles(t, spool); len(f) != 0 {
		t.Errorf("spool not empty: %v", f)
	}
}
