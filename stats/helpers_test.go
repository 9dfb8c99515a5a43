package stats

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// openTest opens a store in a fresh temporary folder and closes it when the test ends.
func openTest(t *testing.T, loc *time.Location) *Store {
	t.Helper()
	s, _, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func mustRecord(t *testing.T, s *Store, recs ...Record) Result {
	t.Helper()
	res, err := s.Record(context.Background(), recs...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func rec(at time.Time, account, model string, in, out int64) Record {
	return Record{Time: at, Account: account, Model: model, InputTokens: in, OutputTokens: out, IsAntigravity: true}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// forgetZone makes the closed store at path rebuild its rollups from the raw rows when next opened, as
// a change of time zone does.
func forgetZone(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE meta SET value = '' WHERE key = 'zone'`); err != nil {
		t.Fatal(err)
	}
}
