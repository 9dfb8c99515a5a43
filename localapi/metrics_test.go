package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// exposition is a parsed text exposition: each sample by its series (name and sorted labels), and
// each family's type.
type exposition struct {
	samples map[string]float64
	types   map[string]string
	labels  map[string]map[string]string // series → its labels
	names   map[string]string            // series → metric name
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parseExposition reads Prometheus' text format 0.0.4 strictly: HELP and TYPE at most once per family
// and before its samples, a family's samples together, label values quoted with only \\, \" and \n
// escapes, no series twice, counters never negative, the body ending in a line feed.
func parseExposition(body string) (*exposition, error) {
	e := &exposition{samples: map[string]float64{}, types: map[string]string{}, labels: map[string]map[string]string{},
		names: map[string]string{}}
	if !strings.HasSuffix(body, "\n") {
		return nil, fmt.Errorf("the body does not end in a line feed")
	}
	help := map[string]bool{}
	done := map[string]bool{} // families whose samples are over
	current := ""
	family := func(name string) string {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && (e.types[base] == "histogram" || e.types[base] == "summary") {
				return base
			}
		}
		return name
	}
	for n, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		fail := func(format string, a ...any) (*exposition, error) {
			return nil, fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(format, a...))
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a plain comment
			}
			name := f[2]
			if !metricNameRE.MatchString(name) {
				return fail("bad metric name")
			}
			if done[name] || current == name {
				return fail("%s after the family's samples", f[1])
			}
			switch f[1] {
			case "HELP":
				if help[name] {
					return fail("second HELP")
				}
				help[name] = true
			case "TYPE":
				if len(f) != 4 {
					return fail("TYPE without a type")
				}
				if _, ok := e.types[name]; ok {
					return fail("second TYPE")
				}
				switch f[3] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					return fail("unknown type %q", f[3])
				}
				e.types[name] = f[3]
			}
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if !metricNameRE.MatchString(name) {
			return fail("bad metric name")
		}
		labels := map[string]string{}
		if strings.HasPrefix(rest, "{") {
			rest = rest[1:]
			for !strings.HasPrefix(rest, "}") {
				eq := strings.IndexByte(rest, '=')
				if eq < 0 || !labelNameRE.MatchString(rest[:eq]) || len(rest) < eq+2 || rest[eq+1] != '"' {
					return fail("bad label")
				}
				ln := rest[:eq]
				rest = rest[eq+2:]
				var v strings.Builder
				closed := false
				for i := 0; i < len(rest); i++ {
					c := rest[i]
					if c == '\\' {
						if i+1 >= len(rest) {
							return fail("dangling escape")
						}
						switch rest[i+1] {
						case '\\':
							v.WriteByte('\\')
						case '"':
							v.WriteByte('"')
						case 'n':
							v.WriteByte('\n')
						default:
							return fail("bad escape \\%c", rest[i+1])
						}
						i++
						continue
					}
					if c == '"' {
						rest, closed = rest[i+1:], true
						break
					}
					v.WriteByte(c)
				}
				if !closed {
					return fail("unterminated label value")
				}
				if _, dup := labels[ln]; dup {
					return fail("label %s twice", ln)
				}
				labels[ln] = v.String()
				if strings.HasPrefix(rest, ",") {
					rest = rest[1:]
				} else if !strings.HasPrefix(rest, "}") {
					return fail("expected , or }")
				}
			}
			rest = rest[1:]
		}
		f := strings.Fields(rest)
		if len(f) < 1 || len(f) > 2 || !strings.HasPrefix(rest, " ") {
			return fail("want a value and an optional timestamp")
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return fail("bad value: %v", err)
		}
		fam := family(name)
		if fam != current {
			if done[fam] {
				return fail("samples of %s are not together", fam)
			}
			if current != "" {
				done[current] = true
			}
			current = fam
		}
		if e.types[fam] == "counter" && (v < 0 || math.IsNaN(v)) {
			return fail("a counter below 0")
		}
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		series := name
		for _, k := range keys {
			series += fmt.Sprintf(",%s=%q", k, labels[k])
		}
		if _, dup := e.samples[series]; dup {
			return fail("series twice")
		}
		e.samples[series], e.labels[series], e.names[series] = v, labels, name
	}
	return e, nil
}

