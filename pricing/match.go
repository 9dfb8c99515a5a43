package pricing

import "strings"

// How a model name found its entry (Match.How).
const (
	HowExact      = "exact"      // the name is the entry's name, or its name without a provider prefix
	HowNormalised = "normalised" // found after lower-casing or dropping a prefix or suffixes
)

// Origin of a price (Match.Origin).
const (
	OriginSnapshot = "snapshot"
	OriginOverride = "override"
)

// Match says which table entry priced a model name and how it was found, for /stats/prices to show:
// "gemini-2.5-pro-thinking → gemini/gemini-2.5-pro (normalised)".
type Match struct {
	Entry    string // the snapshot entry's name, or the overridden model name
	Provider string // the entry's litellm_provider; empty for an override
	Origin   string // OriginSnapshot or OriginOverride
	How      string // HowExact or HowNormalised
}

// match finds the snapshot entry for a model name (docs/prices.md, "Matching"):
//
//  1. a name holding "/" that is an entry's name as it stands (a LiteLLM route such as
//     "openrouter/openai/gpt-4o") is that entry;
//  2. otherwise the name is lower-cased and everything up to its last "/" dropped ("models/",
//     "anthropic/", "gemini/", gcli2api's "假流式/"…), and looked up among the entries' names without
//     their own prefixes, where the model maker's own entry wins (rank below);
//  3. a name that only a reseller or a cloud lists, or nobody, but whose "-preview" the model maker
//     lists, is that preview ("gemini-3-pro" → "gemini/gemini-3-pro-preview");
//  4. while nothing matches, one known suffix is dropped from the end and the name tried again
//     (stripSuffix).
func (s *Snapshot) match(model string) (*entry, Match, bool) {
	if strings.Contains(model, "/") {
		if e, ok := s.entries[model]; ok {
			return e, Match{Entry: model, Provider: e.provider, Origin: OriginSnapshot, How: HowExact}, true
		}
	}
	n := routeless(strings.ToLower(model))
	for {
		name, ok := s.byBase[n]
		// A model sold before its release as "<name>-preview" (gemini-3-pro-preview) is that preview
		// when only a lesser-ranked seller lists it under its own name, or nobody does.
		if !ok || providerRank(s.entries[name].provider) > 0 {
			if pre, found := s.byBase[n+"-preview"]; found &&
				(!ok || providerRank(s.entries[pre].provider) < providerRank(s.entries[name].provider)) {
				name, ok = pre, true
			}
		}
		if ok {
			e := s.entries[name]
			how := HowNormalised
			if routeless(name) == model {
				how = HowExact
			}
			return e, Match{Entry: name, Provider: e.provider, Origin: OriginSnapshot, How: how}, true
		}
		var stripped bool
		if n, stripped = stripSuffix(n); !stripped {
			return nil, Match{}, false
		}
	}
}

// routeless drops a provider or route prefix: everything up to the last "/".
func routeless(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }

// buildIndex maps each lower-cased entry name without its prefix to the entry that should price it.
// This is the only work a lookup needs beyond string trimming, so a lookup is a few map hits.
func buildIndex(entries map[string]*entry) map[string]string {
	idx := make(map[string]string, len(entries))
	for name, e := range entries {
		base := routeless(strings.ToLower(name))
		if cur, ok := idx[base]; !ok || preferred(name, e, cur, entries[cur]) {
			idx[base] = name
		}
	}
	return idx
}

// preferred says whether entry a should price a name rather than entry b: the lower provider rank,
// then the shorter name, then the name that sorts first (so the choice never depends on map order).
func preferred(a string, ea *entry, b string, eb *entry) bool {
	if ra, rb := providerRank(ea.provider), providerRank(eb.provider); ra != rb {
		return ra < rb
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// providerRank orders the providers that sell the same model: 0 for the model maker's own API (the
// price on its pricing page), 1 for a large cloud's catalogue (Vertex AI, Bedrock, Azure), 2 for
// resellers, aggregators and other hosts.
func providerRank(provider string) int {
	switch provider {
	case "openai", "text-completion-openai", "anthropic", "gemini", "xai", "mistral", "codestral",
		"text-completion-codestral", "deepseek", "moonshot", "zai", "minimax", "dashscope", "cohere",
		"cohere_chat", "ai21", "amazon_nova", "perplexity":
		return 0
	case "azure", "azure_ai", "azure_text":
		return 1
	}
	if strings.HasPrefix(provider, "vertex_ai") || strings.HasPrefix(provider, "bedrock") {
		return 1
	}
	return 2
}

// stripSuffix drops one suffix that names a variant of a model billed at the model's own price, and
// reports whether it did:
//
//   - "-latest" and "@latest";
//   - thinking variants: "-thinking" (Antigravity) and gcli2api's "-maxthinking", "-nothinking",
//     "-lowthinking", "-medthinking", "-autothinking";
//   - gcli2api's "-search";
//   - reasoning efforts: "-minimal", "-low", "-medium", "-high", "-xhigh";
//   - dates: "-20250929", "@20240620", "-2025-04-14";
//   - a preview's date: "-preview-06-05" and "-preview-09-2025" become "-preview".
func stripSuffix(n string) (string, bool) {
	dash := strings.LastIndexByte(n, '-')
	if at := strings.LastIndexByte(n, '@'); at > 0 && at > dash {
		if tail := n[at+1:]; tail == "latest" || isDate8(tail) {
			return n[:at], true
		}
	}
	if dash <= 0 {
		return n, false
	}
	switch tail := n[dash+1:]; {
	case tail == "latest", tail == "search",
		tail == "minimal", tail == "low", tail == "medium", tail == "high", tail == "xhigh",
		strings.HasSuffix(tail, "thinking") && isLetters(tail),
		isDate8(tail):
		return n[:dash], true
	}
	// -YYYY-MM-DD
	if len(n) > 11 && n[len(n)-11] == '-' && n[len(n)-6] == '-' && n[len(n)-3] == '-' &&
		isDigits(n[len(n)-10:len(n)-6]) && isDigits(n[len(n)-5:len(n)-3]) && isDigits(n[len(n)-2:]) &&
		strings.HasPrefix(n[len(n)-10:], "20") {
		return n[:len(n)-11], true
	}
	// -preview-MM-DD and -preview-MM-YYYY
	for _, tailLen := range []int{len("-06-05"), len("-09-2025")} {
		if len(n) <= tailLen {
			continue
		}
		head, tail := n[:len(n)-tailLen], n[len(n)-tailLen:]
		if strings.HasSuffix(head, "-preview") && tail[0] == '-' && tail[3] == '-' &&
			isDigits(tail[1:3]) && isDigits(tail[4:]) {
			return head, true
		}
	}
	return n, false
}

// isDate8 says whether s looks like a YYYYMMDD date of this century.
func isDate8(s string) bool { return len(s) == 8 && strings.HasPrefix(s, "20") && isDigits(s) }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}
