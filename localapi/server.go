// Package localapi is Token Stats' HTTP listener: usage ingest from proxies (POST /usage) and from
// agents and gateways (OTLP/HTTP, LiteLLM's logger), the /stats/* JSON API, the browser tab, the
// recording pass-through (/proxy/…, package passthrough), and the checks every request passes first
// (Host header, then the token or the browser session).
package localapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenstats/tokenstats/localapi/passthrough"
	"github.com/tokenstats/tokenstats/stats"
)

// Config is what a Server needs.
type Config struct {
	Store   *stats.Store
	Token   string
	Version string
	// AllowedHosts are Host header names accepted besides loopback names and addresses: the address the
	// user chose to listen on, when that is not loopback.
	AllowedHosts []string
	Logger       *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it to pin windows.
	Now func() time.Time
	// OnShow is called by POST /app/show (a second launch asking this one to show its window); nil
	// answers 404, as a headless instance has no window. SetOnShow sets it later.
	OnShow func()
	// CacheSavings says what cached tokens saved in a window against the input price (false: it cannot
	// say); /stats/summary then carries cache_savings_usd. nil leaves the field out.
	CacheSavings func(ctx context.Context, w stats.Window, f stats.Filter) (stats.Money, bool)
	// Language is the app's chosen language ("en", "zh-Hans"; "" follows the system): the browser tab
	// speaks it unless the tab itself was switched, and follows Accept-Language when it is "".
	Language func() string
	// The pass-through (/proxy/{upstream}/…): its upstreams (nil: passthrough.Builtins), the transport
	// to them (nil: passthrough.NewTransport), and the optional Google account lookup.
	Upstreams      []passthrough.Upstream
	ProxyTransport http.RoundTripper
	LookupEmail    bool
	UserInfoURL    string
	// ReloadPrices is called by POST /app/reload-prices, after `tokenstats prices update` stored a newer
	// price file in the data folder; nil answers 404.
	ReloadPrices func(ctx context.Context) error
}

// Server serves the local API. It is an http.Handler.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	mu       sync.RWMutex
	token    string
	sessions sessions
	done     chan struct{} // closed by Shutdown: ends the event streams
	stopOnce sync.Once
	show     atomic.Pointer[func()]
	web      webState // the tab's translations and chart font, loaded on first use
	proxy    *passthrough.Handler
	// ingestErrors count refused and failed ingest requests since start, for /metrics.
	ingestErrors struct{ invalid, storage atomic.Int64 }
}

// New builds a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), token: cfg.Token, done: make(chan struct{})}
	if cfg.OnShow != nil {
		s.SetOnShow(cfg.OnShow)
	}
	s.proxy = s.newProxy()
	s.routes()
	return s
}

func (s *Server) routes() {
	s.handle("/healthz", http.MethodGet, s.healthz)
	s.handle("/usage", http.MethodPost, s.ingest)
	s.handle("/stats/summary", http.MethodGet, s.summary)
	s.handle("/stats/by-model", http.MethodGet, s.breakdown(stats.ByModel))
	s.handle("/stats/by-account", http.MethodGet, s.breakdown(stats.ByAccount))
	s.handle("/stats/by-source", http.MethodGet, s.breakdown(stats.BySource))
	s.handle("/stats/by-credential", http.MethodGet, s.breakdown(stats.ByCredential))
	s.handle("/stats/trend/model", http.MethodGet, s.trend(stats.ByModel))
	s.handle("/stats/trend/account", http.MethodGet, s.trend(stats.ByAccount))
	s.handle("/stats/trend/source", http.MethodGet, s.trend(stats.BySource))
	s.handle("/stats/trend/credential", http.MethodGet, s.trend(stats.ByCredential))
	s.handle("/stats/clear", http.MethodDelete, s.clear)
	s.handle("/stats/db-info", http.MethodGet, s.dbInfo)
	s.handle("/app/show", http.MethodPost, s.showWindow)
	s.transferRoutes()
	s.moneyRoutes()
	s.webRoutes()
	s.telemetryRoutes()
	s.sourceRoutes()
	s.opsRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: "+r.URL.Path)
	})
}

// handle registers a route for one method; other methods get a JSON 405 that names the allowed one.
func (s *Server) handle(path, method string, h http.HandlerFunc) {
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+path+"; use "+method)
			return
		}
		h(w, r)
	})
}

// SetToken replaces the token, for "regenerate token"; requests with the old one are refused from now on
// and every browser session ends.
func (s *Server) SetToken(t string) {
	s.mu.Lock()
	s.token = t
	s.mu.Unlock()
	s.sessions.reset()
}

// Shutdown ends the open event streams, which would otherwise hold http.Server.Shutdown until its
// deadline. Register it with http.Server.RegisterOnShutdown.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() { close(s.done) })
}

// Token is the token requests must carry.
func (s *Server) Token() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.token
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveProxy(w, r) {
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if !s.hostAllowed(r.Host) {
		writeError(w, http.StatusForbidden, "Host "+r.Host+" is not a loopback name or address")
		return
	}
	if !isPublic(r.URL.Path) {
		if status, msg := s.authorize(r); status != 0 {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tokenstats"`)
			}
			writeError(w, status, msg)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// isPublic lists what needs no login: the health check, and the browser tab's page (which shows only a
// token form without a session) and its static script, style and font.
func isPublic(path string) bool {
	switch path {
	case "/healthz", "/", "/app.js", "/app.css", FontPath:
		return true
	}
	return false
}

// authorize answers 0 when the request may go on, else the status and message to refuse it with. The
// Bearer token allows everything. The browser session cookie allows reads and the one change the tab
// offers (clear), which must also come from the tab's own script (same Origin plus a header no
// cross-site form or image can send); ingest and any other change need the token.
func (s *Server) authorize(r *http.Request) (int, string) {
	if s.bearerOK(r) {
		return 0, ""
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	if !s.sessions.valid(r, s.cfg.Now()) || !read && r.URL.Path != "/stats/clear" {
		return http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token> (tokenstats token prints it)"
	}
	if !read && !fromOwnPage(r) {
		return http.StatusForbidden, "a change made with the browser session must come from the Token Stats page itself"
	}
	return 0, ""
}

// fromOwnPage reports whether a request carries the page script's marks: an Origin equal to this
// listener's own and the X-TokenStats header (which cross-site forms cannot set, and fetch only with a
// CORS preflight this server never grants).
func fromOwnPage(r *http.Request) bool {
	return r.Header.Get(PageHeader) == "1" && strings.EqualFold(r.Header.Get("Origin"), "http://"+r.Host)
}

func (s *Server) bearerOK(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	want := s.Token()
	return want != "" && subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(want)) == 1
}

// hostAllowed defends against DNS rebinding: a page on evil.example that resolves to 127.0.0.1 still
// sends "Host: evil.example", which is refused.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		if strings.EqualFold(host, a) {
			return true
		}
	}
	return false
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": s.cfg.Version})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // API clients read JSON, not HTML; the browser tab inserts text, never markup
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"success":false,"error":"encode answer"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"success": false, "error": msg})
}
