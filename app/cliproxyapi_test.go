package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/cliproxyapi"
	"github.com/tokenstats/tokenstats/usage/cliproxyapi/cliproxyapitest"
)

const (
	testManagementKey = "mgmt-key-7d1c55a0e3"
	// clientKeySecret is the client API key CLIProxyAPI puts in every queue record: it must never be
	// written anywhere by Token Stats.
	clientKeySecret = "sk-client-laptop-SECRET-7f3a"
)

// queueRecord is a Codex record as CLIProxyAPI publishes it (accounting version 2, with its canonical
// token breakdown): input i+1000 of which 10 cached, output i+100 of which 5 reasoning.
func queueRecord(i int, at time.Time) []byte {
	in, out := int64(1000+i), int64(100+i)
	return cliproxyapitest.Record{
		Timestamp: at, LatencyMs: 900, Source: "dev@example.com", AuthIndex: "3", ClientIP: "127.0.0.1",
		APIKey: clientKeySecret, Provider: "codex", ExecutorType: "CodexExecutor", Model: "gpt-5.1-codex",
		RequestID: fmt.Sprintf("%08x", i), AccountingVersion: 2,
		Tokens: cliproxyapitest.Tokens{InputTokens: in, OutputTokens: out, ReasoningTokens: 5, CachedTokens: 10,
			CacheReadTokens: 10, CacheReadTokensPresent: true, TotalTokens: in + out},
		TokenBreakdown: cliproxyapitest.TokenBreakdown{SchemaVersion: 2, Quality: "complete", TotalTokens: in + out,
			Input:  cliproxyapitest.Input{TotalTokens: in, UncachedTokens: in - 10, CacheReadTokens: 10},
			Output: cliproxyapitest.Output{TotalTokens: out, NonReasoningTokens: out - 5, ReasoningTokens: 5}},
	}.JSON()
}

// wantTotals are the totals of queueRecord(first) … queueRecord(first+n-1).
func wantTotals(first, n int) stats.Totals {
	var t stats.Totals
	for i := first; i < first+n; i++ {
		t.Requests++
		t.InputTokens += int64(1000 + i)
		t.OutputTokens += int64(100 + i)
		t.CachedTokens += 10
		t.ReasoningTokens += 5
	}
	t.Unpriced = t.Requests
	return t
}

// fakeCLIProxyAPI serves a cliproxyapitest.Queue and counts the requests by the key they carried. When
// echo is set, a refused key is repeated in the error, as a careless proxy might.
type fakeCLIProxyAPI struct {
	q    *cliproxyapitest.Queue
	srv  *httptest.Server
	mu   sync.Mutex
	keys map[string]int
	echo bool
}

func newFakeCLIProxyAPI(t *testing.T) *fakeCLIProxyAPI {
	f := &fakeCLIProxyAPI{q: cliproxyapitest.New(testManagementKey), keys: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		f.keys[key]++
		f.mu.Unlock()
		if f.echo && key != testManagementKey {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid management key %s"}`, key)
			return
		}
		f.q.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCLIProxyAPI) requests(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[key]
}

// pollerFixture is a poller on a real store in a data folder, polling target, logging into logs.
type pollerFixture struct {
	dir    string
	store  *stats.Store
	logs   *bytes.Buffer
	mu     sync.Mutex
	target cliproxyTarget
	now    time.Time
}

func newPollerFixture(t *testing.T) *pollerFixture {
	t.Helper()
	dir := t.TempDir()
	store, _, err := stats.Open(filepath.Join(dir, "tokenstats.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &pollerFixture{dir: dir, store: store, logs: &bytes.Buffer{}, now: time.Now()}
}

// poller is a fresh poller, as a new start of Token Stats makes.
func (f *pollerFixture) poller() *cliproxyPoller {
	p := newCLIProxyPoller(f.store, f.dir, func() cliproxyTarget {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.target
	}, slog.New(slog.NewTextHandler(fixtureLog{f}, nil)))
	p.now = func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.now
	}
	return p
}

type fixtureLog struct{ f *pollerFixture }

func (b fixtureLog) Write(p []byte) (int, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	return b.f.logs.Write(p)
}

func (f *pollerFixture) setTarget(url, key string) {
	f.mu.Lock()
	f.target = cliproxyTarget{URL: url, Key: key}
	f.mu.Unlock()
}

func (f *pollerFixture) totals(t *testing.T) stats.Totals {
	t.Helper()
	s, err := f.store.Summary(context.Background(), stats.LastHours(time.Now().Add(time.Minute), 48), stats.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Totals
}

func (f *pollerFixture) source(t *testing.T) stats.Source {
	t.Helper()
	list, err := f.store.Sources(context.Background(), stats.LastHours(time.Now(), 24))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == cliproxyapi.Source {
			return s
		}
	}
	return stats.Source{}
}

// secretsIn lists the files of the data folder that contain s.
func secretsIn(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
				found = append(found, path)
			}
		}
		return nil
	})
	return found
}

