package app

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// dbWriteLock holds the database's write lock from this process, as a long transaction of another
// program would: the binary's commits wait and then fail until it is released.
type dbWriteLock struct {
	db   *sql.DB
	conn *sql.Conn
}

func lockDatabase(t *testing.T, path string) *dbWriteLock {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	l := &dbWriteLock{db: db, conn: conn}
	t.Cleanup(l.release)
	return l
}

// queueRecords are queued records lo to hi-1, a second apart from at.
func queueRecords(at time.Time, lo, hi int) [][]byte {
	var out [][]byte
	for i := lo; i < hi; i++ {
		out = append(out, queueRecord(i, at.Add(time.Duration(i)*time.Second)))
	}
	return out
}

func (l *dbWriteLock) release() {
	if l.conn != nil {
		l.conn.ExecContext(context.Background(), "ROLLBACK")
		l.conn.Close()
		l.db.Close()
		l.conn = nil
	}
}

// TestCLIProxyAPIKilledBetweenPopAndCommit drives the real binary against a fake CLIProxyAPI. The
// moment between the pop and the commit is held open deterministically: the database's write lock is
// held by the test, so the binary pops, keeps the batch on disk and cannot commit it; the test sees the
// batch file and kills the binary with SIGKILL. The next start, the lock still held, must store that
// batch before it pops again and retry its failed commits rather than drop them; once the lock is gone
// every popped record is stored, exactly once, even when the kept batch is stored a second time.
func TestCLIProxyAPIKilledBetweenPopAndCommit(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGKILL")
	}
	bin, data, env, token := headlessSetup(t)
	fake := newFakeCLIProxyAPI(t)
	env = append(env, cliproxyKeyEnv+"="+testManagementKey)
	args := []string{"--headless", "--listen", "127.0.0.1:0", "--data-dir", data, "--cliproxyapi", fake.srv.URL}
	pending := cliproxyPendingFile(data)
	summary := func(p *proc) map[string]any {
		code, m := p.call(t, "GET", "/stats/summary?hours=48", token, "")
		d, _ := m["data"].(map[string]any)
		if code != 200 || d == nil {
			t.Fatalf("summary: %d %v", code, m)
		}
		return d
	}

	p := startBinary(t, bin, env, args...)
	lock := lockDatabase(t, filepath.Join(data, "tokenstats.db"))
	at := time.Now().Add(-time.Hour).UTC()
	fake.q.Push(queueRecords(at, 0, 30)...) // at once: a pop in between would split the batch
	waitUntil(t, "the binary keeps the popped batch on disk", func() bool {
		_, err := os.Stat(pending)
		return err == nil
	})
	p.cmd.Process.Signal(os.Kill)
	<-p.exited
	if fake.q.Len() != 0 {
		t.Fatalf("%d records still queued: the kill was not after the pop", fake.q.Len())
	}
	kept, err := os.ReadFile(pending)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(pending); st.Mode().Perm() != 0o600 {
		t.Errorf("the kept batch has mode %v, want 0600", st.Mode().Perm())
	}
	if bytes.Contains(kept, []byte(clientKeySecret)) {
		t.Error("the kept batch holds a client API key")
	}
	pops := fake.q.Pops()

	// Restart while the database is still locked, with more records queued.
	fake.q.Push(queueRecords(at, 30, 40)...)
	p = startBinary(t, bin, env, args...)
	waitUntil(t, "the binary fails to store the kept batch and retries", func() bool {
		return strings.Contains(p.stderrText(), "storing CLIProxyAPI records failed; retrying")
	})
	if fake.q.Pops() != pops || fake.q.Len() != 10 {
		t.Errorf("the queue was popped (%d pops, %d left) before the kept batch was stored", fake.q.Pops()-pops, fake.q.Len())
	}
	lock.release()
	waitUntil(t, "all 40 records are stored", func() bool { return summary(p)["total_requests"] == 40.0 })
	want := wantTotals(0, 40)
	d := summary(p)
	if d["total_input_tokens"] != float64(want.InputTokens) || d["total_output_tokens"] != float64(want.OutputTokens) ||
		d["total_cached_tokens"] != float64(want.CachedTokens) || d["total_reasoning_tokens"] != float64(want.ReasoningTokens) {
		t.Errorf("summary %v, want %+v", d, want)
	}
	waitUntil(t, "the stored batch's file is removed", func() bool {
		_, err := os.Stat(pending)
		return os.IsNotExist(err)
	})
	if fake.q.Len() != 0 {
		t.Errorf("%d records left in the queue", fake.q.Len())
	}

	// Killed after a commit but before the file was removed: the batch is stored again, counted once.
	p.cmd.Process.Signal(os.Interrupt)
	<-p.exited
	if err := os.WriteFile(pending, kept, 0o600); err != nil {
		t.Fatal(err)
	}
	p = startBinary(t, bin, env, args...)
	waitUntil(t, "the batch is stored a second time", func() bool {
		_, err := os.Stat(pending)
		return os.IsNotExist(err)
	})
	if d := summary(p); d["total_requests"] != 40.0 || d["total_input_tokens"] != float64(want.InputTokens) {
		t.Errorf("after storing the kept batch again: %v, want 40 records", d)
	}
	if _, info := p.call(t, "GET", "/stats/db-info", token, ""); info["records"] != 40.0 {
		t.Errorf("db-info %v, want 40 records", info)
	}
	p.cmd.Process.Signal(os.Interrupt)
	<-p.exited
	for _, secret := range []string{clientKeySecret, testManagementKey} {
		if files := secretsIn(t, data, secret); len(files) > 0 {
			t.Errorf("%q was written to %v", secret, files)
		}
	}
}
