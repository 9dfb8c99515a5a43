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

// jsonBodyAllowed applies the content-type rule to a request with a JSON body: with the Bearer token
// any Content-Type is read as JSON (curl -d sends application/x-www-form-urlencoded), since only a
// client that holds the token can send that header; otherwise (the browser session) it must be JSON
// or absent, because a foreign page's form can post form or text bodies with the user's cookie but
// cannot set Content-Type: application/json without a CORS preflight this server never grants.
func (s *Server) jsonBodyAllowed(w http.ResponseWriter, r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" || s.bearerOK(r) {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json, not "+strconv.Quote(ct))
		return false
	}
	return true
}

// ingest is POST /usage: one record or an array of records, all stored or none.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	s.ingestKind(w, r, "")
}

// ingestKind stores a POST body of records as records of kind (KindPost when empty).
func (s *Server) ingestKind(w http.ResponseWriter, r *http.Request, kind string) {
	if !s.jsonBodyAllowed(w, r) {
		s.ingestErrors.invalid.Add(1)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		s.ingestErrors.invalid.Add(1)
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
		s.ingestErrors.invalid.Add(1)
		refuse(w, err)
		return
	}
	for i := range recs {
		recs[i].Kind = kind
	}
	res, err := s.cfg.Store.Record(r.Context(), recs...)
	var fe *stats.FieldError
	if errors.As(err, &fe) {
		s.ingestErrors.invalid.Add(1)
		refuse(w, err) // the store's own rules, should a record get past the decoder's
		return
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the client left before its records were queued; nothing was stored
		}
		s.ingestErrors.storage.Add(1)
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
