package localapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/tokenstats/tokenstats/localapi/passthrough"
	"github.com/tokenstats/tokenstats/stats"
)

// newProxy builds the pass-through over the store. An upstream table that does not check out (the app
// validates it first) is reported and replaced by the built-in one.
func (s *Server) newProxy() *passthrough.Handler {
	pc := passthrough.Config{
		Upstreams: s.cfg.Upstreams,
		Record: func(ctx context.Context, rec stats.Record) error {
			_, err := s.cfg.Store.Record(ctx, rec)
			return err
		},
		NoteError: func(ctx context.Context, source, msg string) {
			if err := s.cfg.Store.NoteSource(ctx, stats.SourceNote{Name: source, Kind: stats.KindProxy, Error: msg}); err != nil {
				s.cfg.Logger.Warn("note a source's error", "source", source, "err", err)
			}
		},
		Logger:      s.cfg.Logger,
		Now:         s.cfg.Now,
		Transport:   s.cfg.ProxyTransport,
		LookupEmail: s.cfg.LookupEmail,
		UserInfoURL: s.cfg.UserInfoURL,
	}
	if pc.Upstreams == nil {
		pc.Upstreams = passthrough.Builtins()
	}
	p, err := passthrough.New(pc)
	if err != nil {
		s.cfg.Logger.Error("pass-through upstreams refused; using the built-in ones", "err", err)
		pc.Upstreams = passthrough.Builtins()
		p, _ = passthrough.New(pc)
	}
	return p
}

// serveProxy serves the pass-through, /proxy/…, and reports whether the request was one. It comes
// before the mux (which would clean the path and redirect) and before the headers every other answer
// gets (the upstream's answer goes back as it came). It needs no token: the caller brings the
// upstream's credentials and the route grants nothing else. The Host check still applies.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/proxy" && !strings.HasPrefix(r.URL.Path, passthrough.Prefix) {
		return false
	}
	if !s.hostAllowed(r.Host) {
		writeError(w, http.StatusForbidden, "Host "+r.Host+" is not a loopback name or address")
		return true
	}
	s.proxy.ServeHTTP(w, r)
	return true
}

// SetUpstreams replaces the pass-through's upstream table at once (the settings window's edits).
func (s *Server) SetUpstreams(list []passthrough.Upstream) error { return s.proxy.SetUpstreams(list) }

// Upstreams is the pass-through's upstream table in effect.
func (s *Server) Upstreams() []passthrough.Upstream { return s.proxy.Upstreams() }

// SetLookupEmail turns the Google account lookup of Code Assist tokens on or off.
func (s *Server) SetLookupEmail(on bool) { s.proxy.SetLookupEmail(on) }

// Wait returns once every record and note of the pass-through's finished requests is stored: call it
// after the listener has stopped and before the store closes.
func (s *Server) Wait() { s.proxy.Wait() }
