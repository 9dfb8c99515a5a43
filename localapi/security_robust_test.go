package localapi

import (
	"net/http"
	"strings"
	"testing"
)

var allRoutes = []struct{ method, path string }{
	{"POST", "/usage"}, {"GET", "/stats/summary"}, {"GET", "/stats/by-model"}, {"GET", "/stats/by-account"},
	{"GET", "/stats/trend/model"}, {"GET", "/stats/trend/account"}, {"DELETE", "/stats/clear"},
	{"GET", "/stats/db-info"}, {"GET", "/healthz"},
	{"POST", "/v1/logs"}, {"POST", "/v1/metrics"}, {"POST", "/v1/traces"}, {"POST", "/ingest/litellm"},
	{"GET", "/stats/export"}, {"POST", "/stats/import"}, {"GET", "/stats/sources"}, {"GET", "/metrics"},
	{"GET", "/stats/by-source"}, {"GET", "/stats/by-credential"}, {"GET", "/stats/trend/source"},
	{"GET", "/stats/prices"}, {"PUT", "/stats/prices/gpt-4o"},
	{"GET", "/stats/limits"}, {"POST", "/stats/limits"}, {"DELETE", "/stats/limits/1"}, {"POST", "/app/reload-prices"},
}

// TestSecurityEveryRoute: on every route a foreign Host is refused even with the right token, the token
// is only taken from the Authorization header, and a browser on another origin is granted nothing: no
// Access-Control-* header on answers or on preflights, and no 2xx preflight.
func TestSecurityEveryRoute(t *testing.T) {
	h := newHarness(t)
	for _, r := range allRoutes {
		send := func(method, path string, hdr map[string]string, host string) *http.Response {
			req, _ := http.NewRequest(method, h.srv.URL+path, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			if host != "" {
				req.Host = host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		auth := map[string]string{"Authorization": "Bearer " + testToken}
		if resp := send(r.method, r.path, auth, "evil.example"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with Host evil.example: %d, want 403", r.method, r.path, resp.StatusCode)
		}
		if r.path != "/healthz" {
			for _, p := range []string{"?token=" + testToken, "?access_token=" + testToken} {
				if resp := send(r.method, r.path+p, nil, ""); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s%s: %d, want 401 (token only in the header)", r.method, r.path, p, resp.StatusCode)
				}
			}
			if resp := send(r.method, r.path, map[string]string{"Authorization": "Bearer  " + testToken}, ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with a padded token: %d, want 401", r.method, r.path, resp.StatusCode)
			}
		}
		pre := map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": r.method,
			"Access-Control-Request-Headers": "authorization, content-type"}
		for _, withAuth := range []bool{false, true} {
			hdr := map[string]string{}
			for k, v := range pre {
				hdr[k] = v
			}
			if withAuth {
				hdr["Authorization"] = "Bearer " + testToken
			}
			resp := send("OPTIONS", r.path, hdr, "")
			if resp.StatusCode < 400 {
				t.Errorf("preflight OPTIONS %s (auth %v): %d, want a refusal", r.path, withAuth, resp.StatusCode)
			}
			for k := range resp.Header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("preflight OPTIONS %s: %s granted", r.path, k)
				}
			}
		}
		hdr := map[string]string{"Origin": "http://127.0.0.1.evil.example", "Authorization": "Bearer " + testToken}
		resp := send(r.method, r.path, hdr, "")
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s %s from a foreign origin: %s granted", r.method, r.path, k)
			}
		}
	}
}