// The poller pops until the queue is empty (a full answer is followed by another pop at once), stores
// every record once with the numbers CLIProxyAPI counted, counts what is not usage, shows the records
// it could not store as the source's error, and writes no client key anywhere.
func TestCLIProxyAPIPollerDrainsTheQueue(t *testing.T) {
	f := newPollerFixture(t)
	fake := newFakeCLIProxyAPI(t)
	at := time.Now().Add(-time.Hour).UTC()
	const n = 1200
	for i := 0; i < n; i++ {
		fake.q.Push(queueRecord(i, at.Add(time.Duration(i)*time.Millisecond)))
	}
	failed := cliproxyapitest.Record{Timestamp: at, Failed: true, Provider: "codex", Model: "gpt-5.1-codex",
		APIKey: clientKeySecret, RequestID: "deadbeef", Fail: cliproxyapitest.Fail{StatusCode: 429}}
	fake.q.Push(failed.JSON(), []byte("not json at all"))
	f.setTarget(fake.srv.URL, testManagementKey)

	p := f.poller()
	ctx := context.Background()
	for _, wantMore := range []bool{true, true, false} { // 500, 500, then 202
		more, err := p.poll(ctx)
		if err != nil || more != wantMore {
			t.Fatalf("poll: more %v, err %v; want more %v", more, err, wantMore)
		}
	}
	if fake.q.Len() != 0 {
		t.Fatalf("%d records left in the queue", fake.q.Len())
	}
	if got, want := f.totals(t), wantTotals(0, n); got != want {
		t.Errorf("totals %+v\nwant   %+v", got, want)
	}
	src := f.source(t)
	if src.Kind != stats.KindCLIProxyAPI || src.Ignored != 1 || !strings.Contains(src.Error, "record is not a JSON object") ||
		!strings.Contains(src.Note, "last successful poll") {
		t.Errorf("source = %+v, want kind cliproxyapi, the failed request ignored, the bad record as the error, the last poll in the note", src)
	}
	if _, err := os.Stat(cliproxyPendingFile(f.dir)); !os.IsNotExist(err) {
		t.Errorf("the pending batch is still there after its commit: %v", err)
	}
	if files := secretsIn(t, f.dir, clientKeySecret); len(files) > 0 {
		t.Errorf("the client key was written to %v", files)
	}
}

