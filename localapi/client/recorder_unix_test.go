//go:build unix

package client_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/localapi/client"
)

// A claim whose owner is gone (no lock held) is taken over at once, whatever its age; a claim whose
// owner is alive (it holds the lock) is left alone.
func TestRecorderClaimOwnership(t *testing.T) {
	l := startListener(t)
	spool := t.TempDir()
	dead := filepath.Join(spool, "spool-1-aaaa.jsonl.claimed") // fresh, unlocked: its owner died
	live := filepath.Join(spool, "spool-2-bbbb.jsonl.claimed")
	os.WriteFile(dead, []byte(spoolLine("d1")+spoolLine("d2")), 0o600)
	os.WriteFile(live, []byte(spoolLine("l1")), 0o600)
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	r, err := client.NewRecorder(client.New(l.url(), token), fastOptions(spool))
	if err != nil {
		t.Fatal(err)
	}
	l.waitRequests(2)
	if err := closeWithin(t, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the live claim was taken: %v", err)
	}
	if n := l.summary().Requests; n != 2 {
		t.Errorf("store holds %d requests, want the dead claim's 2", n)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN) // its owner lets go (as by exiting)
	r2, err := client.NewRecorder(client.New(l.url(), token), fastOptions(spool))
	if err != nil {
		t.Fatal(err)
	}
	if err := closeWithin(t, r2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := l.summary().Requests; n != 3 || len(spoolFiles(t, spool)) != 0 {
		t.Errorf("store holds %d requests, spool %v; want 3 and empty", n, spoolFiles(t, spool))
	}
}
