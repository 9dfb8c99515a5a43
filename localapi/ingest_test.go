package localapi

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/usage"
)

func TestIngestValidation(t *testing.T) {
	h := newHarness(t)
	ok := `{"account_email":"a@x","model":"m","input_tokens":1,"output_tokens":1}`
	// Each case: body, and the words the error must contain.
	cases := []struct {
		body string
		want []string
	}{
		{``, []string{"empty body"}},
		{`   `, []string{"empty body"}},
		{`[]`, []string{"empty array"}},
		{`{`, []string{"truncated"}},
		{`{"account_email":"a@x",}`, []string{"malformed JSON"}},
		{`"hello"`, []string{"object"}},
		{`42`, []string{"object"}},
		{`[` + ok + `, 5]`, []string{"record 1", "object"}},
		{`[` + ok + `, "x"]`, []string{"record 1", "object"}},
		{ok + ` {}`, []string{"after the JSON value"}},
		{`{"model":"m","input_tokens":1,"output_tokens":1}`, []string{"account_email", "required"}},
		{`{"account_email":"a","input_tokens":1,"output_tokens":1}`, []string{"model", "required"}},
		{`{"account_email":"a","model":"","input_tokens":1,"output_tokens":1}`, []string{"model"}},
		{`{"account_email":"a","model":"m","output_tokens":1}`, []string{"input_tokens", "required"}},
		{`{"account_email":"a","model":"m","input_tokens":1}`, []string{"output_tokens", "required"}},
		{`{"account_email":"a","model":"m","input_tokens":null,"output_tokens":1}`, []string{"input_tokens", "required"}},
		{`{"account_email":"a","model":"m","input_tokens":1.5,"output_tokens":1}`, []string{"input_tokens", "whole number"}},
		{`{"account_email":"a","model":"m","input_tokens":1.0,"output_tokens":1}`, []string{"input_tokens", "whole number"}},
		{`{"account_email":"a","model":"m","input_tokens":1e3,"output_tokens":1}`, []string{"input_tokens", "whole number"}},
		{`{"account_email":"a","model":"m","input_tokens":-1,"output_tokens":1}`, []string{"input_tokens", "negative"}},
		{`{"account_email":"a","model":"m","input_tokens":"5","output_tokens":1}`, []string{"input_tokens", "string"}},
		{`{"account_email":"a","model":"m","input_tokens":true,"output_tokens":1}`, []string{"input_tokens", "number"}},
		{`{"account_email":"a","model":"m","input_tokens":99999999999999999999999,"output_tokens":1}`, []string{"input_tokens", "too large"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"cached_tokens":-3}`, []string{"cached_tokens", "negative"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"reasoning_tokens":0.5}`, []string{"reasoning_tokens"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"cache_creation_tokens":"x"}`, []string{"cache_creation_tokens"}},
		{`{"account_email":5,"model":"m","input_tokens":1,"output_tokens":1}`, []string{"account_email", "string"}},
		{`{"account_email":"a","model":["m"],"input_tokens":1,"output_tokens":1}`, []string{"model", "string"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"is_antigravity":"yes"}`, []string{"is_antigravity", "boolean"}},
		{`{"account_email":"a\u0000b","model":"m","input_tokens":1,"output_tokens":1}`, []string{"account_email", "control"}},
		{`{"account_email":"a","model":"m\u001b[31m","input_tokens":1,"output_tokens":1}`, []string{"model", "control"}},
		{`{"account_email":"a\ud800","model":"m","input_tokens":1,"output_tokens":1}`, []string{"surrogate"}},
		{`{"account_email":"a","model":"\udc00x","input_tokens":1,"output_tokens":1}`, []string{"surrogate"}},
		{`{"account_email":"a","model":"\ud83d\u0041","input_tokens":1,"output_tokens":1}`, []string{"surrogate"}},
		{"{\"account_email\":\"a\xff\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}", []string{"UTF-8"}},
		{`{"account_email":"` + strings.Repeat("a", 321) + `","model":"m","input_tokens":1,"output_tokens":1}`, []string{"account_email", "321 bytes"}},
		{`{"account_email":"a","model":"` + strings.Repeat("m", 257) + `","input_tokens":1,"output_tokens":1}`, []string{"model", "at most 256"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"request_id":"` + strings.Repeat("r", 129) + `"}`, []string{"request_id"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":1.5}`, []string{"timestamp"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":-5}`, []string{"timestamp", "negative"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":"yesterday"}`, []string{"timestamp", "RFC 3339"}},
		{`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":1769099400000}`, []string{"timestamp", "milliseconds"}},
		{fmt.Sprintf(`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":%d}`,
			time.Date(2026, 1, 22, 16, 41, 0, 0, time.UTC).Unix()), []string{"timestamp", "future"}},
		{`[` + ok + `,` + ok + `,{"account_email":"a","model":"m","input_tokens":1,"output_tokens":-1}]`, []string{"record 2", "output_tokens"}},
	}
	for i, c := range cases {
		code, res := h.do("POST", "/usage", c.body)
		msg, _ := res["error"].(string)
		if code != 400 || res["success"] != false {
			t.Errorf("case %d (%.60s): status %d %v", i, c.body, code, res)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("case %d (%.60s): error %q lacks %q", i, c.body, msg, w)
			}
		}
	}
	// Nothing of any of those requests was stored, not even the valid records of the bad batch.
	_, sum := h.do("GET", "/stats/summary?hours=87600", "")
	if n := sum["data"].(map[string]any)["total_requests"]; n != 0.0 {
		t.Fatalf("bad requests stored %v records", n)
	}
	// A record 10 minutes ahead is accepted; RFC 3339 with an offset is read as that instant.
	code, res := h.do("POST", "/usage", fmt.Sprintf(`[{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":%d},
		{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":"2026-01-22T21:45:00+05:30"}]`,
		h.now.Add(10*time.Minute).Unix()))
	if code != 200 || res["accepted"] != 2.0 {
		t.Fatalf("edge timestamps: %d %v", code, res)
	}
	_, sum = h.do("GET", "/stats/summary?hours=1", "")
	if n := sum["data"].(map[string]any)["total_requests"]; n != 1.0 {
		t.Fatalf("16:15Z is inside the last hour and the future record not yet: got %v", n)
	}
}

