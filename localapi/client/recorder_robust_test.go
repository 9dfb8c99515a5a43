package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/localapi/client"
)

// mountTmpfs mounts a tmpfs of size bytes: a real full disk (ENOSPC from the kernel). It needs root
// (CAP_SYS_ADMIN); without it the test skips and says why.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("tmpfs mounts are Linux only")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	os.MkdirAll(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill a disk (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes path until the file system refuses.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			return
		}
	}
}

func closeWithin(t *testing.T, r *client.Recorder, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return r.Close(ctx)
}

func fastOptions(spool string) client.RecorderOptions {
	return client.RecorderOptions{SpoolDir: spool, BatchDelay: 10 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
}

func spoolLine(id string) string {
	return `{"account_email":"a@x","model":"m","input_tokens":1,"output_tokens":1,"request_id":"` + id + `"}` + "\n"
}

// A replay whose resend fails and whose remainder cannot be written to a new spool file (the disk is
// full) keeps the claimed file: its records are not lost.
func TestRecorderReplayKeepsFileWhenResendAndRespoolFail(t *testing.T) {
	mnt := mountTmpfs(t, 256<<10)
	spool := filepath.Join(mnt, "spool")
	os.MkdirAll(spool, 0o700)
	file := filepath.Join(spool, "spool-1-aaaa.jsonl")
	lines := spoolLine("r1") + spoolLine("r2") + spoolLine("r3")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, filepath.Join(mnt, "filler"))
	l := startListener(t)
	l.stop()
	r, err := client.NewRecorder(client.New(l.url(), token), fastOptions(spool))
	if err != nil {
		t.Fatal(err)
	}
	if err := closeWithin(t, r, 300*time.Millisecond); err == nil {
		t.Fatal("Close with the listener down and the disk full reported success")
	}
	var kept []byte
	for _, f := range spoolFiles(t, spool) {
		b, _ := os.ReadFile(f)
		kept = append(kept, b...)
	}
	if string(kept) != lines {
		t.Fatalf("spool holds %q, want the three records %q", kept, lines)
	}
	if tmp, _ := filepath.Glob(filepath.Join(spool, ".spool-*.tmp")); len(tmp) != 0 {
		t.Errorf("partial files left: %v", tmp)
	}
	os.Remove(filepath.Join(mnt, "filler"))
	l.start()
	r2, err := client.NewRecorder(client.New(l.url(), token), fastOptions(spool))
	if err != nil {
		t.Fatal(err)
	}
	if err := closeWithin(t, r2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := l.summary().Requests; n != 3 {
		t.Errorf("store holds %d requests, want 3", n)
	}
}

// A full disk does not drop what memory can hold, and leaves no partial spool files.
func TestRecorderFullDiskKeepsRecordsInMemory(t *testing.T) {
	mnt := mountTmpfs(t, 256<<10)
	spool := filepath.Join(mnt, "spool")
	os.MkdirAll(spool, 0o700)
	fillDisk(t, filepath.Join(mnt, "filler"))
	l := startListener(t)
	l.stop()
	var mu sync.Mutex
	var logs bytes.Buffer
	opt := fastOptions(spool)
	opt.QueueSize = 4
	opt.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	r, err := client.NewRecorder(client.New(l.url(), token), opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		r.Add(rec(i))
	}
	waitLog(t, &mu, &logs, "no space left on device") // the spool writer tried and failed
	if tmp, _ := filepath.Glob(filepath.Join(spool, ".spool-*.tmp")); len(tmp) != 0 {
		t.Errorf("partial files left: %v", tmp)
	}
	if st := r.Stats(); st.Dropped != 0 || st.Queued != 20 {
		t.Errorf("with the disk full: %+v; want all 20 in memory, none dropped", st)
	}
	os.Remove(filepath.Join(mnt, "filler"))
	l.start()
	if err := closeWithin(t, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Dropped != 0 || l.summary().Requests != 20 {
		t.Errorf("stored %d of 20; stats %+v", l.summary().Requests, st)
	}
}

// A record that cannot be encoded (invalid raw JSON) is dropped, not retried forever, and is never
// counted as spooled.
func TestRecorderUnencodableRecord(t *testing.T) {
	bad := client.Record{AccountEmail: "a@x", Model: "m", Usage: json.RawMessage(`{not json`)}

	l := startListener(t)
	var mu sync.Mutex
	var dropped []client.Record
	opt := fastOptions(t.TempDir())
	opt.OnDrop = func(rec client.Record, err error) {
		mu.Lock()
		dropped = append(dropped, rec)
		mu.Unlock()
	}
	r, err := client.NewRecorder(client.New(l.url(), token), opt)
	if err != nil {
		t.Fatal(err)
	}
	r.Add(rec(1))
	r.Add(bad)
	r.Add(rec(2))
	if err := closeWithin(t, r, 10*time.Second); err != nil {
		t.Fatalf("Close: %v (a bad record must not block the others)", err)
	}
	if n := l.summary().Requests; n != 2 || len(dropped) != 1 {
		t.Errorf("stored %d, dropped %d; want 2 and 1", n, len(dropped))
	}

	// Written to the spool (as after Close): only the two good ones are spooled.
	spool := t.TempDir()
	r2, err := client.NewRecorder(client.New(l.url(), token), fastOptions(spool))
	if err != nil {
		t.Fatal(err)
	}
	closeWithin(t, r2, 10*time.Second)
	r2.Add(rec(3))
	r2.Add(bad)
	r2.Add(rec(4))
	lines := 0
	for _, f := range spoolFiles(t, spool) {
		b, _ := os.ReadFile(f)
		lines += bytes.Count(b, []byte("\n"))
	}
	if st := r2.Stats(); st.Spooled != 2 || lines != 2 || st.Dropped != 1 {
		t.Errorf("spool holds %d lines; stats %+v; want 2 spooled, 1 dropped", lines, st)
	}
}

// A 400 that names the bad record with "index" removes it at once: two POSTs, no bisection.
func TestRecorderReadsIndexField(t *testing.T) {
	var mu sync.Mutex
	posts := 0
	var stored []client.Record
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var recs []client.Record
		json.NewDecoder(req.Body).Decode(&recs)
		mu.Lock()
		defer mu.Unlock()
		posts++
		for i, x := range recs {
			if x.Model == "" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"success":false,"error":"model: is required","index":%d}`, i)
				return
			}
		}
		stored = append(stored, recs...)
		fmt.Fprintf(w, `{"success":true,"accepted":%d,"duplicates":0}`, len(recs))
	}))
	defer srv.Close()
	var dropped []client.Record
	opt := fastOptions(t.TempDir())
	opt.BatchDelay = time.Hour
	opt.OnDrop = func(rec client.Record, err error) { dropped = append(dropped, rec) }
	r, err := client.NewRecorder(client.New(srv.URL, token), opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		x := rec(i)
		if i == 4 {
			x.Model = ""
		}
		r.Add(x)
	}
	if err := closeWithin(t, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if posts != 2 || len(stored) != 5 || len(dropped) != 1 || dropped[0].InputTokens != 4 {
		t.Errorf("posts %d, stored %d, dropped %+v; want 2 posts, 5 stored, record 4 dropped", posts, len(stored), dropped)
	}
	var he *client.Error
	_, err = client.New(srv.URL, token).Record(context.Background(), rec(0), client.Record{AccountEmail: "a"})
	if !errors.As(err, &he) || he.Index != 1 {
		t.Errorf("Record error %v: want a *client.Error with Index 1", err)
	}
}

// Lines of a spool file that cannot be read are kept aside byte for byte; the rest is delivered.
func TestRecorderQuarantinesUnreadableLines(t *testing.T) {
	l := startListener(t)
	spool := t.TempDir()
	bad := "not json\n"
	os.WriteFile(filepath.Join(spool, "spool-1-aaaa.jsonl"), []byte(spoolLine("a")+bad+spoolLine("c")), 0o600)
	var logs bytes.Buffer
	opt := fastOptions(spool)
	opt.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r, err := client.NewRecorder(client.New(l.url(), token), opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := closeWithin(t, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := l.summary().Requests; n != 2 {
		t.Errorf("store holds %d requests, want 2", n)
	}
	got, err := os.ReadFile(filepath.Join(spool, "spool-1-aaaa.bad"))
	if err != nil || string(got) != bad {
		t.Errorf("quarantine holds %q (%v), want %q", got, err, bad)
	}
	if !strings.Contains(logs.String(), "spool-1-aaaa.bad") {
		t.Errorf("no warning names the quarantine file: %s", logs.String())
	}
}

// A wrong token is said once (a minute) at WARN, with the fix; the records wait in the spool.
func TestRecorderWarnsOnAuthFailure(t *testing.T) {
	l := startListener(t)
	var mu sync.Mutex
	var logs bytes.Buffer
	opt := fastOptions(t.TempDir())
	opt.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := client.NewRecorder(client.New(l.url(), "wrong-token"), opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r.Add(rec(i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		said := strings.Count(logs.String(), "401")
		mu.Unlock()
		if said > 0 && r.Stats().Spooled+int64(r.Stats().Queued) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the token after 10 s: %q", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	closeWithin(t, r, 300*time.Millisecond)
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "tokenstats token") || strings.Contains(out, "wrong-token") {
		t.Errorf("want one warning naming the fix and not the token, got:\n%s", out)
	}
}

// waitLog polls the log until it says want (case-insensitive); it fails the test after 10 s.
func waitLog(t *testing.T, mu *sync.Mutex, logs *bytes.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		said := strings.Contains(strings.ToLower(logs.String()), want)
		mu.Unlock()
		if said {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// With the listener frozen and the spool unwritable, memory stays near MaxBytes: what does not fit is
// dropped, counted and given to OnDrop; everything else is delivered once the listener answers.
func TestRecorderMemoryCap(t *testing.T) {
	release := make(chan struct{}) // closed: the listener answers
	var releaseOnce sync.Once
	unfreeze := func() { releaseOnce.Do(func() { close(release) }) }
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		<-release
		var recs []client.Record
		json.NewDecoder(req.Body).Decode(&recs)
		mu.Lock()
		for _, x := range recs {
			seen[x.RequestID]++
		}
		mu.Unlock()
		fmt.Fprintf(w, `{"success":true,"accepted":%d,"duplicates":0}`, len(recs))
	}))
	defer srv.Close()
	defer unfreeze()
	spool := filepath.Join(t.TempDir(), "spool")
	opt := fastOptions(spool)
	opt.MaxBytes = 8 << 20
	var capped atomic.Int64
	opt.OnDrop = func(rec client.Record, err error) {
		if errors.Is(err, client.ErrMemoryFull) {
			capped.Add(1)
		}
	}
	r, err := client.NewRecorder(client.New(srv.URL, token), opt)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(spool)
	os.WriteFile(spool, nil, 0o600) // the spool folder's path is now a file: every spool write fails
	r.Add(rec(0))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 40 {
		x := rec(i + 1)
		x.Response = json.RawMessage(`{"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
		r.Add(x)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Without the cap the heap would grow by the whole 40 MiB; the bound leaves room for what other
	// goroutines of the test binary allocate meanwhile, so it proves the cap without being flaky.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 20<<20 {
		t.Errorf("40 MiB of records grew the heap by %d MiB; the cap is 8 MiB", grown>>20)
	}
	if st := r.Stats(); st.Dropped < 40-8 || capped.Load() != st.Dropped {
		t.Errorf("stats %+v, %d given to OnDrop as ErrMemoryFull; want at least 32 dropped, all reported", st, capped.Load())
	}
	unfreeze()
	os.Remove(spool)
	if err := closeWithin(t, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("record %s delivered %d times", id, n)
		}
	}
	if int64(len(seen))+r.Stats().Dropped != 41 {
		t.Errorf("%d delivered + %d dropped, want 41", len(seen), r.Stats().Dropped)
	}
}
