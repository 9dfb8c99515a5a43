package app

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrashKeepsAcknowledgedRecords kills the real headless binary with SIGKILL while 32 clients send
// single records with request ids, at several moments, restarting it each time. After the last restart
// every acknowledged record must be there (re-sending it is a duplicate), and after re-sending every id
// ever attempted each must be counted exactly once. TOKENSTATS_LONG=1 (make bench) runs more rounds.
// It also checks that the token and database files are private (0600).
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGKILL")
	}
	rounds := []time.Duration{20 * time.Millisecond, 150 * time.Millisecond, 600 * time.Millisecond}
	if os.Getenv("TOKENSTATS_LONG") != "" {
		rounds = nil
		for i := 0; i < 20; i++ {
			rounds = append(rounds, time.Duration(rand.IntN(2000))*time.Millisecond)
		}
	}
	bin, data, env, token := headlessSetup(t)
	args := []string{"--headless", "--listen", "127.0.0.1:0", "--data-dir", data}

	var mu sync.Mutex
	attempted := map[string]bool{} // id → acknowledged
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(url, body string) (int, map[string]any, error) {
		req, _ := http.NewRequest("POST", url+"/usage", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, nil, err
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m, nil
	}
	record := func(id string) string {
		return fmt.Sprintf(`{"account_email":"crash@example.com","model":"m","input_tokens":1,"output_tokens":2,"request_id":%q}`, id)
	}
	for round, delay := range rounds {
		p := startBinary(t, bin, env, args...)
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for n := 0; ; n++ {
					id := fmt.Sprintf("r%d-w%d-%d", round, w, n)
					mu.Lock()
					attempted[id] = false
					mu.Unlock()
					code, m, err := post(p.url, record(id))
					if err != nil {
						return // the server is gone
					}
					if code != 200 || m["accepted"] != 1.0 {
						t.Errorf("POST %s: %d %v", id, code, m)
						return
					}
					mu.Lock()
					attempted[id] = true
					mu.Unlock()
				}
			}(w)
		}
		time.Sleep(delay)
		p.cmd.Process.Signal(os.Kill)
		<-p.exited
		wg.Wait()
		client.CloseIdleConnections()
	}

	p := startBinary(t, bin, env, args...)
	acked := 0
	for id, ok := range attempted {
		code, m, err := post(p.url, record(id))
		if err != nil || code != 200 {
			t.Fatalf("re-send %s: %v %d %v", id, err, code, m)
		}
		if ok {
			acked++
			if m["duplicates"] != 1.0 {
				t.Errorf("acknowledged record %s was lost in a crash: re-sending it was %v", id, m)
			}
		}
	}
	for _, id := range []string{"r0-w0-0", "r0-w1-0"} { // once more: still exactly once
		if _, m, _ := post(p.url, record(id)); m["duplicates"] != 1.0 {
			t.Errorf("third send of %s: %v", id, m)
		}
	}
	code, sum := p.call(t, "GET", "/stats/summary?hours=87600", token, "")
	d, _ := sum["data"].(map[string]any)
	n := float64(len(attempted))
	if code != 200 || d["total_requests"] != n || d["total_input_tokens"] != n || d["total_output_tokens"] != 2*n {
		t.Errorf("after re-sending %d distinct ids: %d %v", len(attempted), code, sum)
	}
	if _, info := p.call(t, "GET", "/stats/db-info", token, ""); info["records"] != n {
		t.Errorf("db-info %v, want %v records", info, n)
	}
	t.Logf("%d rounds, %d ids attempted, %d acknowledged before a kill", len(rounds), len(attempted), acked)
	if acked == 0 {
		t.Error("no record was acknowledged: the test proved nothing")
	}

	for _, f := range []string{"token", "tokenstats.db", "tokenstats.db-wal", "tokenstats.db-shm"} {
		st, err := os.Stat(filepath.Join(data, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	p.cmd.Process.Signal(os.Interrupt)
	<-p.exited
}
