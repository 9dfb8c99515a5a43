package stats

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A backup taken while records keep arriving holds every record acknowledged before it began and, being
// one snapshot, exactly the first m records written (one writer writes them in order): its views equal
// the brute force over those m, which are the source's views at the moment the copy's snapshot began.
func TestBackupUnderLiveIngest(t *testing.T) {
	loc := mustLoad(t, "America/New_York")
	end := time.Date(2026, 6, 20, 12, 0, 0, 0, loc)
	now := func() time.Time { return end }
	dir := t.TempDir()
	s, _, err := Open(filepath.Join(dir, "live.db"), Options{Location: loc, Pricer: testPricer{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	var recs []Record
	for i := range 6000 {
		recs = append(recs, randomRecord(rng, end.Add(-time.Duration(6000-i)*7*time.Minute)))
	}
	mustRecord(t, s, recs[:2000]...)
	var mu sync.Mutex
	acked := 2000
	stop, stopped, half := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		defer func() {
			select {
			case <-half:
			default:
				close(half)
			}
		}()
		for i := 2000; i < len(recs); i += 10 {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Record(ctx, recs[i:i+10]...); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			acked = i + 10
			mu.Unlock()
			if i+10 == 3000 {
				close(half)
			}
		}
	}()
	<-half
	mu.Lock()
	before := acked
	mu.Unlock()
	dst := filepath.Join(dir, "backups", "copy.db")
	if err := s.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-stopped
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", st, err)
	}
	c, _, err := Open(dst, Options{Location: loc, Pricer: testPricer{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inf, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := int(inf.Records)
	if m < before || m > len(recs) {
		t.Fatalf("the backup holds %d records; %d were acknowledged before it began", m, before)
	}
	b := &bruteForce{recs: recs[:m]}
	for i := 0; i < 12; i++ {
		hours := []int{1, 5, 24, 24 * 7, 24 * 30, MaxHours}[i%6]
		e := end.Add(-time.Duration(rng.IntN(24*30*3600)) * time.Second)
		var f Filter
		if i%2 == 1 {
			f = randomFilter(rng, b)
		}
		what := fmt.Sprintf("backup of %d records: window %d h ending %s, filter %+v", m, hours, e, f)
		checkViews(t, c, b, LastHours(e, hours), f, what)
		checkTrend(t, c, b, TrendQuery{Dimension: BySource, Granularity: Daily, End: e, Hours: hours, Filter: f}, loc, what)
	}
	if err := CheckFile(ctx, dst); err != nil {
		t.Fatal(err)
	}
}

func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(filepath.Join(dir, "a.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	taken := filepath.Join(dir, "taken.db")
	os.WriteFile(taken, []byte("keep me"), 0o600)
	if err := s.Backup(ctx, taken); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(taken); string(b) != "keep me" {
		t.Fatal("the existing file was changed")
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 500)), 0o600)
	if err := BackupFile(ctx, junk, filepath.Join(dir, "out.db")); err == nil {
		t.Fatal("a file that is not a database was copied")
	}
	if err := CheckFile(ctx, junk); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("check of junk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.db")); err == nil {
		t.Fatal("a failed backup left its file")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".out.db.tmp-*"))
	if len(left) != 0 {
		t.Fatalf("a failed backup left %v", left)
	}
}
