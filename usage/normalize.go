// Package usage reads other tools' wire formats into Token Stats' normalised records: the usage objects of
// OpenAI, OpenAI Responses, Anthropic and Gemini (and the Code Assist envelope), and the JSON records of
// POST /usage. Every ingest path ends here, so a request is counted the same whichever way it arrived.
package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
)

// Providers whose usage objects Normalize understands. docs/usage-normalization.md is the table.
const (
	ProviderOpenAI          = "openai"
	ProviderOpenAIResponses = "openai-responses"
	ProviderAnthropic       = "anthropic"
	ProviderGemini          = "gemini"
)

// Providers lists the provider names a record may name, in the order the docs give them.
var Providers = []string{ProviderOpenAI, ProviderOpenAIResponses, ProviderAnthropic, ProviderGemini}

// Counts are a provider's usage after normalisation: input includes cached tokens, output includes
// reasoning tokens, and total is always input + output.
type Counts struct {
	Provider            string // the provider whose table was applied
	InputTokens         int64
	OutputTokens        int64
	CachedTokens        int64
	ReasoningTokens     int64
	CacheCreationTokens int64
}

// Error says what is wrong with a usage object or response body. Path names the offending JSON
// member ("usage.prompt_tokens_details.cached_tokens"), empty for the body as a whole.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ValidProvider reports whether p is one of Providers.
func ValidProvider(p string) bool {
	for _, q := range Providers {
		if p == q {
			return true
		}
	}
	return false
}

type jsonObject map[string]json.RawMessage

// Normalize reads raw, which is either a usage object as an upstream API returned it or a whole
// response body (or the final streaming event, or a Gemini stream's JSON array of chunks) that holds
// one, and returns the token counts. provider is one of Providers, or "" to recognise the shape.
// A body without usage is an error, never zero counts.
func Normalize(raw []byte, provider string) (Counts, error) {
	if provider != "" && !ValidProvider(provider) {
		return Counts{}, &Error{Msg: fmt.Sprintf("unknown provider %q: use one of %s", clip(provider), strings.Join(Providers, ", "))}
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return Counts{}, &Error{Msg: "is empty: send the usage object or the response body that holds it"}
	}
	if raw[0] == '[' {
		// A Gemini streamGenerateContent answer without SSE is an array of chunks; usage is on the last
		// chunk that carries it.
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return Counts{}, &Error{Msg: "malformed JSON: " + err.Error()}
		}
		for i := len(items) - 1; i >= 0; i-- {
			var o jsonObject
			if json.Unmarshal(items[i], &o) != nil {
				continue
			}
			if hasObject(o, "usageMetadata") || hasObject(o, "usage") || hasObject(o, "response") {
				u, err := normalizeBody(o, provider)
				if err != nil {
					var ue *Error
					if errors.As(err, &ue) {
						ue.Path = joinPath(fmt.Sprintf("[%d]", i), ue.Path)
					}
				}
				return u, err
			}
		}
		return Counts{}, &Error{Msg: "no element of the array holds usage or usageMetadata"}
	}
	var o jsonObject
	if err := json.Unmarshal(raw, &o); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Counts{}, &Error{Msg: "must be a JSON object, not a JSON " + te.Value}
		}
		return Counts{}, &Error{Msg: "malformed JSON: " + err.Error()}
	}
	return normalizeBody(o, provider)
}

