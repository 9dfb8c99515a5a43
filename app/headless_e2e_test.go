package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary builds the real tokenstats binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tokenstats-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "tokenstats")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a running tokenstats process.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *strings.Builder
	mu     sync.Mutex
	exited chan error
}

var urlLine = regexp.MustCompile(`listening on (http://[0-9.:\[\]]+)`)

// startBinary starts the binary with args and env and waits for the URL it prints.
func startBinary(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &strings.Builder{}, exited: make(chan error, 1)}
	p.cmd.Env = env
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(lockedWriter{p}, stderrPipe)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	select {
	case p.url = <-found:
	case err := <-p.exited:
		t.Fatalf("tokenstats exited before listening: %v\n%s", err, p.stderrText())
	case <-time.After(60 * time.Second):
		t.Fatalf("tokenstats printed no URL\n%s", p.stderrText())
	}
	return p
}

type lockedWriter struct{ p *proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

func (p *proc) stderrText() string {
	time.Sleep(50 * time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) call(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, m
}

// headlessSetup builds the binary and gives a fresh home, its data folder and the token that
// `tokenstats token` prints there, as a user would find them.
func headlessSetup(t *testing.T) (bin, data string, env []string, token string) {
	t.Helper()
	bin = buildBinary(t)
	home := t.TempDir()
	data = filepath.Join(home, "data")
	out, err := exec.Command(bin, "--data-dir", data, "token").Output()
	if err != nil {
		t.Fatal(err)
	}
	return bin, data, baseEnv(home), strings.TrimSpace(string(out))
}

func baseEnv(home string) []string {
	return []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TZ=UTC"}
}

// TestHeadlessEndToEnd drives the real binary: start on port 0, ingest, query, stop with SIGTERM,
// start again and find the data, as an operator would.
func TestHeadlessEndToEnd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGTERM")
	}
	bin, data, env, token := headlessSetup(t)
	p := startBinary(t, bin, env, "--headless", "--listen", "127.0.0.1:0", "--data-dir", data)
	if !strings.HasPrefix(p.url, "http://127.0.0.1:") || strings.HasSuffix(p.url, ":0") {
		t.Fatalf("printed URL %q must carry the real port", p.url)
	}
	if code, h := p.call(t, "GET", "/healthz", "", ""); code != 200 || h["status"] != "ok" {
		t.Fatalf("healthz %d %v", code, h)
	}
	if code, _ := p.call(t, "GET", "/stats/summary", "", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	now := time.Now().Unix()
	var recs []string
	for i := 0; i < 50; i++ {
		recs = append(recs, fmt.Sprintf(`{"account_email":"acct%d@example.com","model":"model-%d","input_tokens":%d,"output_tokens":%d,"timestamp":%d,"request_id":"e2e-%d"}`,
			i%3, i%4, 100+i, 10+i, now-int64(i*60), i))
	}
	code, res := p.call(t, "POST", "/usage", token, "["+strings.Join(recs, ",")+"]")
	if code != 200 || res["accepted"] != 50.0 {
		t.Fatalf("ingest %d %v", code, res)
	}
	// Input 100..149 sums to 6225, output 10..59 to 1725.
	wantTotal := 6225.0 + 1725.0
	_, sum := p.call(t, "GET", "/stats/summary?hours=1", token, "")
	d := sum["data"].(map[string]any)
	if d["total_tokens"] != wantTotal || d["total_requests"] != 50.0 || d["unique_accounts"] != 3.0 || d["unique_models"] != 4.0 {
		t.Fatalf("summary %v", sum)
	}

	// A second instance on the same data folder must not start another writer.
	second := exec.Command(bin, "--headless", "--listen", "127.0.0.1:0", "--data-dir", data)
	second.Env = env
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is running") {
		t.Fatalf("second instance: %v %s", err, out)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderrText())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30 s of SIGTERM")
	}
	// A clean stop checkpoints the WAL into the database file.
	if st, err := os.Stat(filepath.Join(data, "tokenstats.db-wal")); err == nil && st.Size() > 0 {
		t.Errorf("WAL not checkpointed on clean stop: %d bytes", st.Size())
	}

	p2 := startBinary(t, bin, env, "--headless", "--listen", "127.0.0.1:0", "--data-dir", data)
	code, res = p2.call(t, "POST", "/usage", token, recs[0])
	if code != 200 || res["duplicates"] != 1.0 {
		t.Fatalf("retry after restart must be a duplicate: %d %v", code, res)
	}
	_, sum = p2.call(t, "GET", "/stats/summary?hours=1", token, "")
	if sum["data"].(map[string]any)["total_tokens"] != wantTotal {
		t.Fatalf("after restart %v", sum)
	}
	p2.cmd.Process.Signal(syscall.SIGINT)
	if err := <-p2.exited; err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
}

// TestNoDisplayRunsHeadless: without DISPLAY/WAYLAND_DISPLAY the app says so and serves anyway.
func TestNoDisplayRunsHeadless(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("display detection is for Linux")
	}
	bin := buildBinary(t)
	home := t.TempDir()
	p := startBinary(t, bin, append(baseEnv(home), "TOKENSTATS_TOKEN=t0ken"), "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(home, "d"))
	if code, _ := p.call(t, "GET", "/stats/db-info", "t0ken", ""); code != 200 {
		t.Fatalf("db-info %d", code)
	}
	if msg := p.stderrText(); !strings.Contains(msg, "no display") {
		t.Errorf("stderr does not say why it runs headless: %q", msg)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
}
