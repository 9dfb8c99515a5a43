package localapi

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/transfer"
)

// The JSON shapes below are the origin design's contract; fields after the first five are additions.

type totalsJSON struct {
	Input         int64 `json:"total_input_tokens"`
	Output        int64 `json:"total_output_tokens"`
	Total         int64 `json:"total_tokens"`
	Cached        int64 `json:"total_cached_tokens"`
	Reasoning     int64 `json:"total_reasoning_tokens"`
	CacheCreation int64 `json:"total_cache_creation_tokens"`
}

func toTotalsJSON(t stats.Totals) totalsJSON {
	return totalsJSON{Input: t.InputTokens, Output: t.OutputTokens, Total: t.TotalTokens(), Cached: t.CachedTokens,
		Reasoning: t.ReasoningTokens, CacheCreation: t.CacheCreationTokens}
}

type summaryJSON struct {
	totalsJSON
	Requests int64 `json:"total_requests"`
	Accounts int   `json:"unique_accounts"`
	Models   int   `json:"unique_models"`
	moneyJSON
	// CacheSavings is what cached tokens saved against the input price; absent when the app cannot say.
	CacheSavings *usd `json:"cache_savings_usd,omitempty"`
}

type modelRowJSON struct {
	Model string `json:"model"`
	totalsJSON
	Requests int64 `json:"request_count"`
	moneyJSON
}

type accountRowJSON struct {
	Account string `json:"account_email"`
	totalsJSON
	Requests int64 `json:"request_count"`
	moneyJSON
}

type sourceRowJSON struct {
	Source string `json:"source"`
	totalsJSON
	Requests int64 `json:"request_count"`
	moneyJSON
}

type credentialRowJSON struct {
	Credential string `json:"credential"`
	totalsJSON
	Requests int64 `json:"request_count"`
	moneyJSON
}

// rowJSON is a breakdown row in its dimension's shape: the origin design's for models and accounts, the
// same with "source" or "credential" for the others.
func rowJSON(d stats.Dimension, row stats.Row) any {
	t, m := toTotalsJSON(row.Totals), toMoneyJSON(row.Totals)
	switch d {
	case stats.ByModel:
		return modelRowJSON{row.Name, t, row.Requests, m}
	case stats.ByAccount:
		return accountRowJSON{row.Name, t, row.Requests, m}
	case stats.BySource:
		return sourceRowJSON{row.Name, t, row.Requests, m}
	}
	return credentialRowJSON{row.Name, t, row.Requests, m}
}

// filterParams are the query parameters that narrow every statistics route, each repeatable.
var filterParams = [...]struct {
	name string
	dim  stats.Dimension
}{{"account", stats.ByAccount}, {"model", stats.ByModel}, {"source", stats.BySource}, {"credential", stats.ByCredential}}

// parseFilter reads account=, model=, source= and credential=; values match exactly.
func parseFilter(r *http.Request) (stats.Filter, error) {
	var f stats.Filter
	q := r.URL.Query()
	for _, p := range filterParams {
		vals := q[p.name]
		for _, v := range vals {
			if !utf8.ValidString(v) || len(v) > 1024 {
				return f, fmt.Errorf("%s must be valid UTF-8 of at most 1024 bytes", p.name)
			}
		}
		f.Set(p.dim, vals)
	}
	return f, nil
}

// parseHours reads the hours parameter: a whole number in 1…stats.MaxHours, 24 when absent.
func parseHours(r *http.Request) (int, error) {
	return wholeParam(r, "hours", 24, 1, stats.MaxHours)
}

// wholeParam reads an optional query parameter that must be a whole number from lo to hi, written in
// digits only (no sign, space or fraction); def when the parameter is absent or empty.
func wholeParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil || int(n) < lo || int(n) > hi {
		// %.20q quotes at most 20 characters, whole ones, so the answer stays valid UTF-8.
		return 0, fmt.Errorf("%s must be a whole number from %d to %d, not %.20q", name, lo, hi, v)
	}
	return int(n), nil
}

// window reads the window and filter every statistics route takes; on a bad one it answers 400.
func (s *Server) window(w http.ResponseWriter, r *http.Request) (stats.Window, stats.Filter, bool) {
	h, err := parseHours(r)
	if err == nil {
		var f stats.Filter
		if f, err = parseFilter(r); err == nil {
			return stats.LastHours(s.cfg.Now(), h), f, true
		}
	}
	writeError(w, http.StatusBadRequest, err.Error())
	return stats.Window{}, stats.Filter{}, false
}

