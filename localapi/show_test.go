package localapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tokenstats/tokenstats/stats"
)

func TestAppShow(t *testing.T) {
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "s.db"), stats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := New(Config{Store: st, Token: "tok"})
	do := func(method, token string) (int, map[string]any) {
		req := httptest.NewRequest(method, "http://127.0.0.1:8788/app/show", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s /app/show: body %q is not JSON: %v", method, rec.Body.String(), err)
		}
		return rec.Code, body
	}

	if code, body := do(http.MethodPost, "tok"); code != http.StatusNotFound || body["success"] != false {
		t.Errorf("without a window: got %d %v, want 404 and success false", code, body)
	}
	var shown atomic.Int32
	srv.SetOnShow(func() { shown.Add(1) })
	if code, _ := do(http.MethodPost, "wrong"); code != http.StatusUnauthorized || shown.Load() != 0 {
		t.Errorf("wrong token: got %d, shown %d times; want 401 and not shown", code, shown.Load())
	}
	if code, _ := do(http.MethodGet, "tok"); code != http.StatusMethodNotAllowed || shown.Load() != 0 {
		t.Errorf("GET: got %d, shown %d times; want 405 and not shown", code, shown.Load())
	}
	if code, body := do(http.MethodPost, "tok"); code != http.StatusOK || body["success"] != true || shown.Load() != 1 {
		t.Errorf("POST with token: got %d %v, shown %d times; want 200, success, shown once", code, body, shown.Load())
	}
	srv.SetOnShow(nil)
	if code, _ := do(http.MethodPost, "tok"); code != http.StatusNotFound || shown.Load() != 1 {
		t.Errorf("after removing the hook: got %d, want 404", code)
	}
}