// normalizeBody finds the usage in a response body, or treats o as the usage object itself.
func normalizeBody(o jsonObject, provider string) (Counts, error) {
	typ := stringMember(o, "type")
	switch typ {
	case "message_start":
		return Counts{}, &Error{Msg: "an Anthropic message_start event holds the input tokens but only a placeholder for output: " +
			"combine its message.usage with the output_tokens of the final message_delta and send the combined usage"}
	case "message_delta":
		if u := objectMember(o, "usage"); u != nil && !hasKey(u, "input_tokens") {
			return Counts{}, &Error{Path: "usage", Msg: "an Anthropic message_delta event carries only the output tokens: " +
				"the proxy must combine it with the usage of message_start (input and cache tokens) and send the combined usage"}
		}
	}
	// Where each API puts usage: Gemini usageMetadata at the top; the Gemini CLI / Code Assist envelope
	// {"response": {"usageMetadata": …}}; Responses API events {"response": {"usage": …}}; top-level usage.
	if u := objectMember(o, "usageMetadata"); u != nil {
		return normalizeObject(u, "usageMetadata", provider, ProviderGemini)
	}
	if resp := objectMember(o, "response"); resp != nil {
		if u := objectMember(resp, "usageMetadata"); u != nil {
			return normalizeObject(u, "response.usageMetadata", provider, ProviderGemini)
		}
		if u := objectMember(resp, "usage"); u != nil {
			return normalizeObject(u, "response.usage", provider, ProviderOpenAIResponses)
		}
		if isNull(resp["usage"]) && hasKey(resp, "usage") {
			return Counts{}, &Error{Path: "response.usage", Msg: "is null: only the final event (response.completed) carries usage"}
		}
	}
	if raw, ok := o["usage"]; ok {
		if isNull(raw) {
			return Counts{}, &Error{Path: "usage", Msg: "is null: in an OpenAI stream only the last chunk carries usage " +
				"(request it with stream_options.include_usage)"}
		}
		u := objectMember(o, "usage")
		if u == nil {
			return Counts{}, &Error{Path: "usage", Msg: "must be a JSON object"}
		}
		hint := ""
		switch {
		case typ == "message" || strings.HasPrefix(typ, "message_"):
			hint = ProviderAnthropic
		case stringMember(o, "object") == "response":
			hint = ProviderOpenAIResponses
		case strings.HasPrefix(stringMember(o, "object"), "chat.completion"):
			hint = ProviderOpenAI
		}
		return normalizeObject(u, "usage", provider, hint)
	}
	if detect(o, "") != "" {
		return normalizeObject(o, "", provider, "")
	}
	if hasKey(o, "usageMetadata") || hasKey(o, "response") {
		return Counts{}, &Error{Msg: "usageMetadata or response is not a JSON object holding usage"}
	}
	return Counts{}, &Error{Msg: "no usage found: looked for usage, usageMetadata, response.usage and " +
		"response.usageMetadata, and the object holds no known token fields itself"}
}

// detect recognises a usage object's provider from its field names; hint decides between the two
// providers that both say input_tokens/output_tokens when nothing else tells them apart.
func detect(u jsonObject, hint string) string {
	switch {
	case hasKey(u, "promptTokenCount") || hasKey(u, "candidatesTokenCount") || hasKey(u, "totalTokenCount") ||
		hasKey(u, "cachedContentTokenCount") || hasKey(u, "thoughtsTokenCount"):
		return ProviderGemini
	case hasKey(u, "prompt_tokens") || hasKey(u, "completion_tokens"):
		return ProviderOpenAI
	case hasKey(u, "cache_read_input_tokens") || hasKey(u, "cache_creation_input_tokens"):
		return ProviderAnthropic
	case hasKey(u, "input_tokens_details") || hasKey(u, "output_tokens_details"):
		return ProviderOpenAIResponses
	case hasKey(u, "input_tokens") || hasKey(u, "output_tokens"):
		if hint == ProviderAnthropic {
			return ProviderAnthropic
		}
		// Without cache fields both tables give the same numbers.
		return ProviderOpenAIResponses
	}
	return ""
}

