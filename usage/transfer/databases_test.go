package transfer

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// originRecord is one record of testdata/origin_*.json: what origin_gen.py had the origin module record.
type originRecord struct {
	UTC           time.Time `json:"utc"`
	Account       string    `json:"account_email"`
	Model         string    `json:"model"`
	Input         int64     `json:"input_tokens"`
	Output        int64     `json:"output_tokens"`
	Credential    *string   `json:"credential_file"`
	IsAntigravity bool      `json:"is_antigravity"`
}

// copyFile copies a test file to a temporary folder, so nothing can touch the one in testdata.
func copyFile(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestOriginModuleFilesImportExactly imports files the origin design's module itself wrote (see
// testdata/origin_gen.py): on a machine in Shanghai, whose time stamps are 8 hours early, and in New
// York across the change to daylight saving time, whose stamps are 5 and then 4 hours late. Every record
// comes in at the second it happened, with its names, tokens, credential file and flag; the totals are
// exact; importing the file a second time adds nothing.
func TestOriginModuleFilesImportExactly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		notes []string
	}{
		{"origin_shanghai", []string{"corrected by +08:00"}},
		{"origin_newyork", []string{"corrected by -04:00", "second offset, -05:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []originRecord
			b, err := os.ReadFile(filepath.Join("testdata", tc.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			path := copyFile(t, filepath.Join("testdata", tc.name+".db"))
			now := time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)
			s := openStore(t, now, time.UTC)
			var progress []Progress
			opt := into(s)
			opt.Batch = 16
			opt.Progress = func(p Progress) { progress = append(progress, p) }
			rep := importFile(t, path, opt)
			if rep.Format != OriginDB || rep.Read != int64(len(want)) || rep.Accepted != int64(len(want)) || rep.Skipped != 0 {
				t.Fatalf("report %+v", rep)
			}
			for _, n := range tc.notes {
				if !strings.Contains(strings.Join(rep.Notes, "\n"), n) {
					t.Errorf("notes %q do not say %q", rep.Notes, n)
				}
			}
			if last := progress[len(progress)-1]; len(progress) < 4 || last.Done != last.Total || last.Total != int64(len(want)) {
				t.Errorf("progress %+v: want several steps ending at every row", progress)
			}
			var wantRows []string
			var wantSum stats.Totals
			for _, r := range want {
				cred := ""
				if r.Credential != nil {
					cred = *r.Credential
				}
				wantRows = append(wantRows, fmt.Sprintf("%s|%s|%s|gcli2api|%s|%v|%d|%d|0|0|0|false|0",
					r.UTC.UTC().Format(time.RFC3339), r.Account, r.Model, cred, r.IsAntigravity, r.Input, r.Output))
				wantSum.Requests++
				wantSum.InputTokens += r.Input
				wantSum.OutputTokens += r.Output
				wantSum.Cost += stats.Money(3*r.Input + 11*r.Output + 7)
			}
			slices.Sort(wantRows)
			all := stats.LastHours(now, 24*30)
			if got := contents(t, s, all); !slices.Equal(got, wantRows) {
				for i := range min(len(got), len(wantRows)) {
					if got[i] != wantRows[i] {
						t.Errorf("record %s, want %s", got[i], wantRows[i])
					}
				}
				t.Fatalf("the store holds other records than the module was given")
			}
			sum, err := s.Summary(context.Background(), all, stats.Filter{})
			if err != nil || sum.Totals != wantSum {
				t.Fatalf("summary %+v (%v), want %+v", sum.Totals, err, wantSum)
			}
			again := importFile(t, path, into(s))
			if again.Accepted != 0 || again.Duplicates != int64(len(want)) {
				t.Fatalf("second import: %+v", again)
			}
			if sum2, _ := s.Summary(context.Background(), all, stats.Filter{}); sum2 != sum {
				t.Fatalf("summary after the second import %+v, was %+v", sum2, sum)
			}
		})
	}
}

