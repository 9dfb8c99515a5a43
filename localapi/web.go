package localapi

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/assets/fonts"
	"github.com/tokenstats/tokenstats/assets/web"
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
// Charts come as data: URLs of PNGs inside the chart JSON; the embedded font is the tab's only font file.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

var (
	loginPage = template.Must(template.ParseFS(web.Files, "login.html"))
	tabPage   = template.Must(template.ParseFS(web.Files, "index.html"))
)

// FontPath is where the tab's web font is served: the embedded Noto Sans SC cut, so Chinese renders in
// a browser on a machine without a CJK font.
const FontPath = "/fonts/noto-sans-sc.ttf"

// pageData is what the tab's and the login page's templates see: the language, its texts (T), and
// every text of that language for the script.
type pageData struct {
	Lang    string
	Error   string
	Strings string // JSON: English text → this language's
	cat     catalog
}

// T is key in the page's language.
func (p pageData) T(key string) string { return p.cat.T(p.Lang, key) }

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
	s.handle(FontPath, http.MethodGet, serveFont)
	s.handle("/stats/events", http.MethodGet, s.events)
	for _, d := range chartDims {
		s.handle("/stats/chart/"+d.String()+".svg", http.MethodGet, s.chartSVG(d))
		s.handle("/stats/chart/"+d.String()+".json", http.MethodGet, s.chartJSON(d))
	}
}

func pageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// page is GET /: the tab with a session; the token form without one. GET /?token=… logs in like a Jupyter
// link: a right token gets a session cookie and a redirect to / (so the token leaves the address bar and
// history); a wrong one gets the form again. GET /?lang=zh-Hans (or en) switches the tab's language
// (a cookie) and redirects to /.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	if l := r.URL.Query().Get("lang"); l != "" && !r.URL.Query().Has("token") {
		if cat, _, err := s.webAssets(); err == nil && cat.known(l) {
			http.SetCookie(w, langCookie(l))
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if r.URL.Query().Has("token") {
		got, want := r.URL.Query().Get("token"), s.Token()
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			s.login(w, r, http.StatusUnauthorized, "That token is not right. Run `tokenstats token` to print it, or use the link the app opens.")
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
		s.login(w, r, http.StatusOK, "")
		return
	}
	s.render(w, r, tabPage, http.StatusOK, "")
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, loginPage, status, msg)
}

// render executes a page template in the request's language.
func (s *Server) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, msg string) {
	cat, _, err := s.webAssets()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "page: "+err.Error())
		return
	}
	p := pageData{Lang: s.langOf(r), cat: cat}
	p.Error = p.T(msg)
	strs, err := json.Marshal(cat[p.Lang])
	if err != nil {
		writeError(w, http.StatusInternalServerError, "page: "+err.Error())
		return
	}
	p.Strings = string(strs)
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		writeError(w, http.StatusInternalServerError, "page: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.Lang)
	w.Header().Set("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// serveFont sends the web font, gzip-compressed as stored when the browser takes gzip (all do). It is
// the same in every build, so browsers may keep it a day.
func serveFont(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "font/ttf")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("Vary", "Accept-Encoding")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(fonts.RegularGzip())
		return
	}
	b, err := fonts.Regular()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Write(b)
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