// sum adds the samples of a metric whose labels include match.
func (e *exposition) sum(name string, match map[string]string) float64 {
	var s float64
	for k, v := range e.samples {
		if e.names[k] != name {
			continue
		}
		ok := true
		for lk, lv := range match {
			if e.labels[k][lk] != lv {
				ok = false
			}
		}
		if ok {
			s += v
		}
	}
	return s
}

// scrape fetches /metrics with the token and parses it.
func scrape(t *testing.T, url string) (*exposition, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != metricsContentType {
		t.Fatalf("GET /metrics: %d %q\n%.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	e, err := parseExposition(string(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return e, string(body)
}

// centsPricer prices every model but "free" at one nano-dollar per input token and three per output
// token.
type centsPricer struct{}

func (centsPricer) Price(r *stats.Record) (stats.Money, bool) {
	if r.Model == "free" {
		return 0, false
	}
	return stats.Money(r.InputTokens + 3*r.OutputTokens), true
}

// metricsHarness is a server over a priced store, holding records of several models, accounts and
// sources, some with awkward names.
func metricsHarness(t *testing.T, path string) (*harness, func()) {
	t.Helper()
	store, _, err := stats.Open(path, stats.Options{Location: time.UTC, Pricer: centsPricer{}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, now: time.Date(2026, 1, 22, 16, 30, 0, 0, time.UTC)}
	h.srv = httptest.NewServer(New(Config{Store: store, Token: testToken, Version: `v"1\`, Now: func() time.Time { return h.now }}))
	return h, func() { h.srv.Close(); store.Close() }
}

// Every sample parses; the counters' sums equal /stats/summary for all time, type by type, and the
// store's cost; the health gauges equal db-info.
func TestMetricsEqualSummaryForAllTime(t *testing.T) {
	h, stop := metricsHarness(t, filepath.Join(t.TempDir(), "m.db"))
	defer stop()
	body := `[{"account_email":"a@x","model":"gpt-4o","input_tokens":1200,"output_tokens":300,"cached_tokens":1000,"source":"litellm","timestamp":%d},
		{"account_email":"b@x","model":"free","input_tokens":50,"output_tokens":70,"reasoning_tokens":20,"timestamp":%d},
		{"account_email":"quote\"back\\slash","model":"gemini-2.5-pro","input_tokens":9,"output_tokens":1,"cache_creation_tokens":4,"source":"gcli2api","timestamp":%d}]`
	ts := h.now.Unix()
	if code, res := h.do("POST", "/usage", fmt.Sprintf(body, ts-90*86400, ts-3600, ts)); code != 200 {
		t.Fatalf("seed: %d %v", code, res)
	}
	h.do("POST", "/usage", `{"account_email":"a","model":"m","input_tokens":-1,"output_tokens":1}`)
	h.do("POST", "/usage", `not json`)
	_, sum := h.do("GET", "/stats/summary?hours=87600", "")
	e, raw := scrape(t, h.srv.URL)
	data := sum["data"].(map[string]any)
	for typ, field := range map[string]string{"input": "total_input_tokens", "output": "total_output_tokens",
		"cached": "total_cached_tokens", "reasoning": "total_reasoning_tokens", "cache_creation": "total_cache_creation_tokens"} {
		if got := e.sum("tokenstats_tokens_total", map[string]string{"type": typ}); got != data[field] {
			t.Errorf("tokens of type %s: %v in /metrics, %v in the summary", typ, got, data[field])
		}
	}
	if got := e.sum("tokenstats_requests_total", nil); got != data["total_requests"] {
		t.Errorf("requests: %v, summary %v", got, data["total_requests"])
	}
	st, err := h.store.Summary(context.Background(), stats.LastHours(h.now, stats.MaxHours), stats.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.sum("tokenstats_cost_usd_total", nil); math.Abs(got-st.Cost.USD()) > 1e-12 || st.Cost == 0 {
		t.Errorf("cost: %v USD, store %s", got, st.Cost)
	}
	if got := e.sum("tokenstats_unpriced_requests_total", nil); got != float64(st.Unpriced) || got != 1 {
		t.Errorf("unpriced: %v, store %d", got, st.Unpriced)
	}
	if got := e.sum("tokenstats_tokens_total", map[string]string{"account": "quote\"back\\slash", "type": "input"}); got != 9 {
		t.Errorf("the awkward account's input: %v\n%s", got, raw)
	}
	_, info := h.do("GET", "/stats/db-info", "")
	if e.sum("tokenstats_records_stored", nil) != info["records"] || e.sum("tokenstats_database_bytes", nil) <= 0 {
		t.Errorf("health: records %v (db-info %v), bytes %v", e.sum("tokenstats_records_stored", nil), info["records"],
			e.sum("tokenstats_database_bytes", nil))
	}
	if e.sum("tokenstats_ingest_errors_total", map[string]string{"reason": "invalid"}) != 2 {
		t.Errorf("ingest errors: %v", e.sum("tokenstats_ingest_errors_total", nil))
	}
	if e.sum("tokenstats_queries_total", map[string]string{"kind": "summary"}) < 1 {
		t.Error("the summary query is not counted")
	}
	for k, typ := range map[string]string{"tokenstats_tokens_total": "counter", "tokenstats_records_stored": "gauge",
		"tokenstats_cost_usd_total": "counter", "tokenstats_build_info": "gauge"} {
		if e.types[k] != typ {
			t.Errorf("%s has type %q, want %s", k, e.types[k], typ)
		}
	}
	if e.sum("tokenstats_build_info", map[string]string{"version": `v"1\`}) != 1 {
		t.Errorf("build info: %s", raw)
	}
	// Like every route, /metrics needs the token.
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("/metrics without the token: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A clear is not a counter reset: after clearing everything, and after a restart, no series is lower
// than before, and new records add to them.
func TestMetricsNeverGoDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	h, stop := metricsHarness(t, path)
	post := func(n int) {
		var recs []string
		for i := range n {
			recs = append(recs, fmt.Sprintf(`{"account_email":"a%d","model":"m%d","input_tokens":%d,"output_tokens":1,"timestamp":%d}`,
				i%3, i%4, 10+i, h.now.Unix()-int64(i)*3600))
		}
		if code, res := h.do("POST", "/usage", "["+strings.Join(recs, ",")+"]"); code != 200 {
			t.Fatalf("post: %d %v", code, res)
		}
	}
	post(40)
	before, _ := scrape(t, h.srv.URL)
	if code, _ := h.do("DELETE", "/stats/clear?before_hours=10", ""); code != 200 {
		t.Fatal("partial clear failed")
	}
	if code, _ := h.do("DELETE", "/stats/clear", ""); code != 200 {
		t.Fatal("clear failed")
	}
	after, _ := scrape(t, h.srv.URL)
	stop()
	h, stop = metricsHarness(t, path)
	defer stop()
	restarted, _ := scrape(t, h.srv.URL)
	post(8)
	more, _ := scrape(t, h.srv.URL)
	for k, v := range before.samples {
		if !strings.HasPrefix(k, "tokenstats_tokens_total") && !strings.HasPrefix(k, "tokenstats_requests_total") &&
			!strings.HasPrefix(k, "tokenstats_cost_usd_total") {
			continue
		}
		if after.samples[k] != v || restarted.samples[k] != v {
			t.Errorf("%s: %v before, %v after clearing, %v after a restart", k, v, after.samples[k], restarted.samples[k])
		}
		if more.samples[k] < v {
			t.Errorf("%s went down after new records: %v → %v", k, v, more.samples[k])
		}
	}
	if d := more.sum("tokenstats_requests_total", nil) - before.sum("tokenstats_requests_total", nil); d != 8 {
		t.Errorf("8 new records added %v requests", d)
	}
}

// A sender that invents a model and an account per request cannot blow up a scrape: label values and
// series stay within MetricNames and MetricSeries (plus "other"), and the sums stay exact.
func TestMetricsBoundHostileNames(t *testing.T) {
	h := newHarness(t)
	const n = 3000
	for lo := 0; lo < n; lo += 1000 {
		var recs []string
		for i := lo; i < lo+1000; i++ {
			recs = append(recs, fmt.Sprintf(`{"account_email":"user%d@x","model":"model-%d","source":"src-%d","input_tokens":2,"output_tokens":1}`, i, i, i))
		}
		if code, res := h.do("POST", "/usage", "["+strings.Join(recs, ",")+"]"); code != 200 {
			t.Fatalf("post: %d %v", code, res)
		}
	}
	e, raw := scrape(t, h.srv.URL)
	values := map[string]map[string]bool{"model": {}, "account": {}, "source": {}}
	series := 0
	for k := range e.samples {
		if e.names[k] != "tokenstats_requests_total" {
			continue
		}
		series++
		for l := range values {
			values[l][e.labels[k][l]] = true
		}
	}
	if series > MetricSeries+1 {
		t.Errorf("%d series of requests, want at most %d", series, MetricSeries+1)
	}
	for l, vs := range values {
		if len(vs) > MetricNames+1 {
			t.Errorf("%d values of %s, want at most %d", len(vs), l, MetricNames+1)
		}
	}
	if got := e.sum("tokenstats_requests_total", nil); got != n {
		t.Errorf("requests sum to %v, want %d", got, n)
	}
	if got := e.sum("tokenstats_tokens_total", map[string]string{"type": "input"}); got != 2*n {
		t.Errorf("input tokens sum to %v, want %d", got, 2*n)
	}
	if len(raw) > 1<<20 {
		t.Errorf("the scrape is %d bytes", len(raw))
	}
}

// Prometheus' own checker accepts the exposition. promtool comes with Debian's prometheus package
// (.ci/install-deps installs it); without it the test is skipped, except under CI=true.
func TestMetricsPassPromtool(t *testing.T) {
	tool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found; .ci/install-deps installs Debian's prometheus package, which has it")
		}
		t.Skip("promtool not installed (Debian: apt-get install prometheus)")
	}
	h, stop := metricsHarness(t, filepath.Join(t.TempDir(), "p.db"))
	defer stop()
	h.do("POST", "/usage", `[{"account_email":"a@x","model":"gpt-4o","input_tokens":5,"output_tokens":3,"source":"s"},
		{"account_email":"b\"x","model":"free","input_tokens":1,"output_tokens":1}]`)
	_, raw := scrape(t, h.srv.URL)
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = strings.NewReader(raw)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out.String(), raw)
	}
	if strings.TrimSpace(out.String()) != "" {
		t.Errorf("promtool reports:\n%s", out.String())
	}
}

// The strict parser refuses what the format forbids, so the tests above mean something.
func TestExpositionParserRefuses(t *testing.T) {
	for _, body := range []string{
		"a_total 1",                                // no final line feed
		"a_total{x=\"1\" 1\n",                      // unterminated label set
		"a_total{x=\"\\t\"} 1\n",                   // an escape the format lacks
		"a_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n", // a series twice
		"# TYPE a_total counter\na_total -1\n",     // a counter below 0
		"a 1\nb 1\na 2\n",                          // a family split
		"# TYPE a counter\n# TYPE a gauge\n",       // two types
		"a{1x=\"1\"} 1\n",                          // a bad label name
		"a one\n",                                  // a bad value
	} {
		if _, err := parseExposition(body); err == nil {
			t.Errorf("accepted %q", body)
		}
	}
	if _, err := parseExposition("# HELP a_total x\n# TYPE a_total counter\na_total{b=\"q\\\"\\\\\\n\"} 1.5\n\n"); err != nil {
		t.Errorf("refused a valid body: %v", err)
	}
}

// The Grafana dashboard of docs/team.md asks only for families /metrics serves, and its queries are
// valid PromQL (checked by promtool when installed, as in TestMetricsPassPromtool).
func TestGrafanaDashboardQueries(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-tokenstats.json")
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	walk(dash)
	if len(exprs) < 8 {
		t.Fatalf("%d queries in the dashboard", len(exprs))
	}
	h, stop := metricsHarness(t, filepath.Join(t.TempDir(), "g.db"))
	defer stop()
	h.do("POST", "/usage", `{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1}`)
	e, _ := scrape(t, h.srv.URL)
	name := regexp.MustCompile(`tokenstats_[a-z_]+`)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, x := range exprs {
		for _, n := range name.FindAllString(x, -1) {
			if _, ok := e.types[n]; !ok {
				t.Errorf("query %q asks for %s, which /metrics does not serve", x, n)
			}
		}
		q := strings.NewReplacer("$instance", ".*").Replace(x)
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %q\n", i, q)
	}
	tool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found")
		}
		t.Skip("promtool not installed: queries not parsed")
	}
	file := filepath.Join(t.TempDir(), "rules.yml")
	os.WriteFile(file, []byte(rules.String()), 0o600)
	if out, err := exec.Command(tool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, rules.String())
	}
}
