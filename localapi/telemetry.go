package localapi

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/litellm"
	"github.com/tokenstats/tokenstats/usage/otlp"
)

// Usage that tools report about themselves: OTLP/HTTP exports from coding agents and GenAI-instrumented
// apps (POST /v1/logs, /v1/metrics, /v1/traces) and LiteLLM's generic logger (POST /ingest/litellm).
// docs/telemetry.md says what becomes a record. Every path ends in Store.Record, and tells the Sources
// view what it ignored or could not store.

// Keys of the states the OTLP paths keep in the store, written in the same transaction as the records
// they led to.
const (
	// seriesStatePrefix + the decoder's series hash: the last counted point of a cumulative series.
	seriesStatePrefix = "otlp:series:"
	// eventsStatePrefix + the agent's service.name: when its events (log records or spans that became
	// records) last arrived, in Unix seconds.
	eventsStatePrefix = "otlp:events:"
)

const (
	// eventsWindow is how long an agent's events keep its token metrics from counting (events win):
	// should its events stop, its metrics count again after this long.
	eventsWindow = 24 * time.Hour
	// eventsRefresh is how old the stored time of an agent's events may get before an export writes it
	// again, so that not every export writes a state.
	eventsRefresh = time.Hour
	// maxNoteText bounds the note and error texts written to the Sources view.
	maxNoteText = 400
)

// telemetry holds what the routes share: the events-win state and the notes written to Sources.
type telemetry struct {
	s *Server
	// mu serialises everything that reads and writes OTLP states: each metrics export (two exports of
	// one cumulative series must not both count the same increase) and each events export that
	// records when an agent's events arrived.
	mu       sync.Mutex
	eventsAt map[string]time.Time // agent key → when its events last arrived; nil until read from the store

	notesMu sync.Mutex
	notes   map[string]string // source → the last note written, so an unchanged note is not written again
	win     map[string]bool   // sources whose token metrics were ignored because their events count
}

// telemetryRoutes registers the OTLP/HTTP and LiteLLM routes.
func (s *Server) telemetryRoutes() {
	t := &telemetry{s: s, notes: map[string]string{}, win: map[string]bool{}}
	s.handle("/v1/logs", http.MethodPost, t.export(otlp.Logs))
	s.handle("/v1/metrics", http.MethodPost, t.export(otlp.Metrics))
	s.handle("/v1/traces", http.MethodPost, t.export(otlp.Traces))
	s.handle("/ingest/litellm", http.MethodPost, t.litellm)
}

// export serves one OTLP/HTTP signal: 200 with the Export…ServiceResponse in the request's encoding, or
// a google.rpc.Status with 400 (does not decode), 413 (over 20 MiB, on the wire or inflated), 415
// (another content type or encoding) or 503 (storage failed; the exporter retries).
func (t *telemetry) export(sig otlp.Signal) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		enc, err := otlp.EncodingOf(r.Header.Get("Content-Type"))
		if err != nil {
			otlpFail(w, otlp.JSON, http.StatusUnsupportedMediaType, err.Error())
			return
		}
		body, err := otlp.ReadBody(r.Body, r.Header.Get("Content-Encoding"))
		switch {
		case errors.Is(err, otlp.ErrTooLarge):
			otlpFail(w, enc, http.StatusRequestEntityTooLarge, err.Error()+"; export smaller batches")
			return
		case errors.Is(err, otlp.ErrUnsupported):
			otlpFail(w, enc, http.StatusUnsupportedMediaType, err.Error())
			return
		case err != nil:
			otlpFail(w, enc, http.StatusBadRequest, "read body: "+err.Error())
			return
		}
		if len(body) == 0 {
			// An empty export is a valid empty message in either encoding.
			writeOTLP(w, sig, enc, 0, "")
			return
		}
		now := t.s.cfg.Now()
		var res otlp.Result
		var refused []refusal
		if sig == otlp.Metrics {
			res, refused, err = t.metrics(r.Context(), body, enc, now)
		} else {
			res, refused, err = t.logsOrTraces(r.Context(), sig, body, enc, now)
		}
		var bad badBody
		switch {
		case errors.As(err, &bad):
			otlpFail(w, enc, http.StatusBadRequest, err.Error())
			return
		case errors.Is(err, context.Canceled):
			return // the exporter left before anything was queued; nothing was stored
		case err != nil:
			t.s.cfg.Logger.Error("store OTLP export", "err", err, "records", len(res.Records))
			otlpFail(w, enc, http.StatusServiceUnavailable, "storage unavailable, nothing was stored; retry later: "+err.Error())
			return
		}
		for _, rf := range refused {
			count(&res.Rejected, rf.reason)
			if res.BySource[rf.source] == nil {
				res.BySource[rf.source] = &otlp.Tally{}
			}
			count(&res.BySource[rf.source].Rejected, rf.reason)
		}
		t.noteOTLP(context.WithoutCancel(r.Context()), res) // the records are in: so is what the Sources view says of them
		msg := ""
		if len(res.Rejected) > 0 {
			msg = rejectedText(res.Rejected)
		}
		writeOTLP(w, sig, enc, res.RejectedCount(), msg)
	}
}

