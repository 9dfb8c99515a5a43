package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
)

// MaxBodyBytes bounds one POST /usage body.
const MaxBodyBytes = 8 << 20

// ingest is POST /usage: one record or an array of records, all stored or none.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	s.ingestKind(w, r, "")
}

// ingestKind stores a POST body of records as records of kind (KindPost when empty).
func (s *Server) ingestKind(w http.ResponseWriter, r *http.Request, kind string) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json, not "+strconv.Quote(ct))
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes; send smaller batches", MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	now := s.cfg.Now()
	recs, err := usage.DecodeRecords(body, now)
	if err != nil {
		refuse(w, err)
		return
	}
	for i := range recs {
		recs[i].Kind = kind
	}
	res, err := s.cfg.Store.Record(r.Context(), recs...)
	var fe *stats.FieldError
	if errors.As(err, &fe) {
		refuse(w, err) // the store's own rules, should a record get past the decoder's
		return
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the client left before its records were queued; nothing was stored
		}
		s.cfg.Logger.Error("store records", "err", err, "records", len(recs))
		writeError(w, http.StatusServiceUnavailable, "storage unavailable, nothing was stored; retry later: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "accepted": res.Accepted, "duplicates": res.Duplicates})
}

// refuse answers 400 for a body that does not decode or a record that breaks a rule; a batch's bad
// record is also named by its position, "index", so clients need not parse the message.
func refuse(w http.ResponseWriter, err error) {
	body := map[string]any{"success": false, "error": err.Error()}
	if i, ok := usage.RecordIndex(err); ok {
		body["index"] = i
	}
	writeJSON(w, http.StatusBadRequest, body)
}
