package transfer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTextFilesSkipWhatIsNoRecord: in a JSONL or CSV file written by hand, lines that are not records
// (bad JSON, negative tokens, no time, too long, a CSV row of the wrong width or with a stray quote) are
// skipped and counted by reason, with the line each is on; the good ones are stored once even when
// they carry no request id, and a second import adds nothing.
func TestTextFilesSkipWhatIsNoRecord(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	long := `{"account_email":"a","model":"` + strings.Repeat("m", maxLine) + `"}`
	jsonl := strings.Join([]string{
		`{"timestamp":"2026-06-01T10:00:00Z","account_email":"a@example.com","model":"m","input_tokens":10,"output_tokens":2}`,
		`{"timestamp":"2026-06-01T10:00:00Z","account_email":"a@example.com","model":"m","input_tokens":10,"output_tokens":2}`,
		``,
		`not json`,
		`{"timestamp":1780300000,"account_email":"a@example.com","model":"m","input_tokens":-1,"output_tokens":2}`,
		`{"account_email":"a@example.com","model":"m","input_tokens":1,"output_tokens":2}`,
		`{"timestamp":null,"account_email":"a@example.com","model":"m","input_tokens":1,"output_tokens":2}`,
		long,
		`[{"timestamp":1780300000,"account_email":"b","model":"m","input_tokens":4,"output_tokens":4,"request_id":"r1"},` +
			`{"timestamp":1780300001,"account_email":"b","model":"m","input_tokens":5,"output_tokens":5,"agent_cost_usd":0.5}]`,
	}, "\n")
	csvText := "\uFEFFmodel,timestamp,account_email,input_tokens,output_tokens,extra\r\n" +
		"m,2026-06-01T10:00:00+08:00,'=a,10,2,x\r\n" +
		"m,2026-06-01T10:00:00+08:00,'=a,10,2,x\r\n" +
		"m,2026-06-01T10:00:01Z,a,ten,2,x\r\n" +
		"m,2026-06-01T10:00:01Z,a,10\r\n" +
		"m,,a,1,1,x\r\n" +
		"m,1780300000,a,1,\"1\"x,x\r\n" +
		"m,1780300002,a,1,1,x\r\n"
	for _, tc := range []struct {
		name, text string
		format     Format
		accepted   int64
		skips      []SkipCount
		firstAt    string
	}{
		{"usage.jsonl", jsonl, JSONL, 4,
			[]SkipCount{{"timestamp", 2}, {"input_tokens", 1}, {"line too long", 1}, {"not a record", 1}}, "line 4"},
		{"usage.csv", csvText, CSV, 3,
			[]SkipCount{{"input_tokens", 1}, {"malformed CSV", 1}, {"timestamp", 1}, {"wrong number of fields", 1}}, "line 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.name, tc.text)
			s := openStore(t, now, time.UTC)
			opt := into(s)
			opt.Now = func() time.Time { return now }
			rep := importFile(t, path, opt)
			if rep.Format != tc.format || rep.Accepted != tc.accepted || !slices.Equal(rep.Skips, tc.skips) {
				t.Fatalf("report %+v", rep)
			}
			if len(rep.Examples) == 0 || rep.Examples[0].At != tc.firstAt {
				t.Errorf("first example %+v, want one at %s", rep.Examples, tc.firstAt)
			}
			if rep.Done != rep.Total || rep.Total != int64(len(tc.text)) {
				t.Errorf("progress %d of %d bytes, file has %d", rep.Done, rep.Total, len(tc.text))
			}
			again := importFile(t, path, opt)
			if again.Accepted != 0 || again.Duplicates != tc.accepted {
				t.Errorf("second import %+v", again)
			}
		})
	}
}

// TestAStoreRefusalSkipsOnlyThatRecord: when the store refuses one record of a batch (here: a clock
// behind the reader's), that record is reported and the rest of the batch is stored.
func TestAStoreRefusalSkipsOnlyThatRecord(t *testing.T) {
	readerNow := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	storeNow := readerNow.Add(-time.Hour)
	path := writeFile(t, "usage.jsonl",
		`{"timestamp":"2026-06-01T10:00:00Z","account_email":"a","model":"m","input_tokens":1,"output_tokens":1}
{"timestamp":"2026-06-01T11:59:00Z","account_email":"a","model":"m","input_tokens":1,"output_tokens":1}
{"timestamp":"2026-06-01T10:30:00Z","account_email":"a","model":"m","input_tokens":1,"output_tokens":1}
`)
	s := openStore(t, storeNow, time.UTC)
	opt := into(s)
	opt.Now = func() time.Time { return readerNow }
	rep := importFile(t, path, opt)
	if rep.Accepted != 2 || rep.Skipped != 1 || !slices.Equal(rep.Skips, []SkipCount{{"timestamp", 1}}) ||
		!strings.Contains(rep.Examples[0].Msg, "line 2") {
		t.Fatalf("report %+v", rep)
	}
	sum, err := s.Summary(context.Background(), stats.LastHours(storeNow, 24), stats.Filter{})
	if err != nil || sum.Requests != 2 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
}