// badBody marks a decoding error: the body, not the server, is at fault (400).
type badBody struct{ error }

// logsOrTraces decodes and stores a logs or traces export. The time its agents' events arrived is kept
// in the same transaction as their records, so those agents' token metrics are not counted beside them.
func (t *telemetry) logsOrTraces(ctx context.Context, sig otlp.Signal, body []byte, enc otlp.Encoding, now time.Time) (otlp.Result, []refusal, error) {
	var res otlp.Result
	var err error
	if sig == otlp.Logs {
		res, err = otlp.DecodeLogs(body, enc, now)
	} else {
		res, err = otlp.DecodeTraces(body, enc, now)
	}
	if err != nil {
		return res, nil, badBody{err}
	}
	ensureMaps(&res)
	t.mu.Lock()
	if err := t.loadEvents(ctx); err != nil {
		t.mu.Unlock()
		return res, nil, err
	}
	state := map[string][]byte{}
	for _, a := range res.Agents {
		k := agentKey(a)
		if last, ok := t.eventsAt[k]; !ok || now.Sub(last) >= eventsRefresh || last.After(now) {
			state[eventsStatePrefix+k] = []byte(strconv.FormatInt(now.Unix(), 10))
		}
	}
	if len(state) == 0 {
		t.mu.Unlock() // nothing to order against the metrics exports
		_, refused, err := t.s.storeRecords(ctx, res.Records, nil)
		return res, refused, err
	}
	defer t.mu.Unlock()
	_, refused, err := t.s.storeRecords(ctx, res.Records, state)
	if err == nil {
		for k := range state {
			t.eventsAt[strings.TrimPrefix(k, eventsStatePrefix)] = now
		}
	}
	return res, refused, err
}

// metrics decodes a metrics export and counts it against the series states in the store, storing the
// records and the new states in one transaction. Exports are counted one at a time.
func (t *telemetry) metrics(ctx context.Context, body []byte, enc otlp.Encoding, now time.Time) (otlp.Result, []refusal, error) {
	batch, err := otlp.DecodeMetrics(body, enc)
	if err != nil {
		return otlp.Result{}, nil, badBody{err}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.loadEvents(ctx); err != nil {
		return otlp.Result{}, nil, err
	}
	prev := map[string]otlp.SeriesState{}
	for _, k := range batch.SeriesKeys() {
		m, err := t.s.cfg.Store.State(ctx, seriesStatePrefix+k)
		if err != nil {
			return otlp.Result{}, nil, err
		}
		if v, ok := m[seriesStatePrefix+k]; ok {
			var st otlp.SeriesState
			if err := json.Unmarshal(v, &st); err != nil {
				return otlp.Result{}, nil, fmt.Errorf("read series state: %w", err)
			}
			prev[k] = st
		}
	}
	out := batch.Apply(prev, now, func(agent string) bool {
		if otlp.SendsEventsWithMetrics(agent) {
			return true
		}
		last, ok := t.eventsAt[agentKey(agent)]
		return ok && now.Sub(last) < eventsWindow
	})
	res := out.Result
	ensureMaps(&res)
	state := make(map[string][]byte, len(out.States))
	for _, st := range out.States {
		b, err := json.Marshal(st)
		if err != nil {
			return res, nil, fmt.Errorf("encode series state: %w", err)
		}
		state[seriesStatePrefix+st.Key] = b
	}
	_, refused, err := t.s.storeRecords(ctx, res.Records, state)
	return res, refused, err
}

// loadEvents reads the agents' events times from the store once. Callers hold t.mu.
func (t *telemetry) loadEvents(ctx context.Context) error {
	if t.eventsAt != nil {
		return nil
	}
	m, err := t.s.cfg.Store.State(ctx, eventsStatePrefix)
	if err != nil {
		return err
	}
	t.eventsAt = make(map[string]time.Time, len(m))
	for k, v := range m {
		if sec, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			t.eventsAt[strings.TrimPrefix(k, eventsStatePrefix)] = time.Unix(sec, 0)
		}
	}
	return nil
}

