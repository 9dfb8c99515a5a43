package localapi

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/assets/web"
	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

const (
	// PageHeader is the request header the tab's script sends with every change (see fromOwnPage).
	PageHeader = "X-TokenStats"
	// heartbeatEvery keeps idle event streams (and the proxies between) from timing out.
	heartbeatEvery = 15 * time.Second
	// minEventGap coalesces bursts of ingest into at most a few change events per second.
	minEventGap = 500 * time.Millisecond
)

// pageCSP allows the tab only its own script, style, images and API: no inline script, no outside
// resource, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

var loginPage = template.Must(template.ParseFS(web.Files, "login.html"))

// LoginURL is the link that opens the browser tab signed in (the tray's "Open in browser"): base is the
// listener's address, e.g. http://127.0.0.1:8788.
func LoginURL(base, token string) string {
	return strings.TrimSuffix(base, "/") + "/?token=" + url.QueryEscape(token)
}

func (s *Server) webRoutes() {
	s.mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on /; use GET")
			return
		}
		s.page(w, r)
	})
	s.handle("/app.js", http.MethodGet, static("app.js", "text/javascript; charset=utf-8"))
	s.handle("/app.css", http.MethodGet, static("app.css", "text/css; charset=utf-8"))
	s.handle("/stats/events", http.MethodGet, s.events)
	s.handle("/stats/chart/model.svg", http.MethodGet, s.chart(stats.ByModel))
	s.handle("/stats/chart/account.svg", http.MethodGet, s.chart(stats.ByAccount))
}

func pageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// page is GET /: the tab with a session; the token form without one. GET /?token=… logs in like a Jupyter
// link: a right token gets a session cookie and a redirect to / (so the token leaves the address bar and
// history); a wrong one gets the form again.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	if r.URL.Query().Has("token") {
		got, want := r.URL.Query().Get("token"), s.Token()
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			s.login(w, http.StatusUnauthorized, "That token is not right. Run `tokenstats token` to print it, or use the link the app opens.")
			return
		}
		id, err := s.sessions.create(s.cfg.Now())
		if err != nil {
			s.cfg.Logger.Error("browser login", "err", err)
			writeError(w, http.StatusInternalServerError, "could not start a session: "+err.Error())
			return
		}
		http.SetCookie(w, sessionCookie(id))
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !s.sessions.valid(r, s.cfg.Now()) {
		s.login(w, http.StatusOK, "")
		return
	}
	serveFile(w, "index.html", "text/html; charset=utf-8")
}

func (s *Server) login(w http.ResponseWriter, status int, msg string) {
	var buf bytes.Buffer
	if err := loginPage.Execute(&buf, map[string]string{"Error": msg}); err != nil {
		writeError(w, http.StatusInternalServerError, "login page: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func static(name, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { serveFile(w, name, ctype) }
}

func serveFile(w http.ResponseWriter, name, ctype string) {
	b, err := fs.ReadFile(web.Files, name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "embedded file "+name+" missing")
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Write(b)
}

// events is GET /stats/events, a server-sent event stream: "change" after new or cleared data (bursts
// coalesced), a comment every heartbeatEvery. It ends when the client leaves, the store closes or the
// server shuts down.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		return
	}
	changes, stop := s.cfg.Store.Changes()
	defer stop()
	rc := http.NewResponseController(w)
	// The listener's ReadTimeout would end a long stream (its expiry cancels the request); this request
	// has no body left to read.
	rc.SetReadDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\nevent: ready\ndata: {}\n\n")
	if rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	var last time.Time
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case _, ok := <-changes:
			if !ok {
				return // the store closed
			}
			if wait := minEventGap - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				case <-s.done:
					t.Stop()
					return
				}
			}
			// Changes that arrived while waiting sit in the channel's one-slot buffer: one more event later.
			fmt.Fprint(w, "event: change\ndata: {}\n\n")
			last = time.Now()
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// chart is GET /stats/chart/{model,account}.svg?hours=&width=&height=&dark=1: the trend drawn by the same
// code and policy as the desktop window (package chart).
func (s *Server) chart(d stats.Dimension) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hours, err := parseHours(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		width, err := wholeParam(r, "width", 800, 200, 2400)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		height, err := wholeParam(r, "height", 300, 120, 1200)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		tr, err := chart.Trend(r.Context(), s.cfg.Store, stats.TrendQuery{Dimension: d, End: s.cfg.Now(), Hours: hours})
		if err != nil {
			s.queryFailed(w, err)
			return
		}
		var buf bytes.Buffer
		opt := chart.Options{Width: width, Height: height, Dark: r.URL.Query().Get("dark") == "1"}
		if err := chart.SVG(&buf, chart.FromTrend(tr), opt); err != nil {
			s.cfg.Logger.Error("chart", "err", err)
			writeError(w, http.StatusInternalServerError, "draw chart: "+err.Error())
			return
		}
		// Opened on its own, the document may style itself but never run anything.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(buf.Bytes())
	}
}
