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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// TestConcurrentWritersAndReaders: 64 writers (single records and small batches, some retried) and 8
// readers over HTTP for a sustained period. No request may fail (no "database is locked"), and in the
// end every view adds up to exactly what was acknowledged.
func TestConcurrentWritersAndReaders(t *testing.T) {
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	store, _, err := stats.Open(filepath.Join(t.TempDir(), "c.db"), stats.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := httptest.NewServer(New(Config{Store: store, Token: testToken}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	call := func(method, path string, body []byte) (int, []byte, error) {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	stop := make(chan struct{})
	time.AfterFunc(dur, func() { close(stop) })
	var accepted, input, failures atomic.Int64
	var firstErr atomic.Value
	fail := func(msg string) {
		if failures.Add(1) == 1 {
			firstErr.Store(msg)
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				size := 1
				if w%8 == 0 {
					size = 20
				}
				var recs []string
				var in int64
				for i := 0; i < size; i++ {
					tok := int64(w*1000 + i + 1)
					in += tok
					recs = append(recs, fmt.Sprintf(`{"account_email":"w%d@example.com","model":"m%d","input_tokens":%d,"output_tokens":1,"request_id":"w%d-%d-%d"}`,
						w%10, (n+i)%7, tok, w, n, i))
				}
				body := []byte("[" + strings.Join(recs, ",") + "]")
				for try := 0; try < 1+n%2; try++ { // every other request is sent twice: a retry
					code, b, err := call("POST", "/usage", body)
					if err != nil || code != 200 {
						fail(fmt.Sprintf("POST: %v %d %s", err, code, b))
						return
					}
					var res struct{ Accepted, Duplicates int }
					json.Unmarshal(b, &res)
					if try == 0 && (res.Accepted != size || res.Duplicates != 0) || try == 1 && res.Duplicates != size {
						fail(fmt.Sprintf("try %d: %s", try, b))
						return
					}
				}
				accepted.Add(int64(size))
				input.Add(in)
			}
		}(w)
	}
	reads := atomic.Int64{}
	for r := 0; r < 8; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			paths := []string{"/stats/summary?hours=24", "/stats/by-model?hours=168", "/stats/by-account",
				"/stats/trend/model?hours=48&granularity=hourly", "/stats/trend/account?hours=720&granularity=daily",
				"/stats/db-info"}
			for n := r; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				code, b, err := call("GET", paths[n%len(paths)], nil)
				if err != nil || code != 200 {
					fail(fmt.Sprintf("GET %s: %v %d %s", paths[n%len(paths)], err, code, b))
					return
				}
				reads.Add(1)
			}
		}(r)
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d failures, first: %v", n, firstErr.Load())
	}
	t.Logf("%d records acknowledged, %d reads", accepted.Load(), reads.Load())
	var sum struct {
		Data struct {
			Input    int64 `json:"total_input_tokens"`
			Requests int64 `json:"total_requests"`
		}
	}
	_, b, _ := call("GET", "/stats/summary?hours=1", nil)
	json.Unmarshal(b, &sum)
	if sum.Data.Requests != accepted.Load() || sum.Data.Input != input.Load() {
		t.Errorf("summary %s; acknowledged %d records with %d input tokens", b, accepted.Load(), input.Load())
	}
	for _, p := range []string{"/stats/by-model?hours=1", "/stats/by-account?hours=1"} {
		var rows struct {
			Data []struct {
				Input    int64 `json:"total_input_tokens"`
				Requests int64 `json:"request_count"`
			}
		}
		_, b, _ := call("GET", p, nil)
		json.Unmarshal(b, &rows)
		var req, in int64
		for _, r := range rows.Data {
			req += r.Requests
			in += r.Input
		}
		if req != accepted.Load() || in != input.Load() {
			t.Errorf("%s sums to %d requests, %d input; want %d, %d", p, req, in, accepted.Load(), input.Load())
		}
	}
	var info struct{ Records int64 }
	_, b, _ = call("GET", "/stats/db-info", nil)
	json.Unmarshal(b, &info)
	if info.Records != accepted.Load() {
		t.Errorf("db-info records %d, want %d", info.Records, accepted.Load())
	}
}

// BenchmarkIngestHTTP is POST /usage through the real handler on a loopback httptest server: 64
// clients sending one record each, or 8 sending 1,000. Profile it with -cpuprofile to see where a
// request's time goes (JSON decoding, HTTP, the store).
func BenchmarkIngestHTTP(b *testing.B) {
	for _, c := range []struct{ conns, batch int }{{64, 1}, {8, 1000}} {
		b.Run(fmt.Sprintf("conns=%d/batch=%d", c.conns, c.batch), func(b *testing.B) {
			store, _, err := stats.Open(filepath.Join(b.TempDir(), "b.db"), stats.Options{Location: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			srv := httptest.NewServer(New(Config{Store: store, Token: testToken}))
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.conns, MaxConnsPerHost: c.conns}}
			var seq atomic.Int64
			b.SetParallelism((c.conns + 1) / 2)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					var sb strings.Builder
					sb.WriteString("[")
					for i := 0; i < c.batch; i++ {
						if i > 0 {
							sb.WriteString(",")
						}
						fmt.Fprintf(&sb, `{"account_email":"u%d@example.com","model":"m%d","input_tokens":%d,"output_tokens":7,"request_id":"b-%d-%d"}`,
							i%50, i%30, 100+i, n, i)
					}
					sb.WriteString("]")
					req, _ := http.NewRequest("POST", srv.URL+"/usage", strings.NewReader(sb.String()))
					req.Header.Set("Authorization", "Bearer "+testToken)
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*c.batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
