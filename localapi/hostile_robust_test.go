package localapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// hostileCase is one bad request: it must get a 4xx with a JSON error that names the problem.
type hostileCase struct {
	name   string
	method string
	path   string
	ctype  string // "" sends application/json for bodies
	body   []byte
	status int    // exact status expected; 0 means any 4xx
	want   string // a piece of the error message, case-insensitive
}

const okRec = `{"account_email":"a@example.com","model":"m","input_tokens":1,"output_tokens":2}`

// rec returns okRec with one field replaced (or added) by raw JSON.
func rec(field, raw string) string {
	var m map[string]json.RawMessage
	json.Unmarshal([]byte(okRec), &m)
	if raw == "" {
		delete(m, field)
	} else {
		m[field] = json.RawMessage(raw)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func hostileCorpus() []hostileCase {
	post := func(name, body, want string) hostileCase {
		return hostileCase{name: name, method: "POST", path: "/usage", body: []byte(body), status: 400, want: want}
	}
	big := strings.Repeat("x", 1<<20)
	var many strings.Builder
	many.WriteString("[")
	for i := 0; i < 100000; i++ {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1}`)
	}
	many.WriteString("]")
	tenMB := append([]byte(`[`+okRec+`,{"account_email":"`), bytes.Repeat([]byte("a"), 10<<20)...)
	tenMB = append(tenMB, `"}]`...)
	cases := []hostileCase{
		// Malformed and truncated JSON.
		post("empty body", "", "empty body"),
		post("only spaces", "   \n\t ", "empty body"),
		post("bare word", "hello", "JSON object"),
		post("number", "42", "JSON object"),
		post("string", `"usage"`, "JSON object"),
		post("null", "null", "JSON object"),
		post("truncated object", `{"account_email":"a@example.com","model":"m","input_tok`, "truncated"),
		post("truncated array", `[`+okRec+`,`+okRec, "truncated"),
		post("unclosed array", `[`, "truncated"),
		post("missing colon", `{"account_email" "a"}`, "malformed"),
		post("trailing comma", `{"account_email":"a","model":"m","input_tokens":1,"output_tokens":2,}`, "malformed"),
		post("single quotes", `{'account_email':'a'}`, "malformed"),
		post("two objects", okRec+okRec, "after the JSON value"),
		post("garbage after", okRec+" xyz", "after the JSON value"),
		post("empty array", "[]", "empty array"),
		post("array of numbers", "[1,2]", "record 0"),
		post("nested array", "[["+okRec+"]]", "record 0"),
		post("empty object", "{}", "required"),
		// Wrong types.
		post("account number", rec("account_email", "5"), "account_email"),
		post("model object", rec("model", `{"a":1}`), "model"),
		post("model array", rec("model", `["m"]`), "model"),
		post("input string", rec("input_tokens", `"12"`), "input_tokens"),
		post("output bool", rec("output_tokens", "true"), "output_tokens"),
		post("input object", rec("input_tokens", `{}`), "input_tokens"),
		post("is_antigravity string", rec("is_antigravity", `"yes"`), "is_antigravity"),
		post("request_id number", rec("request_id", "7"), "request_id"),
		post("timestamp bool", rec("timestamp", "false"), "timestamp"),
		post("timestamp bad string", rec("timestamp", `"yesterday"`), "timestamp"),
		// Missing fields.
		post("no account", rec("account_email", ""), "account_email"),
		post("no model", rec("model", ""), "model"),
		post("no input", rec("input_tokens", ""), "input_tokens"),
		post("no output", rec("output_tokens", ""), "output_tokens"),
		post("empty account", rec("account_email", `""`), "account_email"),
		// Negative, fractional, huge and overflowing numbers, NaN.
		post("negative input", rec("input_tokens", "-1"), "negative"),
		post("negative zero", rec("output_tokens", "-0"), "output_tokens"),
		post("fraction", rec("input_tokens", "1.5"), "whole"),
		post("exponent", rec("input_tokens", "1e3"), "whole"),
		post("huge", rec("input_tokens", "99999999999999"), "too large"),
		post("overflow int64", rec("output_tokens", "9223372036854775808"), "too large"),
		post("overflow long", rec("cached_tokens", strings.Repeat("9", 400)), "too large"),
		post("NaN", `{"account_email":"a","model":"m","input_tokens":NaN,"output_tokens":1}`, "malformed"),
		post("Infinity", `{"account_email":"a","model":"m","input_tokens":1,"output_tokens":Infinity}`, "malformed"),
		post("leading zero", `{"account_email":"a","model":"m","input_tokens":007,"output_tokens":1}`, "malformed"),
		post("hex number", `{"account_email":"a","model":"m","input_tokens":0x10,"output_tokens":1}`, "malformed"),
		post("negative timestamp", rec("timestamp", "-5"), "timestamp"),
		post("milliseconds timestamp", rec("timestamp", "1769097845000"), "milliseconds"),
		post("far future", rec("timestamp", fmt.Sprint(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix())), "future"),
		post("huge timestamp", rec("timestamp", "99999999999999999999"), "timestamp"),
		// Oversized strings and bodies, too many records.
		post("1 MB account", rec("account_email", `"`+big+`"`), "account_email"),
		post("1 MB model", rec("model", `"`+big+`"`), "model"),
		post("long request id", rec("request_id", `"`+strings.Repeat("r", 200)+`"`), "request_id"),
		post("100,000 records", many.String(), "at most 10000"),
		{name: "10 MB body", method: "POST", path: "/usage", body: tenMB, status: 413, want: "larger than"},
		// Invalid UTF-8, control characters, NUL bytes.
		post("invalid UTF-8 in string", "{\"account_email\":\"a\xff\xfe\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}", "UTF-8"),
		post("invalid UTF-8 outside", "\xff"+okRec, "UTF-8"),
		post("escaped control char", rec("model", `"m\u0007x"`), "control"),
		post("escaped NUL", rec("account_email", `"a\u0000b"`), "control"),
		post("raw NUL", "{\"account_email\":\"a\x00b\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}", "malformed"),
		post("raw newline in string", "{\"account_email\":\"a\nb\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}", "malformed"),
		post("C1 control", rec("model", `"m\u0085"`), "control"),
		// Content types and methods.
		// With the token the body is read as JSON whatever the Content-Type, so these fail as JSON.
		{name: "text/plain", method: "POST", path: "/usage", ctype: "text/plain", body: []byte("hello"), status: 400, want: "JSON"},
		{name: "form", method: "POST", path: "/usage", ctype: "application/x-www-form-urlencoded", body: []byte("a=b"), status: 400, want: "JSON"},
		{name: "bad media type", method: "POST", path: "/usage", ctype: ";;;", body: []byte("a=b&c"), status: 400, want: "JSON"},
		{name: "GET /usage", method: "GET", path: "/usage", status: 405, want: "use POST"},
		{name: "PUT /usage", method: "PUT", path: "/usage", body: []byte(okRec), status: 405, want: "use POST"},
		{name: "POST summary", method: "POST", path: "/stats/summary", body: []byte(okRec), status: 405, want: "use GET"},
		{name: "GET clear", method: "GET", path: "/stats/clear", status: 405, want: "use DELETE"},
		{name: "DELETE db-info", method: "DELETE", path: "/stats/db-info", status: 405, want: "use GET"},
		{name: "unknown route", method: "GET", path: "/stats/nothing", status: 404, want: "no such route"},
		// Bad query parameters.
		{name: "hours zero", method: "GET", path: "/stats/summary?hours=0", status: 400, want: "hours"},
		{name: "hours negative", method: "GET", path: "/stats/by-model?hours=-5", status: 400, want: "hours"},
		{name: "hours fraction", method: "GET", path: "/stats/by-account?hours=1.5", status: 400, want: "hours"},
		{name: "hours word", method: "GET", path: "/stats/summary?hours=all", status: 400, want: "hours"},
		{name: "hours too many", method: "GET", path: "/stats/summary?hours=87601", status: 400, want: "hours"},
		{name: "hours overflow", method: "GET", path: "/stats/summary?hours=99999999999999999999999", status: 400, want: "hours"},
		{name: "hours plus sign", method: "GET", path: "/stats/summary?hours=+5", status: 400, want: "hours"},
		{name: "granularity bad", method: "GET", path: "/stats/trend/model?granularity=weekly", status: 400, want: "granularity"},
		{name: "hourly too long", method: "GET", path: "/stats/trend/account?hours=8760&granularity=hourly", status: 400, want: "daily"},
		{name: "before_hours negative", method: "DELETE", path: "/stats/clear?before_hours=-1", status: 400, want: "before_hours"},
		{name: "before_hours word", method: "DELETE", path: "/stats/clear?before_hours=abc", status: 400, want: "before_hours"},
		{name: "before_hours huge", method: "DELETE", path: "/stats/clear?before_hours=99999999999", status: 400, want: "before_hours"},
	}
	return cases
}

// TestHostileRequests sends the corpus to a server holding data: every request is refused with a 4xx
// and a JSON error naming the problem, the server keeps answering, and the data stays as it was.
func TestHostileRequests(t *testing.T) {
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "h.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 1, 22, 16, 30, 0, 0, time.UTC)
	srv := httptest.NewServer(New(Config{Store: store, Token: testToken, Now: func() time.Time { return now }}))
	defer srv.Close()
	send := func(method, path, ctype string, body []byte) (int, map[string]any, string) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+testToken)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		} else if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m, string(raw)
	}
	var seed []string
	for i := 0; i < 20; i++ {
		seed = append(seed, fmt.Sprintf(`{"account_email":"u%d@example.com","model":"m%d","input_tokens":%d,"output_tokens":%d,"timestamp":%d,"request_id":"seed-%d"}`,
			i%4, i%3, 10*i+1, i, now.Unix()-int64(i*3600), i))
	}
	if code, _, raw := send("POST", "/usage", "", []byte("["+strings.Join(seed, ",")+"]")); code != 200 {
		t.Fatalf("seed: %d %s", code, raw)
	}
	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{"/stats/summary?hours=87600", "/stats/by-model?hours=87600", "/stats/by-account?hours=87600"} {
			_, _, raw := send("GET", p, "", nil)
			b.WriteString(raw)
		}
		_, info, _ := send("GET", "/stats/db-info", "", nil)
		fmt.Fprintf(&b, "records=%v", info["records"])
		return b.String()
	}
	before := snapshot()
	if !strings.Contains(before, `"total_requests":20`) {
		t.Fatalf("seed not stored: %s", before)
	}
	corpus := hostileCorpus()
	if len(corpus) < 50 {
		t.Fatalf("corpus has %d cases, want at least 50", len(corpus))
	}
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			code, m, raw := send(c.method, c.path, c.ctype, c.body)
			if code < 400 || code >= 500 || (c.status != 0 && code != c.status) {
				t.Errorf("status %d, want %d: %.300s", code, c.status, raw)
			}
			msg, _ := m["error"].(string)
			if m["success"] != false || msg == "" {
				t.Fatalf("not a JSON error: %.300s", raw)
			}
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.want)) {
				t.Errorf("error %q does not mention %q", msg, c.want)
			}
			if code, h, _ := send("GET", "/healthz", "", nil); code != 200 || h["status"] != "ok" {
				t.Fatalf("server down after %s: %d", c.name, code)
			}
		})
	}
	if after := snapshot(); after != before {
		t.Errorf("data changed:\nbefore %s\nafter  %s", before, after)
	}
}
