package localapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// curl -d sends application/x-www-form-urlencoded: with the Bearer token the body is read as JSON and
// stored. The same body with the browser session's cookie (which a foreign page's form could carry)
// is refused, form-encoded or not, and nothing is stored.
func TestContentTypeRuleBySender(t *testing.T) {
	h := newWebHarness(t)
	cookie := h.login()
	one := `{"account_email":"a@x","model":"m","input_tokens":3,"output_tokens":4}`
	send := func(auth, cookie, ctype string) (int, string) {
		req, _ := http.NewRequest("POST", h.srv.URL+"/usage", strings.NewReader(one))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Origin", h.srv.URL)
			req.Header.Set(PageHeader, "1")
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "application/json"} {
		if code, body := send("", cookie, ct); code != http.StatusUnauthorized {
			t.Errorf("session cookie, %s: %d %s", ct, code, body)
		}
	}
	if _, sum := h.do("GET", "/stats/summary?hours=87600", ""); sum["data"].(map[string]any)["total_requests"] != 0.0 {
		t.Fatalf("a request with the session cookie stored records: %v", sum)
	}
	if code, body := send("Bearer "+testToken, "", "application/x-www-form-urlencoded"); code != 200 || !strings.Contains(body, `"accepted":1`) {
		t.Fatalf("token, form-encoded: %d %s", code, body)
	}
	if _, sum := h.do("GET", "/stats/summary?hours=87600", ""); sum["data"].(map[string]any)["total_tokens"] != 7.0 {
		t.Fatalf("the form-encoded JSON was not stored: %v", sum)
	}
}

// The rule itself, for any route that takes a JSON body from the browser session: without the token
// only JSON (or no Content-Type) passes; with it anything does.
func TestJSONBodyAllowed(t *testing.T) {
	s := New(Config{Token: testToken})
	for _, c := range []struct {
		auth, ctype string
		ok          bool
	}{
		{"", "application/x-www-form-urlencoded", false}, {"", "text/plain", false}, {"", "multipart/form-data; boundary=x", false},
		{"", ";;", false}, {"", "application/json", true}, {"", "application/merge-patch+json", true}, {"", "", true},
		{"Bearer wrong", "text/plain", false}, {"Bearer " + testToken, "text/plain", true}, {"Bearer " + testToken, ";;", true},
	} {
		r := httptest.NewRequest("POST", "/usage", strings.NewReader("{}"))
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if c.ctype != "" {
			r.Header.Set("Content-Type", c.ctype)
		}
		w := httptest.NewRecorder()
		if got := s.jsonBodyAllowed(w, r); got != c.ok || !got && w.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%q %q: allowed %v (status %d), want %v", c.auth, c.ctype, got, w.Code, c.ok)
		}
	}
}

// db-info names the retention cutoff once records were retired (null before), and counts raw records.
func TestDBInfoShowsRetentionCutoff(t *testing.T) {
	h := newHarness(t)
	if _, info := h.do("GET", "/stats/db-info", ""); info["retention_cutoff"] != nil {
		t.Fatalf("cutoff before any retention: %v", info)
	}
	old, recent := h.now.Add(-40*24*time.Hour).Unix(), h.now.Add(-time.Hour).Unix()
	h.do("POST", "/usage", fmt.Sprintf(`[{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":%d},
		{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"timestamp":%d}]`, old, recent))
	if _, err := h.store.Retire(context.Background(), h.now.Add(-30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, info := h.do("GET", "/stats/db-info", "")
	if info["retention_cutoff"] != "2025-12-23T00:00:00Z" || info["records"] != 1.0 {
		t.Fatalf("db-info after retention: %v", info)
	}
	if _, sum := h.do("GET", "/stats/summary?hours=87600", ""); sum["data"].(map[string]any)["total_requests"] != 2.0 {
		t.Fatalf("all time after retention: %v", sum)
	}
}
