package localapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh folder: a real file system limit. It needs root
// (CAP_SYS_ADMIN); without it the storage fault tests skip and say why.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("tmpfs mounts are Linux only")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	os.MkdirAll(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to simulate a full or read-only disk (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

type faultServer struct {
	t     *testing.T
	srv   *httptest.Server
	store *stats.Store
}

func newFaultServer(t *testing.T, path string) *faultServer {
	store, _, err := stats.Open(path, stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	f := &faultServer{t: t, store: store, srv: httptest.NewServer(New(Config{Store: store, Token: testToken}))}
	t.Cleanup(func() {
		f.srv.Close()
		store.Close()
	})
	return f
}

func (f *faultServer) call(method, path string, body []byte) (int, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		f.t.Fatalf("%s %s: not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, m
}

// batch is n records with long distinct names, so that each batch needs fresh pages.
func batch(tag string, n int) []byte {
	var recs []string
	for i := 0; i < n; i++ {
		recs = append(recs, fmt.Sprintf(`{"account_email":"%s-%d-%s@example.com","model":"m","input_tokens":1,"output_tokens":1,"request_id":"%s-%d"}`,
			tag, i, strings.Repeat("p", 200), tag, i))
	}
	return []byte("[" + strings.Join(recs, ",") + "]")
}

func (f *faultServer) requests() float64 {
	code, m := f.call("GET", "/stats/summary?hours=1", nil)
	if code != 200 {
		f.t.Fatalf("summary while storage is faulty: %d %v", code, m)
	}
	return m["data"].(map[string]any)["total_requests"].(float64)
}

// TestDiskFull fills a small tmpfs: ingest answers 503 with a clear JSON error and stores nothing of
// the refused batch, queries keep working, and once space returns ingest works again.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, 4<<20)
	f := newFaultServer(t, filepath.Join(dir, "full.db"))
	stored := 0.0
	// Take most of the space with a filler file, then write until the disk is full.
	filler := filepath.Join(dir, "filler")
	fill, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fill.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	fill.Close()
	full := false
	for i := 0; i < 200 && !full; i++ {
		code, m := f.call("POST", "/usage", batch(fmt.Sprintf("b%d", i), 200))
		switch code {
		case 200:
			stored += m["accepted"].(float64)
		case 503:
			full = true
			msg, _ := m["error"].(string)
			if m["success"] != false || !strings.Contains(msg, "nothing was stored") || !strings.Contains(strings.ToLower(msg), "full") {
				t.Errorf("503 without a clear error: %v", m)
			}
		default:
			t.Fatalf("POST on a filling disk: %d %v", code, m)
		}
	}
	if !full {
		t.Fatal("the disk never filled up")
	}
	if got := f.requests(); got != stored {
		t.Errorf("after the refused batch the summary counts %v, want %v acknowledged", got, stored)
	}
	if code, m := f.call("GET", "/healthz", nil); code != 200 {
		t.Fatalf("healthz on a full disk: %d %v", code, m)
	}
	// Space returns: ingest works again and nothing was lost or doubled.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	code, m := f.call("POST", "/usage", batch("after", 50))
	if code != 200 || m["accepted"] != 50.0 {
		t.Fatalf("after space returned: %d %v", code, m)
	}
	if got := f.requests(); got != stored+50 {
		t.Errorf("summary %v, want %v", got, stored+50)
	}
}

// A read-only disk under a running store is not tested: Linux refuses to remount a file system
// read-only while files on it are open for writing ("mount point is busy"), and root ignores file modes.
// SQLite reports SQLITE_READONLY like SQLITE_FULL, through the same 503 path tested above.
