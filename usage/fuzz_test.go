package usage

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
)

// Fuzz targets. The seed corpus in testdata/fuzz/<target>/ (plus the f.Add seeds below) runs as an
// ordinary test in `make test`; `make fuzz` explores further (go test -fuzz, a few minutes each).

var fuzzNow = time.Date(2026, 1, 22, 16, 30, 0, 0, time.UTC)

// FuzzDecodeRecords: whatever the body, DecodeRecords never panics, and either refuses it with a
// message or returns 1…MaxBatch records that each pass validation.
func FuzzDecodeRecords(f *testing.F) {
	const okRec = `{"account_email":"a@example.com","model":"m","input_tokens":1,"output_tokens":2}`
	f.Add([]byte(okRec))
	f.Add([]byte(`[` + okRec + `,` + okRec + `]`))
	f.Add([]byte(`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":2,"cached_tokens":0,"reasoning_tokens":3,"cache_creation_tokens":4,"credential_file":"c.json","is_antigravity":false,"timestamp":"2026-01-22T10:00:00+05:30","request_id":"r","source":"s"}`))
	f.Add([]byte(`{"account_email":"a","model":"m","usage":{"prompt_tokens":10,"completion_tokens":5}}`))
	f.Add([]byte(`{"account_email":"a","model":"m","provider":"gemini","response":{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := DecodeRecords(body, fuzzNow)
		if err != nil {
			if recs != nil {
				t.Fatalf("error %v with %d records", err, len(recs))
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(recs) == 0 || len(recs) > MaxBatch {
			t.Fatalf("%d records accepted", len(recs))
		}
		for i, r := range recs {
			if err := r.Validate(fuzzNow); err != nil {
				t.Fatalf("record %d passed decoding but not validation: %v", i, err)
			}
			if !utf8.ValidString(r.Account) || !utf8.ValidString(r.Model) {
				t.Fatalf("record %d: invalid UTF-8 stored", i)
			}
		}
	})
}

// FuzzNormalize: the usage normaliser never panics, refuses with a UsageError, or returns counts
// that are non-negative and within the limits.
func FuzzNormalize(f *testing.F) {
	seeds := []struct{ raw, provider string }{
		{`{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`, ""},
		{`{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}`, "openai"},
		{`{"input_tokens":10,"output_tokens":5,"input_tokens_details":{"cached_tokens":1}}`, "openai-responses"},
		{`{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":3,"cache_creation_input_tokens":2}`, "anthropic"},
		{`{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":2,"cachedContentTokenCount":1}`, "gemini"},
		{`{"usageMetadata":{"promptTokenCount":1}}`, ""},
		{`[{"candidates":[]},{"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":1}}]`, "gemini"},
		{`{"usage":{"prompt_tokens":-1}}`, ""},
		{`{"prompt_tokens":1.5}`, ""},
		{`null`, ""},
		{`{}`, "nope"},
		{`{"message":{"usage":{"input_tokens":1,"output_tokens":1}}}`, "anthropic"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.raw), s.provider)
	}
	f.Fuzz(func(t *testing.T, raw []byte, provider string) {
		u, err := Normalize(raw, provider)
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) || err.Error() == "" {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, v := range []int64{u.InputTokens, u.OutputTokens, u.CachedTokens, u.ReasoningTokens, u.CacheCreationTokens} {
			if v < 0 || v > stats.MaxTokens {
				t.Fatalf("count %d out of range: %+v", v, u)
			}
		}
	})
}
