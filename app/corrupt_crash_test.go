package app

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCorruptDatabaseKeptAside starts the real binary on damaged database files: a file of garbage, and
// a real database whose header is intact but whose other pages are overwritten. Each time the damaged
// file is kept aside byte for byte (renamed, never deleted), the log says so and where, and a fresh
// database serves ingest and queries.
func TestCorruptDatabaseKeptAside(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses signals")
	}
	bin := buildBinary(t)
	const token = "corrupt-test-token"
	cases := []struct {
		name   string
		damage func(t *testing.T, data string) []byte // returns the damaged file's bytes
	}{
		{"garbage", func(t *testing.T, data string) []byte {
			b := bytes.Repeat([]byte("this is not a database "), 4000)
			os.MkdirAll(data, 0o700)
			if err := os.WriteFile(filepath.Join(data, "tokenstats.db"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"damaged pages", func(t *testing.T, data string) []byte {
			home := filepath.Dir(data)
			p := startBinary(t, bin, append(baseEnv(home), "TOKENSTATS_TOKEN="+token), "--headless", "--listen", "127.0.0.1:0", "--data-dir", data)
			var recs []string
			for i := 0; i < 2000; i++ {
				recs = append(recs, fmt.Sprintf(`{"account_email":"a%d@example.com","model":"m%d","input_tokens":%d,"output_tokens":1,"request_id":"d-%d"}`, i%40, i%9, i, i))
			}
			if code, m := p.call(t, "POST", "/usage", token, "["+strings.Join(recs, ",")+"]"); code != 200 {
				t.Fatalf("%d %v", code, m)
			}
			p.cmd.Process.Signal(os.Interrupt)
			<-p.exited
			path := filepath.Join(data, "tokenstats.db")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Keep page 1 (header and schema) and overwrite every other page with a pattern.
			page := int(b[16])<<8 | int(b[17])
			if page == 1 {
				page = 65536
			}
			if len(b) < 4*page {
				t.Fatalf("database too small to damage: %d bytes", len(b))
			}
			for i := page; i < len(b); i++ {
				b[i] = byte(i*7 + 3)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			data := filepath.Join(home, "data")
			damaged := c.damage(t, data)
			p := startBinary(t, bin, append(baseEnv(home), "TOKENSTATS_TOKEN="+token), "--headless", "--listen", "127.0.0.1:0", "--data-dir", data)
			code, m := p.call(t, "POST", "/usage", token, `{"account_email":"new@example.com","model":"m","input_tokens":5,"output_tokens":6}`)
			if code != 200 || m["accepted"] != 1.0 {
				t.Fatalf("ingest on the fresh database: %d %v\n%s", code, m, p.stderrText())
			}
			code, sum := p.call(t, "GET", "/stats/summary?hours=87600", token, "")
			if d, _ := sum["data"].(map[string]any); code != 200 || d["total_requests"] != 1.0 {
				t.Errorf("summary on the fresh database: %d %v", code, sum)
			}
			aside, _ := filepath.Glob(filepath.Join(data, "tokenstats.db.corrupt-*"))
			var kept []byte
			for _, a := range aside {
				if !strings.HasSuffix(a, "-wal") && !strings.HasSuffix(a, "-shm") {
					kept, _ = os.ReadFile(a)
				}
			}
			if !bytes.Equal(kept, damaged) {
				t.Errorf("damaged file not kept aside intact (found %v)", aside)
			}
			log := p.stderrText()
			if !strings.Contains(log, "corrupt") || len(aside) == 0 || !strings.Contains(log, filepath.Base(aside[0])) {
				t.Errorf("the log does not say the file was corrupt and where it was kept:\n%s", log)
			}
			p.cmd.Process.Signal(os.Interrupt)
			<-p.exited
		})
	}
}
