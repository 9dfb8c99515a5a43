package localapi

import "net/http"

// SetOnShow sets (or, with nil, removes) the hook POST /app/show calls. The desktop app sets it once its
// window exists, after the listener has started.
func (s *Server) SetOnShow(f func()) {
	if f == nil {
		s.show.Store(nil)
		return
	}
	s.show.Store(&f)
}

// showWindow asks the running app to show and focus its window: a second launch with the same data
// folder calls it instead of starting a second listener. The token is required like everywhere else.
func (s *Server) showWindow(w http.ResponseWriter, r *http.Request) {
	f := s.show.Load()
	if f == nil {
		writeError(w, http.StatusNotFound, "this Token Stats runs without a window (headless)")
		return
	}
	(*f)()
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "window shown"})
}
