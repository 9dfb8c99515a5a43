package localapi

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/transfer"
)

// transferRoutes registers the export and import routes (docs/export-import.md).
func (s *Server) transferRoutes() {
	s.handle("/stats/export", http.MethodGet, s.exportRecords)
	s.handle("/stats/import", http.MethodPost, s.importRecords)
}

// exportRecords is GET /stats/export: every raw record of the window that the filters keep, as CSV or
// JSONL, streamed as it is read, so its size never grows the process.
func (s *Server) exportRecords(w http.ResponseWriter, r *http.Request) {
	win, f, ok := s.window(w, r)
	if !ok {
		return
	}
	format, err := transfer.ParseExportFormat(cmp.Or(r.URL.Query().Get("format"), "csv"))
	var withBOM bool
	if err == nil {
		withBOM, err = parseBOM(r)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	loc := s.cfg.Store.Location()
	out := &sentWriter{w: w}
	ew, err := transfer.NewWriter(out, format, loc, withBOM)
	if err == nil {
		contentType := "text/csv; charset=utf-8; header=present"
		if format == transfer.JSONL {
			contentType = "application/x-ndjson; charset=utf-8"
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Disposition", attachment("records", win, s.cfg.Now(), loc, string(format)))
		if err = s.cfg.Store.Export(r.Context(), win, f, ew.Write); err == nil {
			err = ew.Close()
		}
	}
	if err == nil || r.Context().Err() != nil {
		return
	}
	s.cfg.Logger.Error("export", "err", err)
	if out.sent {
		// The status went out with the first bytes: break the connection, so the client sees a failed
		// download rather than a file that silently stops.
		panic(http.ErrAbortHandler)
	}
	w.Header().Del("Content-Disposition")
	writeError(w, http.StatusInternalServerError, "export failed: "+err.Error())
}

// importRecords is POST /stats/import: POST /usage's body (records in its format, all stored or none),
// stored as imported records, which limits and alerts treat as history rather than live use.
func (s *Server) importRecords(w http.ResponseWriter, r *http.Request) {
	s.ingestKind(w, r, stats.KindImport)
}

// csvAsked reads the format parameter of a table or trend route: json (the default) or csv.
func csvAsked(w http.ResponseWriter, r *http.Request) (asCSV, ok bool) {
	switch r.URL.Query().Get("format") {
	case "", "json":
		return false, true
	case "csv":
		return true, true
	}
	writeError(w, http.StatusBadRequest, fmt.Sprintf("format must be json or csv, not %.20q", r.URL.Query().Get("format")))
	return false, false
}

// writeCSVTable answers a table or trend as a CSV download named after what it holds.
func (s *Server) writeCSVTable(w http.ResponseWriter, r *http.Request, what string, win stats.Window,
	write func(w io.Writer, withBOM bool) error) {
	withBOM, err := parseBOM(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var buf bytes.Buffer
	if err := write(&buf, withBOM); err != nil {
		s.queryFailed(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
	w.Header().Set("Content-Disposition", attachment(what, win, s.cfg.Now(), s.cfg.Store.Location(), "csv"))
	w.Write(buf.Bytes())
}

// parseBOM reads bom=: a CSV starts with a UTF-8 byte order mark unless bom=0, so spreadsheets read it
// as UTF-8 (docs/export-import.md).
func parseBOM(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("bom") {
	case "", "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, errors.New("bom must be 1 or 0")
}

// attachment is a Content-Disposition naming the download after what it holds, its window and when it
// was made: tokenstats-records-24h-20260122-1604.csv.
func attachment(what string, win stats.Window, now time.Time, loc *time.Location, ext string) string {
	span := fmt.Sprintf("%dh", win.Hours())
	if win.Hours() >= stats.MaxHours {
		span = "all"
	}
	return fmt.Sprintf(`attachment; filename="tokenstats-%s-%s-%s.%s"`, what, span,
		now.In(loc).Format("20060102-1504"), ext)
}

// sentWriter notes whether anything reached the client, after which the status cannot change.
type sentWriter struct {
	w    io.Writer
	sent bool
}

func (sw *sentWriter) Write(p []byte) (int, error) {
	sw.sent = sw.sent || len(p) > 0
	return sw.w.Write(p)
}
