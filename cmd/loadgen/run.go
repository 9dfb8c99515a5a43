package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenstats/tokenstats/stats/statstest"
)

// Results are the figures of one load test run.
type Results struct {
	When     time.Time      `json:"when"`
	Ingest   []IngestResult `json:"ingest"`
	Queries  []QueryResult  `json:"queries"`
	Dataset  DatasetResult  `json:"dataset"`
	PeakRSS  int64          `json:"peak_rss_bytes"` // the largest VmHWM of all server runs
	StartSec float64        `json:"start_seconds"`  // headless start on the large file until /healthz
}

type IngestResult struct {
	Name        string  `json:"name"`
	Conns       int     `json:"connections"`
	Batch       int     `json:"records_per_request"`
	RequestIDs  bool    `json:"request_ids"`
	Seconds     float64 `json:"seconds"`
	Records     int64   `json:"records"`
	RecordsPerS float64 `json:"records_per_second"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Errors      int64   `json:"errors"`
	PeakRSS     int64   `json:"peak_rss_bytes"`
	Stored      int64   `json:"stored_records"` // db-info records after the run: must equal Records
}

type QueryResult struct {
	Route    string  `json:"route"`
	N        int     `json:"n"`
	MedianMs float64 `json:"median_ms"`
	P90ms    float64 `json:"p90_ms"`
	Errors   int     `json:"errors"`
}

type DatasetResult struct {
	Records         int     `json:"records"`
	FileBytes       int64   `json:"file_bytes"`
	BytesPerRecord  float64 `json:"bytes_per_record"`
	GenerateSeconds float64 `json:"generate_seconds"`
	End             string  `json:"end"`
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	bin := fs.String("bin", "bin/tokenstats", "the tokenstats binary")
	dir := fs.String("dir", ".bench", "work folder (data sets are cached here)")
	out := fs.String("out", ".bench/http.json", "where to write the figures")
	records := fs.Int("records", 10_000_000, "records in the query data set")
	dur := fs.Duration("duration", 10*time.Second, "length of each ingest phase")
	reps := fs.Int("reps", 30, "repetitions of each query")
	target := fs.String("url", "", "drive this running server (with -token) instead of starting one; implies -ingest-only")
	targetToken := fs.String("token", "", "the token of the server given by -url")
	onlyIngest := fs.Bool("ingest-only", false, "run only the ingest phases (for quick checks; writes no report input)")
	maxAge := fs.Duration("max-age", 6*time.Hour, "regenerate the data set when its last record is older (windows end at now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	res := Results{When: time.Now().UTC()}
	token := "loadgen-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)

	phases := []struct {
		name  string
		conns int
		batch int
		ids   bool
	}{
		{"single", 64, 1, true},
		{"batched", 8, 1000, true},
		{"batched-no-ids", 8, 1000, false},
	}
	if *target != "" {
		srv := &server{url: *target, token: *targetToken}
		for _, ph := range phases {
			r := ingest(srv, ph.conns, ph.batch, ph.ids, *dur, runID+"-"+ph.name)
			fmt.Fprintf(os.Stderr, "%s: %.0f records/s, p50 %.2f ms, p99 %.2f ms, %d errors\n", ph.name, r.RecordsPerS, r.P50ms, r.P99ms, r.Errors)
		}
		return nil
	}
	for _, ph := range phases {
		dataDir, err := os.MkdirTemp(*dir, "ingest-")
		if err != nil {
			return err
		}
		srv, err := startServer(*bin, dataDir, token)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "ingest %s: %d connections, %d records per request, %s\n", ph.name, ph.conns, ph.batch, *dur)
		r := ingest(srv, ph.conns, ph.batch, ph.ids, *dur, runID+"-"+ph.name)
		r.Name = ph.name
		r.PeakRSS = srv.peakRSS()
		r.Stored = dbRecords(srv)
		res.PeakRSS = max(res.PeakRSS, r.PeakRSS)
		fmt.Fprintf(os.Stderr, "  %.0f records/s, p50 %.2f ms, p99 %.2f ms, %d errors, stored %d of %d, peak RSS %.1f MB\n",
			r.RecordsPerS, r.P50ms, r.P99ms, r.Errors, r.Stored, r.Records, float64(r.PeakRSS)/(1<<20))
		res.Ingest = append(res.Ingest, r)
		if err := srv.stop(); err != nil {
			return fmt.Errorf("stop server: %w", err)
		}
		os.RemoveAll(dataDir)
	}

	if *onlyIngest {
		return nil
	}
	// Queries on the large data set.
	fmt.Fprintf(os.Stderr, "data set of %d records (generated when missing or stale)\n", *records)
	path, meta, err := statstest.Cached(context.Background(), *dir, *records, *maxAge, time.UTC)
	if err != nil {
		return err
	}
	res.Dataset = DatasetResult{Records: meta.Records, GenerateSeconds: meta.Seconds, End: meta.End.Format(time.RFC3339)}
	if fi, err := os.Stat(path); err == nil {
		res.Dataset.FileBytes = fi.Size()
		if wi, err := os.Stat(path + "-wal"); err == nil {
			res.Dataset.FileBytes += wi.Size()
		}
		res.Dataset.BytesPerRecord = float64(res.Dataset.FileBytes) / float64(meta.Records)
	}
	qdir, err := os.MkdirTemp(*dir, "query-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(qdir)
	// A copy, not a link: the ingest during queries below must not change the cached data set.
	if err := copyFile(path, filepath.Join(qdir, "tokenstats.db")); err != nil {
		return fmt.Errorf("copy the data set: %w", err)
	}
	var starts []float64
	for i := 0; i < 5; i++ {
		srv, err := startServer(*bin, qdir, token)
		if err != nil {
			return err
		}
		starts = append(starts, srv.started.Seconds())
		if i < 4 {
			srv.stop()
			continue
		}
		fmt.Fprintf(os.Stderr, "start on %d records: %v s (median of 5)\n", meta.Records, median(starts))
		res.StartSec = median(starts)
		for _, route := range queryRoutes() {
			q := queryRoute(srv, route, *reps)
			fmt.Fprintf(os.Stderr, "  %-50s median %7.2f ms  p90 %7.2f ms  errors %d\n", route, q.MedianMs, q.P90ms, q.Errors)
			res.Queries = append(res.Queries, q)
		}
		// Queries while ingest runs: what the dashboard does on a busy proxy.
		fmt.Fprintln(os.Stderr, "queries during single-record ingest")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			ingestUntil(srv, 16, 1, true, stop, runID+"-mixed")
		}()
		for _, route := range []string{"/stats/summary?hours=8760", "/stats/trend/account?hours=720&granularity=hourly"} {
			q := queryRoute(srv, route, *reps)
			q.Route += " (during ingest)"
			fmt.Fprintf(os.Stderr, "  %-50s median %7.2f ms  p90 %7.2f ms  errors %d\n", q.Route, q.MedianMs, q.P90ms, q.Errors)
			res.Queries = append(res.Queries, q)
		}
		close(stop)
		wg.Wait()
		rss := srv.peakRSS()
		fmt.Fprintf(os.Stderr, "  peak RSS %.1f MB\n", float64(rss)/(1<<20))
		res.PeakRSS = max(res.PeakRSS, rss)
		if err := srv.stop(); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	return os.WriteFile(*out, b, 0o644)
}

func queryRoutes() []string {
	var out []string
	for _, h := range []int{24, 168, 720, 2160, 8760} {
		out = append(out, fmt.Sprintf("/stats/summary?hours=%d", h), fmt.Sprintf("/stats/by-model?hours=%d", h),
			fmt.Sprintf("/stats/by-account?hours=%d", h))
		for _, d := range []string{"model", "account"} {
			out = append(out, fmt.Sprintf("/stats/trend/%s?hours=%d&granularity=daily", d, h))
			if h <= 744 {
				out = append(out, fmt.Sprintf("/stats/trend/%s?hours=%d&granularity=hourly", d, h))
			}
		}
	}
	return append(out, "/stats/db-info")
}

func client(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, DisableCompression: true,
	}, Timeout: 60 * time.Second}
}

func do(c *http.Client, method, url, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func dbRecords(s *server) int64 {
	_, b, err := do(http.DefaultClient, "GET", s.url+"/stats/db-info", s.token, nil)
	if err != nil {
		return -1
	}
	var v struct{ Records int64 }
	json.Unmarshal(b, &v)
	return v.Records
}

func body(batch int, ids bool, prefix string, n int64) []byte {
	var b bytes.Buffer
	if batch > 1 {
		b.WriteByte('[')
	}
	for i := 0; i < batch; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		k := int(n)*batch + i
		fmt.Fprintf(&b, `{"account_email":"%s","model":"%s","input_tokens":%d,"output_tokens":%d,"cached_tokens":%d`,
			statstest.AccountName(k%50), statstest.ModelName(k%30), 100+k%4000, 1+k%1000, k%100)
		if ids {
			fmt.Fprintf(&b, `,"request_id":"%s-%d"`, prefix, k)
		}
		b.WriteByte('}')
	}
	if batch > 1 {
		b.WriteByte(']')
	}
	return b.Bytes()
}

// ingest runs conns workers posting for d, each waiting for its answer before the next request.
func ingest(s *server, conns, batch int, ids bool, d time.Duration, prefix string) IngestResult {
	stop := make(chan struct{})
	time.AfterFunc(d, func() { close(stop) })
	t0 := time.Now()
	r := ingestUntil(s, conns, batch, ids, stop, prefix)
	r.Seconds = time.Since(t0).Seconds()
	r.RecordsPerS = float64(r.Records) / r.Seconds
	r.Conns, r.Batch, r.RequestIDs = conns, batch, ids
	return r
}

func ingestUntil(s *server, conns, batch int, ids bool, stop <-chan struct{}, prefix string) IngestResult {
	c := client(conns)
	var seq, records, errs atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	okMark := []byte(`"success":true`)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				bd := body(batch, ids, prefix, n)
				t := time.Now()
				code, rb, err := do(c, "POST", s.url+"/usage", s.token, bd)
				el := time.Since(t)
				if err != nil || code != 200 || !bytes.Contains(rb, okMark) {
					if errs.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "  error: %v %d %s\n", err, code, rb)
					}
					continue
				}
				lat[w] = append(lat[w], el)
				records.Add(int64(batch))
			}
		}(w)
	}
	wg.Wait()
	c.CloseIdleConnections()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return IngestResult{Records: records.Load(), Errors: errs.Load(), P50ms: pct(all, 0.50), P99ms: pct(all, 0.99)}
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i]) / float64(time.Millisecond)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func queryRoute(s *server, route string, reps int) QueryResult {
	c := client(1)
	q := QueryResult{Route: route, N: reps}
	var lat []time.Duration
	// One warm-up: the first query of a route also reads the pages it needs from the OS cache.
	do(c, "GET", s.url+route, s.token, nil)
	for i := 0; i < reps; i++ {
		t := time.Now()
		code, b, err := do(c, "GET", s.url+route, s.token, nil)
		el := time.Since(t)
		if err != nil || code != 200 || !bytes.Contains(b, []byte(`"success":true`)) {
			q.Errors++
			continue
		}
		lat = append(lat, el)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q.MedianMs, q.P90ms = pct(lat, 0.5), pct(lat, 0.9)
	runtime.GC()
	return q
}

func copyFile(src, dst string) error { return statstest.CopyFile(src, dst) }
