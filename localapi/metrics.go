package localapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokenstats/tokenstats/stats"
)

// The Prometheus text exposition (format 0.0.4) of GET /metrics, written by hand: a few families
// computed from the store at each scrape need no client library (docs/decisions.md).

const (
	// MetricNames is how many names of each label (model, account, source) get a value of their own: the
	// first ones the store saw; later ones are "other" (stats.Counters says why first, not top).
	MetricNames = 100
	// MetricSeries is how many (model, account, source) label sets get series of their own; later ones
	// are summed into model="other",account="other",source="other". A scrape is then at most
	// (MetricSeries+1) × 8 usage series.
	MetricSeries = 500
)

// metricsContentType is the text format's media type, as Prometheus asks for it.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// opsRoutes registers the operations routes.
func (s *Server) opsRoutes() {
	s.handle("/metrics", http.MethodGet, s.metrics)
}

// tokenTypes are the values of tokenstats_tokens_total's type label, in Totals' terms.
var tokenTypes = [...]struct {
	name string
	of   func(t *stats.Totals) int64
}{
	{"input", func(t *stats.Totals) int64 { return t.InputTokens }},
	{"output", func(t *stats.Totals) int64 { return t.OutputTokens }},
	{"cached", func(t *stats.Totals) int64 { return t.CachedTokens }},
	{"reasoning", func(t *stats.Totals) int64 { return t.ReasoningTokens }},
	{"cache_creation", func(t *stats.Totals) int64 { return t.CacheCreationTokens }},
}

// metrics is GET /metrics: lifetime usage counters (clears never make them go down) and the process's
// own health.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	cs, err := s.cfg.Store.Counters(r.Context(), MetricNames, MetricSeries)
	if err != nil {
		s.queryFailed(w, err)
		return
	}
	inf, err := s.cfg.Store.Info(r.Context())
	if err != nil {
		s.queryFailed(w, err)
		return
	}
	var b bytes.Buffer
	family := func(name, kind, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
	}
	labels := func(c *stats.Counter) string {
		return `model="` + labelValue(c.Model) + `",account="` + labelValue(c.Account) + `",source="` + labelValue(c.Source) + `"`
	}
	family("tokenstats_tokens_total", "counter", "Tokens of every record ever stored, cleared ones included, by type: "+
		"input includes cached and cache_creation, output includes reasoning, so input + output is the total.")
	for i := range cs {
		l := labels(&cs[i])
		for _, tt := range tokenTypes {
			fmt.Fprintf(&b, "tokenstats_tokens_total{%s,type=\"%s\"} %d\n", l, tt.name, tt.of(&cs[i].Totals))
		}
	}
	family("tokenstats_requests_total", "counter", "Requests ever stored, cleared ones included.")
	for i := range cs {
		fmt.Fprintf(&b, "tokenstats_requests_total{%s} %d\n", labels(&cs[i]), cs[i].Requests)
	}
	family("tokenstats_cost_usd_total", "counter", "Estimated cost in US dollars of the priced requests "+
		"(tokenstats_unpriced_requests_total are not in it).")
	for i := range cs {
		fmt.Fprintf(&b, "tokenstats_cost_usd_total{%s} %s\n", labels(&cs[i]), appendUSD(nil, cs[i].Cost))
	}
	family("tokenstats_unpriced_requests_total", "counter", "Requests whose model had no price.")
	for i := range cs {
		fmt.Fprintf(&b, "tokenstats_unpriced_requests_total{%s} %d\n", labels(&cs[i]), cs[i].Unpriced)
	}
	family("tokenstats_records_stored", "gauge", "Raw records in the database file (records before the retention cutoff are kept as day totals only).")
	fmt.Fprintf(&b, "tokenstats_records_stored %d\n", inf.Records)
	family("tokenstats_database_bytes", "gauge", "Size of the database file and its write-ahead log.")
	fmt.Fprintf(&b, "tokenstats_database_bytes %d\n", inf.SizeBytes)
	family("tokenstats_ingest_errors_total", "counter", "Ingest requests refused (invalid: bad body or record) or "+
		"not stored (storage) since this process started.")
	fmt.Fprintf(&b, "tokenstats_ingest_errors_total{reason=\"invalid\"} %d\n", s.ingestErrors.invalid.Load())
	fmt.Fprintf(&b, "tokenstats_ingest_errors_total{reason=\"storage\"} %d\n", s.ingestErrors.storage.Load())
	qc := s.cfg.Store.QueryCounts()
	family("tokenstats_queries_total", "counter", "Store queries answered since this process started, by kind.")
	fmt.Fprintf(&b, "tokenstats_queries_total{kind=\"summary\"} %d\n", qc.Summaries)
	fmt.Fprintf(&b, "tokenstats_queries_total{kind=\"breakdown\"} %d\n", qc.Breakdowns)
	fmt.Fprintf(&b, "tokenstats_queries_total{kind=\"trend\"} %d\n", qc.Trends)
	family("tokenstats_build_info", "gauge", "The running version, as a label; always 1.")
	fmt.Fprintf(&b, "tokenstats_build_info{version=\"%s\"} 1\n", labelValue(s.cfg.Version))
	w.Header().Set("Content-Type", metricsContentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// labelValue escapes a label value as the text format asks: backslash, double quote and line feed.
func labelValue(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
