// Package passthrough is the recording pass-through: a request to /proxy/{upstream}/… is forwarded
// untouched to that configured upstream API, its answer comes back untouched and as it arrives, and the
// usage the answer carries (read from a copy by usage.AnswerScanner) becomes one stats.Record. Clients
// bring their own upstream credentials; they are used only in memory, to forward the request and to
// name the credential by an irreversible fingerprint.
package passthrough

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
)

// Prefix is the path under which the pass-through answers.
const Prefix = "/proxy/"

// Request headers meant for Token Stats: read, then removed before forwarding.
const (
	AccountHeader = "X-TokenStats-Account"
	SourceHeader  = "X-TokenStats-Source"
)

// GoogleUserInfoURL is where a Code Assist bearer token's account e-mail is looked up (the endpoint
// Gemini CLI itself asks, packages/core/src/code_assist/oauth2.ts).
const GoogleUserInfoURL = "https://www.googleapis.com/oauth2/v2/userinfo"

// noteGap is the least time between two notes of one source's errors: an upstream that refuses every
// request must not turn each into a database write.
const noteGap = 10 * time.Second

// Config is what a Handler needs.
type Config struct {
	Upstreams []Upstream
	// Record stores one record (the listener's store); it is called after the answer has gone to the
	// client, off the request's goroutine.
	Record func(ctx context.Context, rec stats.Record) error
	// NoteError records what went wrong with a source (an upstream's 401, an unreachable host), for the
	// Sources view. The handler calls it at most once per source every noteGap; the text never holds a
	// credential.
	NoteError func(ctx context.Context, source, msg string)
	Logger    *slog.Logger
	Now       func() time.Time // nil: time.Now
	// Transport reaches the upstreams; nil uses one with connect and TLS timeouts and no overall one.
	Transport http.RoundTripper
	// LookupEmail turns on naming a Code Assist bearer token's account by its Google e-mail, looked up
	// once per token at UserInfoURL (GoogleUserInfoURL when empty) and kept in memory.
	LookupEmail bool
	UserInfoURL string
}

// Handler serves Prefix. It is an http.Handler.
type Handler struct {
	cfg       Config
	log       *slog.Logger
	table     atomic.Pointer[table]
	lookup    atomic.Bool
	proxy     *httputil.ReverseProxy
	client    *http.Client // the userinfo lookups
	emails    emailCache
	pending   sync.WaitGroup // records and notes not yet stored
	notesMu   sync.Mutex
	lastNoted map[string]time.Time
}

type table struct {
	list []Upstream
	base map[string]*url.URL
}

// New builds a Handler; every upstream must pass Check.
func New(cfg Config) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport()
	}
	if cfg.UserInfoURL == "" {
		cfg.UserInfoURL = GoogleUserInfoURL
	}
	if cfg.Record == nil || cfg.NoteError == nil {
		return nil, errors.New("passthrough: Record and NoteError are required")
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, lastNoted: map[string]time.Time{},
		client: &http.Client{Transport: cfg.Transport, Timeout: 15 * time.Second}}
	if err := h.SetUpstreams(cfg.Upstreams); err != nil {
		return nil, err
	}
	h.lookup.Store(cfg.LookupEmail)
	h.proxy = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      cfg.Transport,
		FlushInterval:  -1, // every read goes to the client at once: streams stay event by event
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.upstreamFailed,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return h, nil
}

// NewTransport is the default way to the upstreams: bounded time to connect and to shake hands, none
// for the answer (a long generation may take minutes before its first byte, a stream hours), no
// transparent decompression (answers pass through as they were encoded), and the environment's proxy.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// SetUpstreams replaces the upstream table; requests already forwarded keep their upstream.
func (h *Handler) SetUpstreams(list []Upstream) error {
	t := &table{base: map[string]*url.URL{}}
	for _, u := range list {
		if err := u.Check(); err != nil {
			return err
		}
		if _, dup := t.base[u.Name]; dup {
			return fmt.Errorf("upstream %s is named twice", u.Name)
		}
		t.base[u.Name], _ = parseBase(u.URL)
		t.list = append(t.list, u)
	}
	h.table.Store(t)
	return nil
}

// Upstreams is the table in effect.
func (h *Handler) Upstreams() []Upstream {
	return append([]Upstream(nil), h.table.Load().list...)
}

// SetLookupEmail turns the Google account lookup on or off.
func (h *Handler) SetLookupEmail(on bool) { h.lookup.Store(on) }