// agentKey names an agent (service.name, which the sender chooses) in a state key: as it is when short
// and printable, else a hash.
func agentKey(agent string) string {
	if len(agent) <= 100 && !strings.ContainsFunc(agent, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return agent
	}
	sum := sha256.Sum256([]byte(agent))
	return "h:" + hex.EncodeToString(sum[:16])
}

func ensureMaps(res *otlp.Result) {
	if res.Rejected == nil {
		res.Rejected = map[string]int{}
	}
	if res.BySource == nil {
		res.BySource = map[string]*otlp.Tally{}
	}
}

// refusal is a record the store refused: its source and why.
type refusal struct{ source, reason string }

// storeRecords stores recs and state in one transaction. A record the store refuses (a rule the decoder
// let through, such as a time that has since become too far ahead) is left out and returned with its
// reason, so one record never costs the others; any other failure stores nothing and is returned.
func (s *Server) storeRecords(ctx context.Context, recs []stats.Record, state map[string][]byte) (stats.Result, []refusal, error) {
	var refused []refusal
	for {
		res, err := s.cfg.Store.RecordWithState(ctx, recs, state)
		var fe *stats.FieldError
		if !errors.As(err, &fe) {
			return res, refused, err
		}
		i := fe.Index
		if len(recs) == 1 {
			i = 0
		}
		if i < 0 || i >= len(recs) {
			return res, refused, err
		}
		refused = append(refused, refusal{recs[i].Source, "store: " + fe.Field + ": " + fe.Msg})
		recs = append(recs[:i:i], recs[i+1:]...)
	}
}

// noteOTLP tells the Sources view, per source, what an export carried that is not usage (the count,
// and the names in the note), what could not be stored (the error), and that an agent's token metrics
// are ignored because its events count.
func (t *telemetry) noteOTLP(ctx context.Context, res otlp.Result) {
	for src, tl := range res.BySource {
		win := false
		for name := range tl.Ignored {
			if strings.HasSuffix(name, otlp.IgnoredEventsWin) {
				win = true
			}
		}
		t.note(ctx, src, stats.KindOTLP, tl.Ignored, tl.Rejected, win)
	}
}

// note writes one source's note, error and ignored count, when there is something new to say.
func (t *telemetry) note(ctx context.Context, source, kind string, ignored, rejected map[string]int, win bool) {
	if source == "" {
		return
	}
	t.notesMu.Lock()
	if win {
		t.win[source] = true
	}
	var parts []string
	if t.win[source] {
		parts = append(parts, "token metrics not counted: this agent's events are (events win)")
	}
	var names map[string]int
	total := 0
	for name, n := range ignored {
		total += n
		if !strings.HasSuffix(name, otlp.IgnoredEventsWin) {
			if names == nil {
				names = map[string]int{}
			}
			names[name] += n
		}
	}
	if len(names) > 0 {
		parts = append(parts, "not usage, not counted: "+listText(names, false))
	}
	note := strings.Join(parts, "; ")
	changed := note != "" && note != t.notes[source]
	if changed {
		t.notes[source] = note
	}
	t.notesMu.Unlock()
	if !changed {
		note = ""
	}
	n := stats.SourceNote{Name: source, Kind: kind, Ignored: int64(total), Note: clip(note)}
	if len(rejected) > 0 {
		n.Error = rejectedText(rejected)
	}
	if n.Ignored == 0 && n.Error == "" && n.Note == "" {
		return
	}
	if err := t.s.cfg.Store.NoteSource(ctx, n); err != nil {
		t.s.cfg.Logger.Warn("note source", "source", source, "err", err)
	}
}