// A batch popped but not committed (Token Stats killed in between) is on disk, private, without the
// client keys; the next start stores it before it pops again, and a batch stored twice (killed after
// the commit, before the file was removed) counts once.
func TestCLIProxyAPIPendingBatchIsStoredOnce(t *testing.T) {
	f := newPollerFixture(t)
	fake := newFakeCLIProxyAPI(t)
	at := time.Now().Add(-time.Hour).UTC()
	for i := 0; i < 40; i++ {
		fake.q.Push(queueRecord(i, at))
	}
	f.setTarget(fake.srv.URL, testManagementKey)

	// The first half of a poll, as a run killed before its commit did it.
	p := f.poller()
	body, err := p.pop(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cliproxyapi.Decode(body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.keep(cliproxyBatch{Version: 1, PoppedAt: time.Now(), Records: res.Records}); err != nil {
		t.Fatal(err)
	}
	if fake.q.Len() != 0 || f.totals(t).Requests != 0 {
		t.Fatalf("the queue holds %d records and the store %d: want all popped, none stored", fake.q.Len(), f.totals(t).Requests)
	}
	st, err := os.Stat(cliproxyPendingFile(f.dir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("pending batch: %v %v, want mode 0600", st, err)
	}
	if files := secretsIn(t, f.dir, clientKeySecret); len(files) > 0 {
		t.Errorf("the client key was written to %v", files)
	}
	kept, _ := os.ReadFile(cliproxyPendingFile(f.dir))

	// The next start: the batch is stored before anything else is popped.
	for i := 40; i < 45; i++ {
		fake.q.Push(queueRecord(i, at))
	}
	stop := startCLIProxyPoller(f.poller())
	waitUntil(t, "the kept batch and the new records are stored", func() bool { return f.totals(t) == wantTotals(0, 45) })
	stop()
	if _, err := os.Stat(cliproxyPendingFile(f.dir)); !os.IsNotExist(err) {
		t.Errorf("the pending batch is still there: %v", err)
	}

	// Killed after the commit but before the file was removed: the next start stores it again.
	if err := os.WriteFile(cliproxyPendingFile(f.dir), kept, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.poller().replay(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.totals(t); got != wantTotals(0, 45) {
		t.Errorf("after storing the batch a second time: %+v, want it counted once", got)
	}
}

// The poller's health shows in Sources: a refused key (not tried again until it changes), a server that
// is not there, a missing key, a CLIProxyAPI without a queue; never the key itself, in Sources or logs.
func TestCLIProxyAPIPollerHealth(t *testing.T) {
	f := newPollerFixture(t)
	fake := newFakeCLIProxyAPI(t)
	fake.echo = true
	fake.q.Push(queueRecord(0, time.Now().Add(-time.Hour).UTC()))
	p := f.poller()
	ctx := context.Background()

	const wrong = "wrong-key-SECRET-42"
	f.setTarget(fake.srv.URL, wrong)
	for i := 0; i < 3; i++ {
		if _, err := p.poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	src := f.source(t)
	if !strings.Contains(src.Error, "401") || !strings.Contains(src.Error, "refused the management key") {
		t.Errorf("a wrong key: error %q, want it to say 401 and the key was refused", src.Error)
	}
	if n := fake.requests(wrong); n != 1 {
		t.Errorf("the refused key was sent %d times, want once: CLIProxyAPI bans an address after 5 failures", n)
	}
	f.mu.Lock()
	f.now = f.now.Add(cliproxyAuthWait + time.Second)
	f.mu.Unlock()
	p.poll(ctx)
	if n := fake.requests(wrong); n != 2 {
		t.Errorf("after %v the refused key was sent %d times in all, want 2", cliproxyAuthWait, n)
	}

	f.setTarget(fake.srv.URL, testManagementKey) // a changed key is tried at once
	if _, err := p.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.totals(t).Requests; got != 1 {
		t.Errorf("with the right key: %d records, want 1", got)
	}
	if src := f.source(t); !strings.Contains(src.Note, "last successful poll") || !strings.Contains(src.Note, fake.srv.URL) {
		t.Errorf("after a good poll: note %q", src.Note)
	}

	// Nothing listens there any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	f.setTarget(closed, testManagementKey)
	p.poll(ctx)
	if src := f.source(t); !strings.Contains(src.Error, "connection refused") || !strings.Contains(src.Error, closed) {
		t.Errorf("CLIProxyAPI not running: error %q", src.Error)
	}

	f.setTarget(fake.srv.URL, "")
	p.poll(ctx)
	if src := f.source(t); !strings.Contains(src.Error, "no management key") {
		t.Errorf("no key: error %q", src.Error)
	}

	noQueue := httptest.NewServer(http.NotFoundHandler())
	defer noQueue.Close()
	f.setTarget(noQueue.URL, testManagementKey)
	p.poll(ctx)
	if src := f.source(t); !strings.Contains(src.Error, "no usage queue") {
		t.Errorf("no queue: error %q", src.Error)
	}

	f.mu.Lock()
	logs := f.logs.String()
	f.mu.Unlock()
	for _, key := range []string{wrong, testManagementKey} {
		if strings.Contains(logs, key) {
			t.Errorf("the logs contain the key %q:\n%s", key, logs)
		}
		if files := secretsIn(t, f.dir, key); len(files) > 0 {
			t.Errorf("the key %q was written to %v", key, files)
		}
	}
	if !strings.Contains(logs, "refused the management key") {
		t.Errorf("the logs do not say the key was refused:\n%s", logs)
	}
}

// Settings keep the address in settings.json and the key in a file of its own, 0600; the environment
// and the flag win over them.
func TestCLIProxyAPISettings(t *testing.T) {
	dir := t.TempDir()
	b := newSettingsBackend(Config{DataDir: dir, Given: map[string]bool{}}, func(string) string { return "" }, func(string) {})
	if err := b.SetCLIProxyAPI("not a url", ""); err == nil {
		t.Error("a bad address was saved")
	}
	if err := b.SetCLIProxyAPI("http://127.0.0.1:8317", testManagementKey); err != nil {
		t.Fatal(err)
	}
	if u, keySet := b.CLIProxyAPI(); u != "http://127.0.0.1:8317" || !keySet {
		t.Errorf("CLIProxyAPI() = %q, %v", u, keySet)
	}
	st, err := os.Stat(cliproxyKeyFile(dir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", st, err)
	}
	if raw, _ := os.ReadFile(settingsFile(dir)); bytes.Contains(raw, []byte(testManagementKey)) || !bytes.Contains(raw, []byte("8317")) {
		t.Errorf("settings.json = %s, want the address and not the key", raw)
	}
	target := cliproxyTargetFunc(b.cfg, b.getenv)()
	if target != (cliproxyTarget{URL: "http://127.0.0.1:8317", Key: testManagementKey}) {
		t.Errorf("the poller would use %+v", target)
	}
	if err := b.SetCLIProxyAPI("http://127.0.0.1:9000", ""); err != nil { // "" keeps the key
		t.Fatal(err)
	}
	if target := cliproxyTargetFunc(b.cfg, b.getenv)(); target.Key != testManagementKey || target.URL != "http://127.0.0.1:9000" {
		t.Errorf("after changing the address only: %+v", target)
	}

	env := map[string]string{cliproxyKeyEnv: "from-env", "TOKENSTATS_CLIPROXYAPI": "http://10.0.0.2:8317"}
	cfg, err := parseConfig([]string{"--data-dir", dir}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fixed := newSettingsBackend(cfg, func(k string) string { return env[k] }, func(string) {})
	if target := cliproxyTargetFunc(cfg, fixed.getenv)(); target != (cliproxyTarget{URL: "http://10.0.0.2:8317", Key: "from-env"}) {
		t.Errorf("environment: %+v, want it to win over Settings", target)
	}
	if err := fixed.SetCLIProxyAPI("http://10.0.0.2:8317", "other"); err == nil || !strings.Contains(err.Error(), cliproxyKeyEnv) {
		t.Errorf("saving a key while %s is set: %v", cliproxyKeyEnv, err)
	}
	if err := fixed.SetCLIProxyAPI("http://127.0.0.1:1", ""); err == nil {
		t.Error("saving an address while TOKENSTATS_CLIPROXYAPI is set succeeded")
	}
	if _, err := parseConfig([]string{"--cliproxyapi", "ftp://x", "--data-dir", dir}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("--cliproxyapi ftp://x was accepted")
	}
}

// waitUntil polls cond until it holds, failing after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