// Wait returns once every record and note of the requests served so far is stored. Call it after the
// listener has stopped and before the store closes.
func (h *Handler) Wait() { h.pending.Wait() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if msg := crossSite(r); msg != "" {
		writeError(w, http.StatusForbidden, msg)
		return
	}
	name, rest, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := h.table.Load()
	base, ok := t.base[name]
	if !ok {
		names := make([]string, len(t.list))
		for i, u := range t.list {
			names[i] = u.Name
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no upstream named %.70q: use /proxy/{upstream}/…, with one of %s",
			name, strings.Join(names, ", ")))
		return
	}
	ex, err := h.newExchange(r, name, base, rest)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The listener's ReadTimeout would cut a long stream (its expiry cancels the request); a request
	// through here may last as long as its answer does.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
}

// crossSite refuses what a web page could send: an Origin other than this listener's own (every
// cross-origin fetch or form post carries one) or a browser's Sec-Fetch-Site saying another site
// asked. Command-line clients and SDKs send neither.
func crossSite(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, "http://"+r.Host) {
		return "requests from web pages (Origin " + clip(o, 80) + ") may not use the pass-through"
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return ""
	}
	return "requests from other sites may not use the pass-through"
}

// splitPath reads /proxy/{name}/{rest} from the request's escaped path. rest keeps its escaping; empty
// segments are dropped (a base URL configured with a trailing slash), a trailing slash is kept. Segments
// that are "." or "..", or that decode to something holding a slash, a backslash or a control
// character, are refused: the path must not leave the upstream's base path.
func splitPath(escaped string) (name, rest string, err error) {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	if len(segs) < 2 || segs[1] == "" {
		return "", "", nil // no upstream named: 404 with the list
	}
	name, err = url.PathUnescape(segs[1])
	if err != nil {
		return "", "", errors.New("the upstream name is not valid URL escaping")
	}
	var kept []string
	for _, s := range segs[2:] {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return "", "", fmt.Errorf("path segment %.40q is not valid URL escaping", s)
		}
		if u == "." || u == ".." {
			return "", "", errors.New("the path must not contain . or .. segments")
		}
		for _, c := range []byte(u) {
			if c == '/' || c == '\\' || c < 0x20 || c == 0x7f {
				return "", "", fmt.Errorf("path segment %.40q holds an escaped slash, backslash or control character", s)
			}
		}
		kept = append(kept, s)
	}
	if len(kept) > 0 {
		rest = "/" + strings.Join(kept, "/")
		if strings.HasSuffix(escaped, "/") {
			rest += "/"
		}
	}
	return name, rest, nil
}

// target is the upstream URL of a request: the base URL's path with rest after it, and the request's
// query exactly as it came.
func target(base *url.URL, rest, rawQuery string) *url.URL {
	u := *base
	esc := base.EscapedPath() + rest
	p, err := url.PathUnescape(esc)
	if err != nil { // splitPath checked every segment; the base was parsed
		p = base.Path
	}
	u.Path, u.RawPath = p, esc
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	u.RawQuery = rawQuery
	u.ForceQuery = false
	return &u
}

type exchangeKey struct{}

func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	ex := pr.In.Context().Value(exchangeKey{}).(*exchange)
	pr.Out.URL = ex.target
	pr.Out.Host = "" // the upstream's own name
	// Rewrite mode strips forwarding headers; a client that sent them gets them forwarded untouched.
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[k]; ok {
			pr.Out.Header[k] = v
		}
	}
	pr.Out.Header.Del(AccountHeader)
	pr.Out.Header.Del(SourceHeader)
	if pr.Out.Body != nil {
		pr.Out.Body = &requestBody{rc: pr.Out.Body, ex: ex}
	}
}

// upstreamFailed answers when no answer came: 502, and a note for the Sources view. The error of a
// failed round trip names the URL, query (and so a key= credential) included, so only its cause is used.
func (h *Handler) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	ex, _ := r.Context().Value(exchangeKey{}).(*exchange)
	if r.Context().Err() != nil {
		return // the client left; nobody is waiting for an answer
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := fmt.Sprintf("upstream %s (%s) could not be reached: %v", ex.upstream, ex.target.Host, err)
	h.note(ex.source, msg)
	writeError(w, http.StatusBadGateway, msg)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]any{"success": false, "error": msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// note records a source's error, at most once per noteGap, after the answer (a goroutine the handler
// waits for on Wait).
func (h *Handler) note(source, msg string) {
	now := h.cfg.Now()
	h.notesMu.Lock()
	last, seen := h.lastNoted[source]
	if seen && now.Sub(last) < noteGap && now.Sub(last) >= 0 {
		h.notesMu.Unlock()
		return
	}
	if len(h.lastNoted) > 1000 {
		clear(h.lastNoted) // names come from a header; keep the map bounded
	}
	h.lastNoted[source] = now
	h.notesMu.Unlock()
	h.pending.Add(1)
	go func() {
		defer h.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.cfg.NoteError(ctx, source, msg)
	}()
}

// clip shortens s to at most n bytes of whole characters for a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