func (s *Server) queryFailed(w http.ResponseWriter, err error) {
	s.cfg.Logger.Error("query", "err", err)
	writeError(w, http.StatusInternalServerError, "query failed: "+err.Error())
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	win, f, ok := s.window(w, r)
	if !ok {
		return
	}
	sum, err := s.cfg.Store.Summary(r.Context(), win, f)
	if err != nil {
		s.queryFailed(w, err)
		return
	}
	out := summaryJSON{totalsJSON: toTotalsJSON(sum.Totals), Requests: sum.Requests, Accounts: sum.Accounts,
		Models: sum.Models, moneyJSON: toMoneyJSON(sum.Totals)}
	if s.cfg.CacheSavings != nil {
		if saved, ok := s.cfg.CacheSavings(r.Context(), win, f); ok {
			out.CacheSavings = usdOf(saved)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "hours": win.Hours(), "data": out})
}

func (s *Server) breakdown(d stats.Dimension) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		win, f, ok := s.window(w, r)
		if !ok {
			return
		}
		asCSV, ok := csvAsked(w, r)
		if !ok {
			return
		}
		rows, err := s.cfg.Store.Breakdown(r.Context(), d, win, f)
		if err != nil {
			s.queryFailed(w, err)
			return
		}
		if asCSV {
			s.writeCSVTable(w, r, "by-"+d.String(), win, func(w io.Writer, withBOM bool) error {
				return transfer.WriteBreakdownCSV(w, d, rows, withBOM)
			})
			return
		}
		out := make([]any, len(rows))
		for i, row := range rows {
			out[i] = rowJSON(d, row)
		}
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "hours": win.Hours(), "data": out})
	}
}

func (s *Server) trend(d stats.Dimension) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hours, err := parseHours(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		q := stats.TrendQuery{Dimension: d, End: s.cfg.Now(), Hours: hours}
		if q.Granularity, err = stats.ParseGranularity(r.URL.Query().Get("granularity")); err == nil {
			if q.Metric, err = stats.ParseMetric(r.URL.Query().Get("metric")); err == nil {
				q.Filter, err = parseFilter(r)
			}
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		asCSV, ok := csvAsked(w, r)
		if !ok {
			return
		}
		if q.Granularity == stats.Hourly && hours > stats.MaxHourlyHours {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(
				"hourly trends cover at most %d hours (31 days); use granularity=daily for %d hours",
				stats.MaxHourlyHours, hours))
			return
		}
		tr, err := s.cfg.Store.Trend(r.Context(), q)
		if err != nil {
			s.queryFailed(w, err)
			return
		}
		if asCSV {
			win := stats.TrendWindow(q.Granularity, q.End, hours)
			s.writeCSVTable(w, r, "trend-"+d.String()+"-"+q.Granularity.String(), win, func(w io.Writer, withBOM bool) error {
				return transfer.WriteTrendCSV(w, tr, s.cfg.Store.Location(), withBOM)
			})
			return
		}
		writeTrend(w, tr, hours) // the shape below, by hand for speed (trendjson.go)
	}
}

func (s *Server) clear(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("before_hours")
	var olderThan *time.Time
	if v != "" {
		n, err := wholeParam(r, "before_hours", 0, 0, 1_000_000)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		t := s.cfg.Now().Add(-time.Duration(n) * time.Hour)
		olderThan = &t
	}
	n, err := s.cfg.Store.Clear(r.Context(), olderThan)
	if err != nil {
		s.cfg.Logger.Error("clear", "err", err)
		writeError(w, http.StatusServiceUnavailable, "storage unavailable, nothing was removed: "+err.Error())
		return
	}
	msg := fmt.Sprintf("removed all %d records", n)
	if olderThan != nil {
		msg = fmt.Sprintf("removed %d records older than %s hours", n, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": msg, "deleted": n})
}

func (s *Server) dbInfo(w http.ResponseWriter, r *http.Request) {
	inf, err := s.cfg.Store.Info(r.Context())
	if err != nil {
		s.queryFailed(w, err)
		return
	}
	var cutoff any // RFC 3339, or null while nothing was retired
	if !inf.Cutoff.IsZero() {
		cutoff = inf.Cutoff.Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "db_size_bytes": inf.SizeBytes,
		"db_size_mb": math.Round(float64(inf.SizeBytes)/(1<<20)*100) / 100, "records": inf.Records,
		"path": inf.Path, "retention_cutoff": cutoff})
}
