package localapi

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/tokenstats/tokenstats/assets/translations"
)

// LangCookie remembers the language chosen in the tab.
const LangCookie = "tokenstats_lang"

// catalog is the translations the tab speaks, by language tag, keyed by the English text (the window's
// files: one set of strings for both).
type catalog map[string]map[string]string

func loadCatalog() (catalog, error) {
	c := catalog{}
	for _, l := range translations.Languages() {
		b, err := fs.ReadFile(translations.FS, l.Tag+".json")
		if err != nil {
			return nil, fmt.Errorf("translations %s: %w", l.Tag, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("translations %s: %w", l.Tag, err)
		}
		c[l.Tag] = m
	}
	return c, nil
}

// T is the text of key in lang, the key itself when it has none.
func (c catalog) T(lang, key string) string {
	if s, ok := c[lang][key]; ok && s != "" {
		return s
	}
	return key
}

// known tells whether tag is a language the tab speaks.
func (c catalog) known(tag string) bool { _, ok := c[tag]; return ok }

// langOf is the language of a request: a lang parameter, else the tab's own choice (its cookie), else
// the app's chosen language, else the browser's Accept-Language, else English.
func (s *Server) langOf(r *http.Request) string {
	cat, _, err := s.webAssets()
	if err != nil {
		return "en"
	}
	if l := r.URL.Query().Get("lang"); cat.known(l) {
		return l
	}
	if c, err := r.Cookie(LangCookie); err == nil && cat.known(c.Value) {
		return c.Value
	}
	if s.cfg.Language != nil {
		if l := s.cfg.Language(); cat.known(l) {
			return l
		}
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

// acceptLanguage picks zh-Hans or en from an Accept-Language header (RFC 9110 §12.5.4): the first of
// the highest quality that is Chinese or English. Every Chinese tag gets Simplified Chinese, the only
// Chinese there is; anything else English.
func acceptLanguage(h string) string {
	type choice struct {
		tag string
		q   float64
	}
	var cs []choice
	for _, part := range strings.Split(h, ",") {
		fields := strings.Split(strings.TrimSpace(part), ";")
		tag := strings.ToLower(strings.TrimSpace(fields[0]))
		q := 1.0
		for _, p := range fields[1:] {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		switch {
		case q <= 0:
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			cs = append(cs, choice{"zh-Hans", q})
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			cs = append(cs, choice{"en", q})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].q > cs[j].q })
	if len(cs) == 0 {
		return "en"
	}
	return cs[0].tag
}

// langCookie keeps the tab's language choice for a year.
func langCookie(tag string) *http.Cookie {
	return &http.Cookie{Name: LangCookie, Value: tag, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteStrictMode}
}