// rejectedText says what could not be stored and why, most frequent reason first.
func rejectedText(rejected map[string]int) string {
	n := 0
	for _, c := range rejected {
		n += c
	}
	return clip(fmt.Sprintf("%d not stored: %s", n, listText(rejected, true)))
}

// listText lists names, most frequent first, with their counts when withCounts.
func listText(m map[string]int, withCounts bool) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		if b.Len() > maxNoteText {
			b.WriteString("…")
			break
		}
		b.WriteString(k)
		if withCounts {
			fmt.Fprintf(&b, " (%d)", m[k])
		}
	}
	return b.String()
}

func clip(s string) string {
	if len(s) <= maxNoteText {
		return s
	}
	cut := maxNoteText
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

// otlpFail answers a failed export with a google.rpc.Status in the request's encoding.
func otlpFail(w http.ResponseWriter, enc otlp.Encoding, status int, msg string) {
	code := int32(otlp.CodeInvalidArgument)
	switch status {
	case http.StatusRequestEntityTooLarge:
		code = otlp.CodeResourceExhausted
	case http.StatusServiceUnavailable:
		code = otlp.CodeUnavailable
	}
	w.Header().Set("Content-Type", enc.ContentType())
	w.WriteHeader(status)
	w.Write(otlp.EncodeStatus(enc, code, msg))
}

func writeOTLP(w http.ResponseWriter, sig otlp.Signal, enc otlp.Encoding, rejected int64, msg string) {
	w.Header().Set("Content-Type", enc.ContentType())
	w.WriteHeader(http.StatusOK)
	w.Write(otlp.EncodeResponse(sig, enc, rejected, msg))
}

// litellm is POST /ingest/litellm: what LiteLLM's generic_api logger posts (a JSON array, NDJSON or one
// payload, all labelled application/json). LiteLLM does not send a refused batch again, so payloads that
// cannot be stored are counted and the others kept; only a body that is not JSON is refused whole.
func (t *telemetry) litellm(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
		case mt == "application/json", strings.HasSuffix(mt, "+json"), mt == "application/x-ndjson",
			mt == "application/ndjson", mt == "application/jsonl", mt == "application/x-jsonlines":
			err = nil
		default:
			err = errors.New("not JSON")
		}
		if err != nil {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json or NDJSON, not "+strconv.Quote(ct))
			return
		}
	}
	if ce := strings.TrimSpace(r.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Encoding "+strconv.Quote(ce)+" is not supported; send the body uncompressed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, litellm.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d MiB; lower the logger's batch_size", litellm.MaxBodyBytes>>20))
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	res, err := litellm.Decode(body, t.s.cfg.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	stored, refused, err := t.s.storeRecords(r.Context(), res.Records, nil)
	if errors.Is(err, context.Canceled) {
		return
	}
	if err != nil {
		t.s.cfg.Logger.Error("store LiteLLM batch", "err", err, "records", len(res.Records))
		writeError(w, http.StatusServiceUnavailable, "storage unavailable, nothing was stored; retry later: "+err.Error())
		return
	}
	for _, rf := range refused {
		count(&res.Rejected, rf.reason)
	}
	t.note(context.WithoutCancel(r.Context()), litellm.Source, stats.KindLiteLLM, res.Ignored, res.Rejected, false)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "accepted": stored.Accepted,
		"duplicates": stored.Duplicates, "ignored": sumCounts(res.Ignored), "rejected": sumCounts(res.Rejected)})
}

func count(m *map[string]int, key string) {
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[key]++
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}
