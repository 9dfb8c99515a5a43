package localapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenstats/tokenstats/stats"
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
}

type modelRowJSON struct {
	Model string `json:"model"`
	totalsJSON
	Requests int64 `json:"request_count"`
}

type accountRowJSON struct {
	Account string `json:"account_email"`
	totalsJSON
	Requests int64 `json:"request_count"`
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

func (s *Server) window(w http.ResponseWriter, r *http.Request) (stats.Window, bool) {
	h, err := parseHours(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return stats.Window{}, false
	}
	return stats.LastHours(s.cfg.Now(), h), true
}

func (s *Server) queryFailed(w http.ResponseWriter, err error) {
	s.cfg.Logger.Error("query", "err", err)
	writeError(w, http.StatusInternalServerError, "query failed: "+err.Error())
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	win, ok := s.window(w, r)
	if !ok {
		return
	}
	sum, err := s.cfg.Store.Summary(r.Context(), win)
	if err != nil {
		s.queryFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "hours": win.Hours(),
		"data": summaryJSON{toTotalsJSON(sum.Totals), sum.Requests, sum.Accounts, sum.Models}})
}

func (s *Server) breakdown(d stats.Dimension) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		win, ok := s.window(w, r)
		if !ok {
			return
		}
		rows, err := s.cfg.Store.Breakdown(r.Context(), d, win)
		if err != nil {
			s.queryFailed(w, err)
			return
		}
		out := make([]any, len(rows))
		for i, row := range rows {
			if d == stats.ByModel {
				out[i] = modelRowJSON{row.Name, toTotalsJSON(row.Totals), row.Requests}
			} else {
				out[i] = accountRowJSON{row.Name, toTotalsJSON(row.Totals), row.Requests}
			}
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
		g, err := stats.ParseGranularity(r.URL.Query().Get("granularity"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if g == stats.Hourly && hours > stats.MaxHourlyHours {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(
				"hourly trends cover at most %d hours (31 days); use granularity=daily for %d hours",
				stats.MaxHourlyHours, hours))
			return
		}
		tr, err := s.cfg.Store.Trend(r.Context(), d, g, s.cfg.Now(), hours)
		if err != nil {
			s.queryFailed(w, err)
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
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "db_size_bytes": inf.SizeBytes,
		"db_size_mb": math.Round(float64(inf.SizeBytes)/(1<<20)*100) / 100, "records": inf.Records,
		"path": inf.Path})
}
