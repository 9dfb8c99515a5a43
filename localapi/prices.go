package localapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// usd is an amount of money as a JSON number of dollars, exact to the nano-dollar (appendUSD).
type usd stats.Money

func (m usd) MarshalJSON() ([]byte, error) { return appendUSD(nil, stats.Money(m)), nil }

func usdOf(m stats.Money) *usd {
	u := usd(m)
	return &u
}

// moneyJSON is what a summary or a breakdown row says of money: the estimate (null when none of its
// requests has a price, so an unpriced model never reads $0), the requests it leaves out, and the
// reporting tools' own figure where they gave one.
type moneyJSON struct {
	Cost          *usd  `json:"estimated_cost_usd"`
	Unpriced      int64 `json:"unpriced_requests"`
	AgentCost     *usd  `json:"agent_cost_usd,omitempty"`
	AgentRequests int64 `json:"agent_cost_requests,omitempty"`
}

func toMoneyJSON(t stats.Totals) moneyJSON {
	m := moneyJSON{Unpriced: t.Unpriced, AgentRequests: t.AgentRequests}
	if t.Requests == 0 || t.Unpriced < t.Requests {
		m.Cost = usdOf(t.Cost)
	}
	if t.AgentRequests > 0 {
		m.AgentCost = usdOf(t.AgentCost)
	}
	return m
}

// moneyRoutes registers the routes of prices and limits (limits.go).
func (s *Server) moneyRoutes() {
	s.handle("/stats/prices", http.MethodGet, s.prices)
	s.handleMethods("/stats/prices/{model...}", map[string]http.HandlerFunc{
		http.MethodGet: s.price, http.MethodPut: s.setPrice, http.MethodDelete: s.deletePrice})
	s.handle("/app/reload-prices", http.MethodPost, s.reloadPrices)
	s.handleMethods("/stats/limits", map[string]http.HandlerFunc{
		http.MethodGet: s.limits, http.MethodPost: s.addLimit})
	s.handleMethods("/stats/limits/{id}", map[string]http.HandlerFunc{
		http.MethodGet: s.limit, http.MethodPut: s.updateLimit, http.MethodDelete: s.deleteLimit})
}

// handleMethods registers a route whose methods do different things; other methods get a JSON 405 that
// names the allowed ones.
func (s *Server) handleMethods(pattern string, hs map[string]http.HandlerFunc) {
	var allowed []string
	for m := range hs {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		h, ok := hs[method]
		if !ok {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; use "+
				strings.Join(allowed, ", "))
			return
		}
		h(w, r)
	})
}

// readJSON decodes a small JSON body into v, refusing unknown fields (a misspelt price must not pass
// as "not given"); on failure it answers 400 and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil && dec.More() {
			err = errors.New("more than one JSON value")
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "the body must be one JSON object: "+err.Error())
		return false
	}
	return true
}

// priceJSON is one model of GET /stats/prices: the price applied and where it came from.
type priceJSON struct {
	Model    string  `json:"model"`
	Priced   bool    `json:"priced"`
	Origin   *string `json:"origin"`          // "snapshot" or "override"; null when unpriced
	Entry    string  `json:"entry,omitempty"` // the snapshot entry, or the model name for an override
	Provider string  `json:"provider,omitempty"`
	How      string  `json:"match,omitempty"` // "exact" or "normalised"
	ratesJSON
	Tiers []tierJSON `json:"tiers,omitempty"`
}

type ratesJSON struct {
	Input      *usd `json:"input_per_mtok,omitempty"`
	Output     *usd `json:"output_per_mtok,omitempty"`
	CacheRead  *usd `json:"cache_read_per_mtok,omitempty"`
	CacheWrite *usd `json:"cache_write_per_mtok,omitempty"`
	Reasoning  *usd `json:"reasoning_per_mtok,omitempty"`
}

type tierJSON struct {
	Above int64 `json:"above_input_tokens"`
	ratesJSON
}

func toRatesJSON(p pricing.Prices) ratesJSON {
	return ratesJSON{usdOf(p.Input.PerMTok()), usdOf(p.Output.PerMTok()), usdOf(p.CacheRead.PerMTok()),
		usdOf(p.CacheWrite.PerMTok()), usdOf(p.Reasoning.PerMTok())}
}

// currentTable is the price table the store prices with; nil when it prices nothing.
func (s *Server) currentTable() *pricing.Table {
	if p, ok := s.cfg.Store.Pricer().(*pricing.Pricer); ok {
		return p.Table()
	}
	return nil
}

func priceOf(t *pricing.Table, model string) priceJSON {
	out := priceJSON{Model: model}
	if t == nil {
		return out
	}
	r, m, ok := t.Lookup(model)
	if !ok {
		return out
	}
	out.Priced, out.Origin, out.Entry, out.Provider, out.How = true, &m.Origin, m.Entry, m.Provider, m.How
	out.ratesJSON = toRatesJSON(r.Base)
	for _, tr := range r.Tiers {
		out.Tiers = append(out.Tiers, tierJSON{tr.Above, toRatesJSON(tr.Prices)})
	}
	return out
}