// originDDL is the origin module's schema, as its init_db creates it (Akarin-Akari/gcli2api
// src/token_stats.py, lines 68–100 at commit eba1b62).
const originDDL = `CREATE TABLE IF NOT EXISTS token_usage (
	id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp INTEGER NOT NULL, account_email TEXT NOT NULL,
	model TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
	total_tokens INTEGER NOT NULL, credential_file TEXT, is_antigravity INTEGER DEFAULT 1);
CREATE TABLE IF NOT EXISTS token_stats_hourly (
	id INTEGER PRIMARY KEY AUTOINCREMENT, hour_bucket TEXT NOT NULL, account_email TEXT NOT NULL,
	model TEXT NOT NULL, total_input_tokens INTEGER DEFAULT 0, total_output_tokens INTEGER DEFAULT 0,
	total_tokens INTEGER DEFAULT 0, request_count INTEGER DEFAULT 0, UNIQUE(hour_bucket, account_email, model));
CREATE INDEX IF NOT EXISTS idx_token_usage_timestamp ON token_usage(timestamp);
CREATE INDEX IF NOT EXISTS idx_token_usage_account ON token_usage(account_email);
CREATE INDEX IF NOT EXISTS idx_token_usage_model ON token_usage(model);
CREATE INDEX IF NOT EXISTS idx_hourly_bucket ON token_stats_hourly(hour_bucket);`

// antigravityDDL is Antigravity-Manager's schema (lbjlaq/Antigravity-Manager
// src-tauri/src/modules/token_stats.rs, init_db, lines 97–149 at commit 716d302); withCached adds the
// cached_tokens columns its later versions add.
func antigravityDDL(withCached bool) string {
	cached := ""
	if withCached {
		cached = "cached_tokens INTEGER NOT NULL DEFAULT 0,"
	}
	return `CREATE TABLE IF NOT EXISTS token_usage (id INTEGER PRIMARY KEY AUTOINCREMENT,
		timestamp INTEGER NOT NULL, account_email TEXT NOT NULL, model TEXT NOT NULL,
		input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0, ` + cached + `
		total_tokens INTEGER NOT NULL DEFAULT 0);
	CREATE INDEX IF NOT EXISTS idx_token_timestamp ON token_usage (timestamp DESC);
	CREATE INDEX IF NOT EXISTS idx_token_account ON token_usage (account_email);
	CREATE TABLE IF NOT EXISTS token_stats_hourly (hour_bucket TEXT NOT NULL, account_email TEXT NOT NULL,
		total_input_tokens INTEGER NOT NULL DEFAULT 0, total_output_tokens INTEGER NOT NULL DEFAULT 0,
		total_tokens INTEGER NOT NULL DEFAULT 0, request_count INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (hour_bucket, account_email));`
}

