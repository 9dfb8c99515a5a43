package app

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tokenstats/tokenstats/localapi/passthrough"
	"github.com/tokenstats/tokenstats/ui"
)

// validUpstreams keeps the saved upstreams that check out; a bad one is reported and skipped, as any bad
// saved setting is.
func validUpstreams(list []passthrough.Upstream, stderr io.Writer) []passthrough.Upstream {
	var out []passthrough.Upstream
	for _, u := range list {
		if err := u.Check(); err != nil {
			fmt.Fprintln(stderr, "tokenstats: ignoring saved upstream:", err)
			continue
		}
		out = append(out, u)
	}
	return out
}

var errUpstreamFixed = errors.New("set by --upstream or TOKENSTATS_UPSTREAMS, which win over the saved setting")

// Upstreams is the pass-through's table as the settings window lists it.
func (b *settingsBackend) Upstreams() []ui.Upstream {
	saved := validUpstreams(b.saved().Upstreams, io.Discard)
	cfg := b.cfg
	cfg.SavedUpstreams = saved
	has := func(l []passthrough.Upstream, name string) bool {
		return slices.ContainsFunc(l, func(u passthrough.Upstream) bool { return u.Name == name })
	}
	var out []ui.Upstream
	for _, u := range cfg.UpstreamTable() {
		out = append(out, ui.Upstream{Name: u.Name, URL: u.URL, Builtin: passthrough.IsBuiltin(u.Name),
			Saved: has(saved, u.Name), Fixed: has(b.cfg.Upstreams, u.Name)})
	}
	return out
}

// SetUpstream adds an upstream or re-points one, in settings.json and, at once, in the running
// pass-through. Pointing a built-in one back at its own URL drops the saved entry.
func (b *settingsBackend) SetUpstream(name, url string) error {
	u := passthrough.Upstream{Name: strings.TrimSpace(name), URL: strings.TrimSpace(url)}
	if err := u.Check(); err != nil {
		return err
	}
	if slices.ContainsFunc(b.cfg.Upstreams, func(f passthrough.Upstream) bool { return f.Name == u.Name }) {
		return fmt.Errorf("upstream %s is %w", u.Name, errUpstreamFixed)
	}
	builtin := slices.Contains(passthrough.Builtins(), u)
	return b.changeUpstreams(func(saved []passthrough.Upstream) []passthrough.Upstream {
		saved = slices.DeleteFunc(saved, func(s passthrough.Upstream) bool { return s.Name == u.Name })
		if builtin {
			return saved
		}
		return append(saved, u)
	})
}

// RemoveUpstream drops a saved upstream; a built-in one returns to its own URL.
func (b *settingsBackend) RemoveUpstream(name string) error {
	if slices.ContainsFunc(b.cfg.Upstreams, func(f passthrough.Upstream) bool { return f.Name == name }) {
		return fmt.Errorf("upstream %s is %w", name, errUpstreamFixed)
	}
	return b.changeUpstreams(func(saved []passthrough.Upstream) []passthrough.Upstream {
		return slices.DeleteFunc(saved, func(s passthrough.Upstream) bool { return s.Name == name })
	})
}

// changeUpstreams edits the saved upstreams and puts the resulting table in effect.
func (b *settingsBackend) changeUpstreams(change func([]passthrough.Upstream) []passthrough.Upstream) error {
	var table []passthrough.Upstream
	err := b.update(func(s *savedSettings) {
		s.Upstreams = change(validUpstreams(s.Upstreams, io.Discard))
		cfg := b.cfg
		cfg.SavedUpstreams = s.Upstreams
		table = cfg.UpstreamTable()
	})
	if err != nil || b.setUpstreams == nil {
		return err
	}
	return b.setUpstreams(table)
}

// LookupEmail tells whether Code Assist tokens are named by their Google account.
func (b *settingsBackend) LookupEmail() bool { return b.saved().LookupGoogleEmail }

// SetLookupEmail turns the Google account lookup on or off, saved and at once.
func (b *settingsBackend) SetLookupEmail(on bool) error {
	if err := b.update(func(s *savedSettings) { s.LookupGoogleEmail = on }); err != nil {
		return err
	}
	if b.setLookup != nil {
		b.setLookup(on)
	}
	return nil
}