func normalizeObject(u jsonObject, path, provider, hint string) (Counts, error) {
	if provider == "" {
		provider = detect(u, hint)
		if provider == "" {
			return Counts{}, &Error{Path: path, Msg: "holds no known token fields (prompt_tokens, input_tokens, promptTokenCount, …)"}
		}
	}
	r := reader{obj: u, path: path}
	out := Counts{Provider: provider}
	switch provider {
	case ProviderOpenAI:
		out.InputTokens = r.count("prompt_tokens", true)
		out.OutputTokens = r.count("completion_tokens", true)
		out.CachedTokens = r.count("prompt_tokens_details.cached_tokens", false)
		out.ReasoningTokens = r.count("completion_tokens_details.reasoning_tokens", false)
	case ProviderOpenAIResponses:
		out.InputTokens = r.count("input_tokens", true)
		out.OutputTokens = r.count("output_tokens", true)
		out.CachedTokens = r.count("input_tokens_details.cached_tokens", false)
		out.ReasoningTokens = r.count("output_tokens_details.reasoning_tokens", false)
	case ProviderAnthropic:
		in := r.count("input_tokens", true)
		read := r.count("cache_read_input_tokens", false)
		created := r.count("cache_creation_input_tokens", false)
		out.InputTokens = in + read + created
		out.OutputTokens = r.count("output_tokens", true)
		out.CachedTokens = read
		out.CacheCreationTokens = created
	case ProviderGemini:
		// candidatesTokenCount is left out when a reply has no candidates (blocked prompt), so only the
		// prompt count is required.
		out.InputTokens = r.count("promptTokenCount", true) + r.count("toolUsePromptTokenCount", false)
		thoughts := r.count("thoughtsTokenCount", false)
		out.OutputTokens = r.count("candidatesTokenCount", false) + thoughts
		out.CachedTokens = r.count("cachedContentTokenCount", false)
		out.ReasoningTokens = thoughts
	}
	if r.err != nil {
		if provider != "" && r.missing {
			if other := detect(u, hint); other != "" && other != provider {
				r.err.Msg += fmt.Sprintf(" (this looks like %s usage, not %s)", other, provider)
			}
		}
		return Counts{}, r.err
	}
	// The table's promise: input includes cached, output includes reasoning. Numbers that break it are
	// a proxy bug, and storing them would make every view disagree with itself.
	if out.CachedTokens > out.InputTokens {
		return Counts{}, &Error{Path: path, Msg: fmt.Sprintf("cached tokens (%d) exceed input tokens (%d)", out.CachedTokens, out.InputTokens)}
	}
	if out.ReasoningTokens > out.OutputTokens {
		return Counts{}, &Error{Path: path, Msg: fmt.Sprintf("reasoning tokens (%d) exceed output tokens (%d)", out.ReasoningTokens, out.OutputTokens)}
	}
	for _, v := range []int64{out.InputTokens, out.OutputTokens} {
		if v > stats.MaxTokens {
			return Counts{}, &Error{Path: path, Msg: fmt.Sprintf("token count %d is larger than %d", v, int64(stats.MaxTokens))}
		}
	}
	return out, nil
}

// reader pulls counts out of a usage object and keeps the first error, so a table reads as a list.
type reader struct {
	obj     jsonObject
	path    string
	err     *Error
	missing bool
}

// count reads a dotted member path; absent or null counts are 0 unless required.
func (r *reader) count(member string, required bool) int64 {
	if r.err != nil {
		return 0
	}
	parts := strings.Split(member, ".")
	o := r.obj
	for i, p := range parts {
		raw, ok := o[p]
		if !ok || isNull(raw) {
			if required {
				r.err = &Error{Path: joinPath(r.path, member), Msg: "is required"}
				r.missing = true
			}
			return 0
		}
		if i < len(parts)-1 {
			var next jsonObject
			if json.Unmarshal(raw, &next) != nil || next == nil {
				r.err = &Error{Path: joinPath(r.path, strings.Join(parts[:i+1], ".")), Msg: "must be a JSON object"}
				return 0
			}
			o = next
			continue
		}
		v, err := ParseCount(raw)
		if err != nil {
			r.err = &Error{Path: joinPath(r.path, member), Msg: err.Error()}
			return 0
		}
		return v
	}
	return 0
}

// ParseCount reads a token count: a non-negative whole JSON number without sign, fraction, exponent or
// leading zeros, at most stats.MaxTokens. Fractions, strings and negatives are refused, not rounded or zeroed.
func ParseCount(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, errors.New("is empty")
	}
	switch c := raw[0]; {
	case c == '"':
		return 0, errors.New("must be a number, not a string")
	case c == '-':
		if allDigits(raw[1:]) {
			return 0, errors.New("must not be negative")
		}
		return 0, errors.New("must be a non-negative whole number")
	case c < '0' || c > '9':
		return 0, fmt.Errorf("must be a number, not %s", clip(string(raw)))
	}
	if !allDigits(raw) {
		return 0, errors.New("must be a whole number")
	}
	if len(raw) > 1 && raw[0] == '0' {
		return 0, errors.New("must not have leading zeros")
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n > stats.MaxTokens {
		return 0, fmt.Errorf("is too large (at most %d)", int64(stats.MaxTokens))
	}
	return n, nil
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// clip shortens s for an error message to at most 20 characters, never splitting one: a 400 answer
// must stay valid UTF-8.
func clip(s string) string {
	const max = 20
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	i := 0
	for n := 0; n < max; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func hasKey(o jsonObject, k string) bool { _, ok := o[k]; return ok }

func hasObject(o jsonObject, k string) bool { return objectMember(o, k) != nil }

// objectMember is o[k] when it is a JSON object, else nil.
func objectMember(o jsonObject, k string) jsonObject {
	raw, ok := o[k]
	if !ok {
		return nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m jsonObject
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func stringMember(o jsonObject, k string) string {
	var s string
	if raw, ok := o[k]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}
