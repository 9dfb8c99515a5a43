package localapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// limitJSON is a limit as /stats/limits shows it, with its current period: used, percent (0–100) and
// when it resets. Amounts are in the metric's unit: tokens, requests, or USD for cost.
type limitJSON struct {
	ID         int64  `json:"id"`
	Scope      string `json:"scope"`
	Name       string `json:"name"`
	Metric     string `json:"metric"`
	Period     string `json:"period"`
	Zone       string `json:"zone"`
	Limit      any    `json:"limit"`
	Thresholds []int  `json:"thresholds"`
	Webhook    string `json:"webhook"`
	Used       any    `json:"used"`
	// Unpriced is, for a cost limit, the requests of the period without a price (not in used).
	Unpriced    *int64  `json:"unpriced_requests,omitempty"`
	Percent     float64 `json:"percent"`
	State       string  `json:"state"` // "ok", "warning" (past the first threshold) or "reached" (100 %)
	PeriodStart string  `json:"period_start"`
	ResetsAt    string  `json:"resets_at"`
}

func amountJSON(m stats.Metric, n int64) any {
	if m == stats.MetricCost {
		return usd(n)
	}
	return n
}

func toLimitJSON(st stats.LimitStatus) limitJSON {
	out := limitJSON{ID: st.ID, Scope: st.Scope, Name: st.Name, Metric: st.Metric.String(), Period: st.Period,
		Zone: st.Zone, Limit: amountJSON(st.Metric, st.Amount), Thresholds: st.Thresholds, Webhook: st.Webhook,
		Used: amountJSON(st.Metric, st.Used), Percent: math.Round(st.Percent()*100) / 100,
		State: [...]string{"ok", "warning", "reached"}[st.Level()], PeriodStart: st.Start.Format(time.RFC3339),
		ResetsAt: st.ResetsAt.Format(time.RFC3339)}
	if st.Metric == stats.MetricCost {
		n := st.Unpriced
		out.Unpriced = &n
	}
	return out
}

// LimitAlertJSON is the body of a limit's webhook when it crosses threshold: the limit as GET
// /stats/limits shows it, plus the threshold crossed.
func LimitAlertJSON(st stats.LimitStatus, threshold int) ([]byte, error) {
	return json.Marshal(struct {
		limitJSON
		Threshold int `json:"alert_threshold"`
	}{toLimitJSON(st), threshold})
}

// limitBody is what POST and PUT /stats/limits take.
type limitBody struct {
	Scope      string      `json:"scope"`
	Name       string      `json:"name"`
	Metric     string      `json:"metric"`
	Period     string      `json:"period"`
	Zone       string      `json:"zone"`
	Limit      json.Number `json:"limit"`
	Thresholds []int       `json:"thresholds"`
	Webhook    string      `json:"webhook"`
}

// toLimit reads a body; the store checks the rest (a *stats.FieldError).
func (b limitBody) toLimit() (stats.Limit, error) {
	l := stats.Limit{Scope: b.Scope, Name: b.Name, Period: b.Period, Zone: b.Zone, Thresholds: b.Thresholds,
		Webhook: b.Webhook}
	if b.Metric == "" {
		return l, errors.New("metric is required: tokens, requests or cost")
	}
	var err error
	if l.Metric, err = stats.ParseMetric(b.Metric); err != nil {
		return l, err
	}
	if b.Limit == "" {
		return l, errors.New("limit is required: tokens, requests, or USD for a cost limit")
	}
	if l.Metric == stats.MetricCost {
		f, err := b.Limit.Float64()
		var m stats.Money
		if err == nil {
			m, err = stats.MoneyFromUSD(f)
		}
		if err != nil {
			return l, fmt.Errorf("limit: %v", err)
		}
		l.Amount = int64(m)
	} else if l.Amount, err = strconv.ParseInt(b.Limit.String(), 10, 64); err != nil {
		return l, fmt.Errorf("limit must be a whole number of %s, not %.20s", b.Metric, b.Limit)
	}
	return l, nil
}

// limitStatus finds one limit's status; false when there is no such limit (answered 404).
func (s *Server) limitStatus(w http.ResponseWriter, r *http.Request, id int64) (stats.LimitStatus, bool) {
	sts, err := s.cfg.Store.LimitStatuses(r.Context(), s.cfg.Now())
	if err != nil {
		s.queryFailed(w, err)
		return stats.LimitStatus{}, false
	}
	for _, st := range sts {
		if st.ID == id {
			return st, true
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no limit has id %d", id))
	return stats.LimitStatus{}, false
}

func limitID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("a limit id is a whole number, not %.20q", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// limits is GET /stats/limits: every limit with its current period, and the re-pricing's progress (the
// tab shows it under the meters).
func (s *Server) limits(w http.ResponseWriter, r *http.Request) {
	sts, err := s.cfg.Store.LimitStatuses(r.Context(), s.cfg.Now())
	if err != nil {
		s.queryFailed(w, err)
		return
	}
	out := make([]limitJSON, len(sts))
	for i, st := range sts {
		out[i] = toLimitJSON(st)
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": out,
		"repricing": repricingJSON(s.cfg.Store.Repricing())})
}

func (s *Server) limit(w http.ResponseWriter, r *http.Request) {
	if id, ok := limitID(w, r); ok {
		if st, ok := s.limitStatus(w, r, id); ok {
			writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": toLimitJSON(st)})
		}
	}
}

// readLimit reads the body of POST and PUT; on a bad one it answers 400.
func readLimit(w http.ResponseWriter, r *http.Request) (stats.Limit, bool) {
	var b limitBody
	if !readJSON(w, r, &b) {
		return stats.Limit{}, false
	}
	l, err := b.toLimit()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return stats.Limit{}, false
	}
	return l, true
}

// addLimit is POST /stats/limits; it answers the stored limit with its id (201).
func (s *Server) addLimit(w http.ResponseWriter, r *http.Request) {
	l, ok := readLimit(w, r)
	if !ok {
		return
	}
	l, err := s.cfg.Store.AddLimit(r.Context(), l)
	if s.changeFailed(w, err) {
		return
	}
	if st, ok := s.limitStatus(w, r, l.ID); ok {
		writeJSON(w, http.StatusCreated, map[string]any{"success": true, "data": toLimitJSON(st)})
	}
}

// updateLimit is PUT /stats/limits/{id}: the whole limit, as POST takes it.
func (s *Server) updateLimit(w http.ResponseWriter, r *http.Request) {
	id, ok := limitID(w, r)
	if !ok {
		return
	}
	l, ok := readLimit(w, r)
	if !ok {
		return
	}
	l.ID = id
	_, err := s.cfg.Store.UpdateLimit(r.Context(), l)
	if errors.Is(err, stats.ErrNoLimit) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no limit has id %d", id))
		return
	}
	if s.changeFailed(w, err) {
		return
	}
	if st, ok := s.limitStatus(w, r, id); ok {
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": toLimitJSON(st)})
	}
}

func (s *Server) deleteLimit(w http.ResponseWriter, r *http.Request) {
	id, ok := limitID(w, r)
	if !ok {
		return
	}
	found, err := s.cfg.Store.DeleteLimit(r.Context(), id)
	if s.changeFailed(w, err) {
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no limit has id %d", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("limit %d removed", id)})
}
