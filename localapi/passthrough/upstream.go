package passthrough

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Upstream is one API the pass-through forwards to: /proxy/{Name}/… goes to URL/….
type Upstream struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Builtins are the upstreams every instance knows; configuration adds others or re-points these.
func Builtins() []Upstream {
	return []Upstream{
		{"gemini-code-assist", "https://cloudcode-pa.googleapis.com"},
		{"antigravity", "https://daily-cloudcode-pa.googleapis.com"},
		{"gemini", "https://generativelanguage.googleapis.com"},
		{"openai", "https://api.openai.com"},
		{"anthropic", "https://api.anthropic.com"},
	}
}

// IsBuiltin reports whether name is one of the built-in upstreams.
func IsBuiltin(name string) bool {
	return slices.ContainsFunc(Builtins(), func(u Upstream) bool { return u.Name == name })
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Check validates an upstream: a name of lower-case letters, digits, '.', '_' and '-' (it is a path
// segment and a source name), and an http or https URL without credentials, query or fragment (the
// request's own path and query are appended to it).
func (u Upstream) Check() error {
	if !validName.MatchString(u.Name) {
		return fmt.Errorf("upstream name %.70q: use 1–63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", u.Name)
	}
	_, err := parseBase(u.URL)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	return nil
}

func parseBase(raw string) (*url.URL, error) {
	b, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("URL %.100q does not parse", raw)
	case b.Scheme != "http" && b.Scheme != "https":
		return nil, fmt.Errorf("URL %.100q: want http:// or https://", raw)
	case b.Host == "":
		return nil, fmt.Errorf("URL %.100q has no host", raw)
	case b.User != nil:
		// A user:password in the URL would be written to settings.json; the client sends credentials.
		return nil, fmt.Errorf("URL of host %s must not carry a user name or password", b.Host)
	case b.RawQuery != "" || b.Fragment != "" || strings.HasSuffix(raw, "?"):
		return nil, fmt.Errorf("URL %.100q must not have a query or fragment", raw)
	}
	b.Path = strings.TrimSuffix(b.Path, "/")
	b.RawPath = strings.TrimSuffix(b.RawPath, "/")
	return b, nil
}

// ParseUpstream reads NAME=URL, as --upstream takes it.
func ParseUpstream(s string) (Upstream, error) {
	name, u, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return Upstream{}, fmt.Errorf("upstream %.100q: want NAME=URL, e.g. openai=https://api.openai.com", s)
	}
	up := Upstream{Name: strings.TrimSpace(name), URL: strings.TrimSpace(u)}
	return up, up.Check()
}

// ParseList reads NAME=URL,NAME=URL, as TOKENSTATS_UPSTREAMS holds them; empty items are skipped.
func ParseList(s string) ([]Upstream, error) {
	var out []Upstream
	for _, item := range strings.Split(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		u, err := ParseUpstream(item)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// Merge lays each list over the ones before it: a later entry with a name already present re-points
// it, a new name is added. Merge(Builtins(), saved, flags) is the table in effect.
func Merge(lists ...[]Upstream) []Upstream {
	var out []Upstream
	for _, l := range lists {
		for _, u := range l {
			if i := slices.IndexFunc(out, func(o Upstream) bool { return o.Name == u.Name }); i >= 0 {
				out[i].URL = u.URL
			} else {
				out = append(out, u)
			}
		}
	}
	return out
}
