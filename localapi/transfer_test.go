package localapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// seedUsage stores n records over the ten days before the harness's clock, with Chinese names, sources,
// credentials and agent costs, some with request ids.
func (h *harness) seedUsage(n int) {
	h.t.Helper()
	rng := rand.New(rand.NewPCG(5, 5))
	accounts := []string{"alice@example.com", "张伟@example.com", "bob@example.com"}
	models := []string{"gemini-2.5-pro", "模型-实验", "gpt-4o"}
	recs := make([]stats.Record, 0, 10000)
	flush := func() {
		if _, err := h.store.Record(context.Background(), recs...); err != nil {
			h.t.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := range n {
		in := int64(rng.IntN(20000) + 1)
		r := stats.Record{Time: h.now.Add(-time.Duration(rng.IntN(10*86400)) * time.Second),
			Account: accounts[rng.IntN(3)], Model: models[rng.IntN(3)], InputTokens: in,
			OutputTokens: int64(rng.IntN(900)), CachedTokens: in / 3, IsAntigravity: i%2 == 0,
			Source: []string{"gcli2api", "", "claude-code"}[i%3], Credential: []string{"c1.json", "", "key …a1b2"}[i%3]}
		if i%2 == 0 {
			r.RequestID = fmt.Sprintf("r-%d", i)
		}
		if i%5 == 0 {
			r.AgentCost, r.HasAgentCost = stats.Money(rng.IntN(9_000_000)), true
		}
		if recs = append(recs, r); len(recs) == cap(recs) {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
}

// get sends a GET with the token and returns the answer, whose body has been read.
func (h *harness) get(path string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest("GET", h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, body
}

// TestExportCSVSumsToTheSummary: GET /stats/export gives a CSV download (type, file name, byte order
// mark) that encoding/csv reads, whose rows are the window's records and whose token sums equal
// /stats/summary's, with and without filters.
func TestExportCSVSumsToTheSummary(t *testing.T) {
	h := newHarness(t)
	h.seedUsage(3000)
	for _, q := range []string{"hours=72", "hours=240&account=" + url.QueryEscape("张伟@example.com") + "&model=gpt-4o&model=" +
		url.QueryEscape("模型-实验"), "hours=240&source="} {
		resp, body := h.get("/stats/export?format=csv&" + q)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8; header=present" {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		cd := resp.Header.Get("Content-Disposition")
		if hours := q[len("hours="):strings.IndexAny(q+"&", "&")]; cd != `attachment; filename="tokenstats-records-`+hours+`h-20260122-1630.csv"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF")))).ReadAll()
		if err != nil || !bytes.HasPrefix(body, []byte("\uFEFF")) {
			t.Fatalf("%s: %v (starts % x)", q, err, body[:4])
		}
		col := map[string]int{}
		for i, c := range rows[0] {
			col[c] = i
		}
		sums := map[string]float64{}
		for _, row := range rows[1:] {
			for c, key := range map[string]string{"input_tokens": "total_input_tokens", "output_tokens": "total_output_tokens",
				"total_tokens": "total_tokens", "cached_tokens": "total_cached_tokens"} {
				n, err := strconv.ParseInt(row[col[c]], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				sums[key] += float64(n)
			}
		}
		_, sum := h.do("GET", "/stats/summary?"+q, "")
		data := sum["data"].(map[string]any)
		if data["total_requests"] != float64(len(rows)-1) {
			t.Errorf("%s: %d rows, summary %v requests", q, len(rows)-1, data["total_requests"])
		}
		for k, v := range sums {
			if data[k] != v {
				t.Errorf("%s: CSV %s = %v, summary %v", q, k, v, data[k])
			}
		}
	}
	if resp, _ := h.get("/stats/export?format=xml"); resp.StatusCode != 400 {
		t.Errorf("format=xml: %d, want 400", resp.StatusCode)
	}
	if resp, body := h.get("/stats/export?hours=1&bom=0"); resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("timestamp,")) {
		t.Errorf("bom=0: %d %q", resp.StatusCode, body)
	}
}

// TestJSONLExportRoundTripsThroughImport: the JSONL export of one instance, posted to POST /stats/import
// of a fresh one, makes every view of the fresh one answer byte for byte what the first answers
// (summary, the four breakdowns, hourly and daily trends in tokens, cost and requests); posting it again,
// to either instance, adds nothing.
func TestJSONLExportRoundTripsThroughImport(t *testing.T) {
	a, b := newHarness(t), newHarness(t)
	a.seedUsage(2500)
	resp, body := a.get("/stats/export?format=jsonl&hours=87600")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson; charset=utf-8" ||
		!strings.HasSuffix(resp.Header.Get("Content-Disposition"), `tokenstats-records-all-20260122-1630.jsonl"`) {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != 2500 {
		t.Fatalf("%d lines, want 2500", len(lines))
	}
	post := func(h *harness) (accepted, dups float64) {
		for lo := 0; lo < len(lines); lo += 1000 {
			batch := "[" + strings.Join(lines[lo:min(lo+1000, len(lines))], ",") + "]"
			code, res := h.do("POST", "/stats/import", batch)
			if code != 200 {
				t.Fatalf("import: %d %v", code, res)
			}
			accepted += res["accepted"].(float64)
			dups += res["duplicates"].(float64)
		}
		return accepted, dups
	}
	if acc, dups := post(b); acc != 2500 || dups != 0 {
		t.Fatalf("into a fresh instance: %v accepted, %v duplicates", acc, dups)
	}
	var routes []string
	for _, hours := range []string{"1", "24", "240"} {
		routes = append(routes, "/stats/summary?hours="+hours)
		for _, d := range []string{"model", "account", "source", "credential"} {
			routes = append(routes, "/stats/by-"+d+"?hours="+hours)
			for _, g := range []string{"hourly", "daily"} {
				for _, m := range []string{"tokens", "cost", "requests"} {
					routes = append(routes, fmt.Sprintf("/stats/trend/%s?hours=%s&granularity=%s&metric=%s", d, hours, g, m))
				}
			}
		}
	}
	for _, r := range routes {
		_, x := a.get(r)
		_, y := b.get(r)
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs:\n%s\n%s", r, x, y)
		}
	}
	for _, h := range []*harness{b, a} {
		if acc, dups := post(h); acc != 0 || dups != 2500 {
			t.Fatalf("posting the export again: %v accepted, %v duplicates", acc, dups)
		}
	}
	sources, err := b.store.Sources(context.Background(), stats.LastHours(b.now, 24))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sources {
		if s.Kind != stats.KindImport {
			t.Errorf("source %q has kind %q in the importing instance, want %q", s.Name, s.Kind, stats.KindImport)
		}
	}
}

// TestTablesAndTrendsAsCSV: format=csv on a breakdown or trend route answers the same numbers as its
// JSON, as a CSV download; any other format is refused.
func TestTablesAndTrendsAsCSV(t *testing.T) {
	h := newHarness(t)
	h.seedUsage(500)
	_, js := h.do("GET", "/stats/by-account?hours=240", "")
	resp, body := h.get("/stats/by-account?hours=240&format=csv")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "tokenstats-by-account-240h-") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "account_email" || len(rows) != len(js["data"].([]any))+1 {
		t.Fatalf("rows %q for %v", rows, js["data"])
	}
	for i, r := range js["data"].([]any) {
		m := r.(map[string]any)
		if rows[i+1][0] != m["account_email"] || rows[i+1][1] != fmt.Sprint(m["request_count"]) ||
			rows[i+1][4] != fmt.Sprint(int64(m["total_tokens"].(float64))) {
			t.Errorf("row %q, JSON %v", rows[i+1], m)
		}
	}
	_, tr := h.do("GET", "/stats/trend/model?hours=48&granularity=daily", "")
	resp, body = h.get("/stats/trend/model?hours=48&granularity=daily&format=csv&bom=0")
	if resp.StatusCode != 200 {
		t.Fatalf("trend csv: %d %s", resp.StatusCode, body)
	}
	rows, err = csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	periods := tr["data"].([]any)
	if len(rows) != len(periods)+1 || rows[0][0] != "period" || rows[0][1] != "start" {
		t.Fatalf("trend rows %q for %v", rows, periods)
	}
	for i, p := range periods {
		pm := p.(map[string]any)
		if rows[i+1][0] != pm["period"] {
			t.Errorf("period %q, want %v", rows[i+1][0], pm["period"])
		}
		for j, name := range rows[0][2:] {
			want, _ := pm["data"].(map[string]any)[name].(float64)
			if rows[i+1][2+j] != strconv.FormatInt(int64(want), 10) {
				t.Errorf("%s %s: %s, JSON %v", pm["period"], name, rows[i+1][2+j], want)
			}
		}
	}
	if code, _ := h.do("GET", "/stats/by-model?format=xls", ""); code != 400 {
		t.Errorf("format=xls: %d, want 400", code)
	}
}

// TestExportStreamsInBoundedMemory: exporting a large window does not hold the export in memory: while
// the client reads tens of megabytes, the server's heap stays within a few megabytes of where it began.
func TestExportStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a store of 60,000 records")
	}
	h := newHarness(t)
	h.seedUsage(60_000)
	defer debug.SetGCPercent(debug.SetGCPercent(20)) // collect garbage often, so the heap shows what is live
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	req, _ := http.NewRequest("GET", h.srv.URL+"/stats/export?format=jsonl&hours=87600", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var read, lines int64
	next := int64(1 << 20)
	for {
		line, err := br.ReadSlice('\n')
		read += int64(len(line))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if lines++; lines == 1 && !json.Valid(line) {
			t.Fatalf("first line is not JSON: %s", line)
		}
		if read >= next {
			next += 1 << 20
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if lines != 60_000 || read < 20<<20 {
		t.Fatalf("read %d lines, %d bytes", lines, read)
	}
	const bound = 8 << 20
	if grew := int64(peak) - int64(base); grew > bound {
		t.Fatalf("the heap grew by %d MB while %d MB were exported; want at most %d MB", grew>>20, read>>20, bound>>20)
	}
	t.Logf("exported %d MB; heap grew at most %d KB", read>>20, (int64(peak)-int64(base))>>10)
}

// TestImportRouteTakesOnlyTheToken: POST /stats/import is a change: the browser session may not make it.
func TestImportRouteTakesOnlyTheToken(t *testing.T) {
	h := newWebHarness(t)
	cookie := h.login()
	resp, body := h.raw("POST", "/stats/import", "Cookie", cookie, PageHeader, "1", "Origin", h.srv.URL)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("import with the session: %d %s", resp.StatusCode, body)
	}
	code, res := h.do("POST", "/stats/import", `[{"timestamp":1769000000,"account_email":"a","model":"m","input_tokens":3,"output_tokens":1,"agent_cost_usd":0.25}]`)
	if code != 200 || res["accepted"] != 1.0 {
		t.Fatalf("import with the token: %d %v", code, res)
	}
	code, res = h.do("POST", "/stats/import", `[{"timestamp":1769000000,"account_email":"a","model":"m","input_tokens":3,"output_tokens":-1}]`)
	if code != 400 || res["index"] != 0.0 {
		t.Fatalf("bad record: %d %v", code, res)
	}
	var agent stats.Money
	err := h.store.Export(context.Background(), stats.LastHours(h.now, 87600), stats.Filter{}, func(r *stats.ExportedRecord) error {
		agent = r.AgentCost
		return nil
	})
	if err != nil || agent != 250_000_000 {
		t.Fatalf("stored agent cost %v (%v), want $0.25", agent, err)
	}
}