func repricingJSON(rp stats.Repricing) map[string]any {
	return map[string]any{"running": rp.Running(), "models": rp.Models, "done": rp.Done, "total": rp.Total}
}

// prices is GET /stats/prices: every model seen (and every override), with the price applied, the
// snapshot's source and licence, and the background re-pricing's progress.
func (s *Server) prices(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	models, err := s.cfg.Store.Models(ctx)
	if err == nil {
		var ovs []stats.PriceOverride
		if ovs, err = s.cfg.Store.PriceOverrides(ctx); err == nil {
			for _, o := range ovs {
				models = append(models, o.Model)
			}
		}
	}
	if err != nil {
		s.queryFailed(w, err)
		return
	}
	slices.Sort(models)
	models = slices.Compact(models)
	t := s.currentTable()
	data := make([]priceJSON, len(models))
	for i, m := range models {
		data[i] = priceOf(t, m)
	}
	var snap any
	if t != nil {
		src := t.Source()
		var date any
		if !src.Date.IsZero() {
			date = src.Date.Format(time.RFC3339)
		}
		snap = map[string]any{"url": src.URL, "commit": src.Commit, "date": date, "license": "MIT",
			"license_text": pricing.License()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "snapshot": snap,
		"repricing": repricingJSON(s.cfg.Store.Repricing()), "data": data})
}

// modelParam is the {model} of a price route: a model name as stored, slashes included.
func modelParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	m := r.PathValue("model")
	if m == "" || len(m) > stats.MaxModelLen || !strings.ContainsFunc(m, func(c rune) bool { return c > ' ' }) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the model name must be 1 to %d bytes long", stats.MaxModelLen))
		return "", false
	}
	return m, true
}

func (s *Server) price(w http.ResponseWriter, r *http.Request) {
	if m, ok := modelParam(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": priceOf(s.currentTable(), m)})
	}
}

// setPrice is PUT /stats/prices/{model}: an override, in USD per million tokens, that wins over the
// snapshot for exactly that name; the model's history is re-priced in the background.
func (s *Server) setPrice(w http.ResponseWriter, r *http.Request) {
	m, ok := modelParam(w, r)
	if !ok {
		return
	}
	var body struct {
		Input      *float64 `json:"input_per_mtok"`
		Output     *float64 `json:"output_per_mtok"`
		CacheRead  *float64 `json:"cache_read_per_mtok"`
		CacheWrite *float64 `json:"cache_write_per_mtok"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Input == nil || body.Output == nil {
		writeError(w, http.StatusBadRequest, "input_per_mtok and output_per_mtok are required (USD per million tokens)")
		return
	}
	so, err := pricing.Override{InputPerMTok: *body.Input, OutputPerMTok: *body.Output,
		CacheReadPerMTok: body.CacheRead, CacheWritePerMTok: body.CacheWrite}.Stored(m)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.changeFailed(w, s.cfg.Store.SetPriceOverride(r.Context(), so)) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": priceOf(s.currentTable(), m),
		"repricing": repricingJSON(s.cfg.Store.Repricing())})
}

func (s *Server) deletePrice(w http.ResponseWriter, r *http.Request) {
	m, ok := modelParam(w, r)
	if !ok {
		return
	}
	found, err := s.cfg.Store.DeletePriceOverride(r.Context(), m)
	if s.changeFailed(w, err) {
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%.60q has no price override", m))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": priceOf(s.currentTable(), m),
		"repricing": repricingJSON(s.cfg.Store.Repricing())})
}

// changeFailed answers a failed change: 400 for a value the store refuses, 503 when the storage failed
// (nothing was changed either way).
func (s *Server) changeFailed(w http.ResponseWriter, err error) bool {
	if err == nil {
		return false
	}
	var fe *stats.FieldError
	if errors.As(err, &fe) {
		writeError(w, http.StatusBadRequest, err.Error())
		return true
	}
	s.cfg.Logger.Error("change", "err", err)
	writeError(w, http.StatusServiceUnavailable, "storage unavailable, nothing was changed: "+err.Error())
	return true
}

// reloadPrices is POST /app/reload-prices: `tokenstats prices update` stored a newer price file in the
// data folder; the running instance reads it and re-prices what changed.
func (s *Server) reloadPrices(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ReloadPrices == nil {
		writeError(w, http.StatusNotFound, "this Token Stats does not keep a price file")
		return
	}
	if err := s.cfg.ReloadPrices(r.Context()); err != nil {
		writeError(w, http.StatusBadRequest, "the price file was not taken: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "repricing": repricingJSON(s.cfg.Store.Repricing())})
}