func TestIngestLimits(t *testing.T) {
	h := newHarness(t)
	one := `{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1}`
	big := "[" + strings.Repeat(one+",", usage.MaxBatch) + one + "]"
	code, res := h.do("POST", "/usage", big)
	if code != 400 || !strings.Contains(res["error"].(string), "at most 10000") {
		t.Errorf("10,001 records: %d %v", code, res)
	}
	full := "[" + strings.Repeat(one+",", usage.MaxBatch-1) + one + "]"
	if code, res := h.do("POST", "/usage", full); code != 200 || res["accepted"] != float64(usage.MaxBatch) {
		t.Errorf("10,000 records: %d %v", code, res)
	}
	huge := `{"account_email":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	if code, res := h.do("POST", "/usage", huge); code != 413 || !strings.Contains(res["error"].(string), "larger") {
		t.Errorf("oversized body: %d %v", code, res)
	}
	// With the Bearer token the body is read as JSON whatever Content-Type says: curl -d sends
	// application/x-www-form-urlencoded (the browser-session rule is in TestContentTypeRuleBySender).
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "garbage;;"} {
		if code, res := h.do("POST", "/usage", one, "Content-Type", ct); code != 200 || res["accepted"] != 1.0 {
			t.Errorf("Content-Type %s with the token: %d %v", ct, code, res)
		}
	}
	if code, _ := h.do("POST", "/usage", one, "Content-Type", "application/json; charset=utf-8"); code != 200 {
		t.Errorf("JSON with charset refused: %d", code)
	}
}

func TestSurrogatePairsAndEscapesAccepted(t *testing.T) {
	h := newHarness(t)
	// A real pair (😀), an escaped backslash before "ud800" (text, not an escape) and a BMP escape.
	body := `[{"account_email":"a\ud83d\ude00","model":"path\\ud800","input_tokens":1,"output_tokens":1},
		{"account_email":"\u00e9\\\\","model":"m","input_tokens":1,"output_tokens":1}]`
	code, res := h.do("POST", "/usage", body)
	if code != 200 || res["accepted"] != 2.0 {
		t.Fatalf("%d %v", code, res)
	}
	_, by := h.do("GET", "/stats/by-account?hours=1", "")
	names := map[string]bool{}
	for _, r := range by["data"].([]any) {
		names[r.(map[string]any)["account_email"].(string)] = true
	}
	if !names["a😀"] || !names[`é\\`] {
		t.Fatalf("stored names %v", names)
	}
	_, bm := h.do("GET", "/stats/by-model?hours=1", "")
	models := map[string]bool{}
	for _, r := range bm["data"].([]any) {
		models[r.(map[string]any)["model"].(string)] = true
	}
	if !models[`path\ud800`] || !models["m"] {
		t.Fatalf("stored models %v", models)
	}
}

// A refused record of a batch is named by its position in the answer's "index"; a refused single
// object has none. Every refusal is valid UTF-8, however its quoted input is cut.
func TestIngestRefusalsNameTheRecordAndStayUTF8(t *testing.T) {
	h := newHarness(t)
	ok := `{"account_email":"a@x","model":"m","input_tokens":1,"output_tokens":1}`
	long := strings.Repeat("模型", 30)
	cases := []struct {
		body  string
		index float64 // -1: no index
	}{
		{`[` + ok + `,` + ok + `,{"account_email":"a","model":"m","input_tokens":-1,"output_tokens":1}]`, 2},
		{`[` + ok + `, 5]`, 1},
		{`[` + ok + `,{"account_email":"a","model":"m","input_tokens":5,"output_tokens":1,"cached_tokens":6}]`, 1},
		{`{"account_email":"a","model":"m","input_tokens":-1,"output_tokens":1}`, -1},
		{`{"account_email":"a","model":"m","provider":"` + long + `","usage":{"prompt_tokens":1,"completion_tokens":1}}`, -1},
		{`[` + ok + `,{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":"` + long + `"}]`, 1},
	}
	for _, c := range cases {
		code, res := h.do("POST", "/usage", c.body)
		if code != 400 {
			t.Errorf("%.60s: %d, want 400", c.body, code)
			continue
		}
		idx, has := res["index"]
		switch {
		case c.index < 0 && has:
			t.Errorf("%.60s: index %v on a single object", c.body, idx)
		case c.index >= 0 && idx != c.index:
			t.Errorf("%.60s: index %v, want %v (%v)", c.body, idx, c.index, res["error"])
		}
		if msg, _ := res["error"].(string); !utf8.ValidString(msg) || strings.ContainsRune(msg, utf8.RuneError) {
			t.Errorf("%.60s: error %q is not clean UTF-8", c.body, msg)
		}
	}
	if code, res := h.do("GET", "/stats/summary?hours="+strings.Repeat("时", 25), ""); code != 400 ||
		!utf8.ValidString(res["error"].(string)) || strings.ContainsRune(res["error"].(string), utf8.RuneError) {
		t.Errorf("bad hours: %d %q", code, res["error"])
	}
}