// makeDB writes a SQLite file with a schema and rows, as the other tool would have.
func makeDB(t *testing.T, name, ddl string, inserts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append([]string{ddl}, inserts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

// TestOriginRowsThatAreNoRecordsAreSkipped: rows the store cannot take (negative or non-numeric tokens,
// an empty account, a time in the future) are skipped and counted by reason with examples, the others
// are imported; without hourly rows the time stamps are read as written, and the report says so.
func TestOriginRowsThatAreNoRecordsAreSkipped(t *testing.T) {
	now := time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)
	ts := now.Add(-48 * time.Hour).Unix()
	path := makeDB(t, "token_stats.db", originDDL,
		fmt.Sprintf(`INSERT INTO token_usage(timestamp, account_email, model, input_tokens, output_tokens, total_tokens, credential_file, is_antigravity) VALUES
		(%d, 'a@example.com', 'm', 100, 10, 110, NULL, 1),
		(%d, 'a@example.com', 'm', -5, 10, 5, NULL, 1),
		(%d, 'a@example.com', 'm', 'lots', 10, 10, NULL, 1),
		(%d, '', 'm', 1, 1, 2, NULL, 0),
		(%d, 'b@example.com', 'm', 7, 3, 10, 'c.json', 0),
		(%d, 'b@example.com', 'm', 7, 3, 10, 'c.json', 0)`, ts, ts, ts, ts, now.Add(time.Hour).Unix(), ts+1))
	s := openStore(t, now, time.UTC)
	opt := into(s)
	opt.Now = func() time.Time { return now }
	rep := importFile(t, path, opt)
	if rep.Accepted != 2 || rep.Skipped != 4 || rep.Read != 6 {
		t.Fatalf("report %+v", rep)
	}
	want := []SkipCount{{"input_tokens", 2}, {"account_email", 1}, {"timestamp", 1}}
	if !slices.Equal(rep.Skips, want) {
		t.Errorf("skips %+v, want %+v", rep.Skips, want)
	}
	if len(rep.Examples) != 4 || !strings.Contains(rep.Examples[0].Msg, "row id 2") {
		t.Errorf("examples %+v", rep.Examples)
	}
	if !strings.Contains(strings.Join(rep.Notes, " "), "read as written") {
		t.Errorf("notes %q", rep.Notes)
	}
	if rep := importFile(t, path, opt); rep.Accepted != 0 || rep.Duplicates != 2 || rep.Skipped != 4 {
		t.Errorf("second import %+v", rep)
	}
}

// TestAntigravityManagerDatabaseImports reads Antigravity-Manager's token statistics database, with and
// without its cached_tokens column: times as stored, cached tokens inside input (added to it where a
// Claude client's row left them out), source antigravity-manager; a second import adds nothing.
func TestAntigravityManagerDatabaseImports(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	t0 := now.Add(-30 * time.Hour).Unix()
	for _, withCached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached_tokens=%v", withCached), func(t *testing.T) {
			cachedCol, cached := "", func(n int) string { return "" }
			if withCached {
				cachedCol, cached = "cached_tokens, ", func(n int) string { return fmt.Sprint(n) + ", " }
			}
			path := makeDB(t, "token_stats.db", antigravityDDL(withCached), fmt.Sprintf(
				`INSERT INTO token_usage(timestamp, account_email, model, input_tokens, output_tokens, %stotal_tokens) VALUES
				(%d, 'a@example.com', 'gemini-3-pro', 1000, 50, %s1050),
				(%d, '张伟@example.com', 'claude-sonnet-4-5', 20, 300, %s320),
				(%d, 'a@example.com', 'gemini-3-pro', 5, 1, %s6)`,
				cachedCol, t0, cached(400), t0+3600, cached(90000), t0+7200, cached(0)),
				`INSERT INTO token_stats_hourly(hour_bucket, account_email, request_count) VALUES ('2026-04-30 06:00', 'a@example.com', 2)`)
			s := openStore(t, now, time.UTC)
			rep := importFile(t, path, into(s))
			if rep.Format != AntigravityDB || rep.Accepted != 3 || rep.Skipped != 0 {
				t.Fatalf("report %+v", rep)
			}
			want := []string{
				fmt.Sprintf("%s|a@example.com|gemini-3-pro|antigravity-manager||true|1000|50|%d|0|0|false|0",
					time.Unix(t0, 0).UTC().Format(time.RFC3339), map[bool]int{true: 400}[withCached]),
				fmt.Sprintf("%s|张伟@example.com|claude-sonnet-4-5|antigravity-manager||true|%d|300|%d|0|0|false|0",
					time.Unix(t0+3600, 0).UTC().Format(time.RFC3339), map[bool]int{true: 90020, false: 20}[withCached],
					map[bool]int{true: 90000}[withCached]),
				fmt.Sprintf("%s|a@example.com|gemini-3-pro|antigravity-manager||true|5|1|0|0|0|false|0",
					time.Unix(t0+7200, 0).UTC().Format(time.RFC3339)),
			}
			slices.Sort(want)
			if got := contents(t, s, stats.LastHours(now, 48)); !slices.Equal(got, want) {
				t.Fatalf("records\n%q\nwant\n%q", got, want)
			}
			notes := strings.Join(rep.Notes, " ")
			if withCached != strings.Contains(notes, "added to input") || withCached == strings.Contains(notes, "predates") {
				t.Errorf("notes %q", rep.Notes)
			}
			if rep := importFile(t, path, into(s)); rep.Accepted != 0 || rep.Duplicates != 3 {
				t.Fatalf("second import %+v", rep)
			}
		})
	}
}

// TestDetectRefusesWhatItCannotRead: a file of no known format, a CSV without the needed columns, a
// SQLite file of another kind and a Token Stats database itself are refused with a message, and
// nothing is stored.
func TestDetectRefusesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ts := openStore(t, time.Now(), time.UTC)
	for _, tc := range []struct{ path, want string }{
		{write("notes.txt", "hello, world\n"), "not a file Token Stats can import"},
		{write("other.csv", "date,tokens\n2026-01-01,5\n"), "not a file Token Stats can import"},
		{write("empty.csv", ""), "is empty"},
		{makeDB(t, "other.db", `CREATE TABLE things(id INTEGER)`), "without a token_usage table"},
		{ts.Path(), "Token Stats database"},
	} {
		_, err := Import(context.Background(), tc.path, ImportOptions{Store: func(context.Context, []stats.Record) (stats.Result, error) {
			t.Fatalf("%s: records stored", tc.path)
			return stats.Result{}, nil
		}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", filepath.Base(tc.path), err, tc.want)
		}
	}
}
