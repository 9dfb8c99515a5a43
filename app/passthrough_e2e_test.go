package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestHeadlessPassThrough drives requests of gcli2api's shape through the real binary's pass-through to
// a fake Code Assist upstream named three ways (--upstream, TOKENSTATS_UPSTREAMS, settings.json): the
// answers arrive unchanged, the Sources route shows each upstream with its tokens, and the bearer token
// appears nowhere in the data folder or the log.
func TestHeadlessPassThrough(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGTERM")
	}
	const secret = "ya29.a0E2ESECRETtoken000000000000000000001"
	var n atomic.Int32
	answer := func() string {
		return fmt.Sprintf(`{"response": {"candidates": [{"content": {"role": "model","parts": [{"text": "ok"}]},"finishReason": "STOP"}],`+
			`"usageMetadata": {"promptTokenCount": 100,"candidatesTokenCount": 20,"thoughtsTokenCount": 5,"totalTokenCount": 125},`+
			`"modelVersion": "gemini-2.5-pro","responseId": "e2e-%d"},"traceId": "55650653afd3c738"}`, n.Add(1))
	}
	sent := make(chan string, 8)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret || r.URL.Path != "/v1internal:streamGenerateContent" || r.URL.RawQuery != "alt=sse" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		a := "data: " + answer() + "\r\n\r\n"
		sent <- a
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, a)
	}))
	defer up.Close()

	bin, data, env, token := headlessSetup(t)
	if err := os.WriteFile(filepath.Join(data, "settings.json"),
		[]byte(`{"upstreams": [{"name": "saved-ca", "url": "`+up.URL+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, bin, append(env, "TOKENSTATS_UPSTREAMS=antigravity="+up.URL), "--headless", "--listen", "127.0.0.1:0",
		"--data-dir", data, "--upstream", "gemini-code-assist="+up.URL)
	projects := map[string]string{"gemini-code-assist": "proj-cli-42", "antigravity": "proj-ag-7", "saved-ca": "proj-saved-1"}
	for _, name := range []string{"gemini-code-assist", "antigravity", "saved-ca"} {
		body := `{"model":"gemini-2.5-pro","project":"` + projects[name] + `","request":{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}}`
		req, _ := http.NewRequest("POST", p.url+"/proxy/"+name+"/v1internal:streamGenerateContent?alt=sse", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != <-sent {
			t.Fatalf("%s: %d %q", name, resp.StatusCode, got)
		}
	}

	// Records are committed just after each answer: wait until all three show.
	var sources []any
	if err := waitFor(10*time.Second, func() error {
		_, res := p.call(t, "GET", "/stats/sources", token, "")
		sources, _ = res["data"].([]any)
		if len(sources) != 3 {
			return fmt.Errorf("%d sources", len(sources))
		}
		return nil
	}); err != nil {
		t.Fatalf("sources: %v", err)
	}
	for _, s := range sources {
		m := s.(map[string]any)
		if m["kind"] != "proxy" || m["records_today"] != 1.0 || m["tokens_today"] != 125.0 || m["error"] != "" {
			t.Errorf("source %v", m)
		}
	}
	_, res := p.call(t, "GET", "/stats/by-account", token, "")
	var accounts []string
	for _, r := range res["data"].([]any) {
		accounts = append(accounts, r.(map[string]any)["account_email"].(string))
	}
	if strings.Join(accounts, ",") != "proj-ag-7,proj-cli-42,proj-saved-1" {
		t.Errorf("accounts %v, want the three projects", accounts)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exited; err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderrText())
	}
	if strings.Contains(p.stderrText(), secret) {
		t.Error("the log holds the bearer token")
	}
	filepath.Walk(data, func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the bearer token", path)
			}
		}
		return err
	})
}
