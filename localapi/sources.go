package localapi

import (
	"net/http"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

func (s *Server) sourceRoutes() {
	s.handle("/stats/sources", http.MethodGet, s.sources)
}

type sourceJSON struct {
	Name         string     `json:"name"`
	Kind         string     `json:"kind"`
	First        *string    `json:"first"` // RFC 3339 in the app's zone; null until the first record
	Last         *string    `json:"last"`
	RecordsToday int64      `json:"records_today"`
	TokensToday  int64      `json:"tokens_today"`
	Today        totalsJSON `json:"today"`
	Error        string     `json:"error"` // the last thing that went wrong, "" when nothing did
	ErrorAt      *string    `json:"error_at"`
	Ignored      int64      `json:"ignored"`
	Note         string     `json:"note"`
}

func timeJSON(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.Format(time.RFC3339)
	return &v
}

// sources is GET /stats/sources: every source that ever reported or tried to, most recently active
// first, with its records and tokens since local midnight and its last error.
func (s *Server) sources(w http.ResponseWriter, r *http.Request) {
	today := stats.Today(s.cfg.Now(), s.cfg.Store.Location())
	list, err := s.cfg.Store.Sources(r.Context(), today)
	if err != nil {
		s.queryFailed(w, err)
		return
	}
	out := make([]sourceJSON, len(list))
	for i, src := range list {
		out[i] = sourceJSON{Name: src.Name, Kind: src.Kind, First: timeJSON(src.First), Last: timeJSON(src.Last),
			RecordsToday: src.Today.Requests, TokensToday: src.Today.TotalTokens(), Today: toTotalsJSON(src.Today),
			Error: src.Error, ErrorAt: timeJSON(src.ErrorAt), Ignored: src.Ignored, Note: src.Note}
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "today_from": today.From.Add(time.Second).Format(time.RFC3339),
		"data": out})
}
