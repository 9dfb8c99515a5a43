package pricing

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The embedded snapshot: LiteLLM's table trimmed by cmd/pricesnap (see doc.go's go:generate line).
//
//go:embed litellm_prices.json.gz
var embeddedPrices []byte

//go:embed LICENSE-litellm.txt
var litellmLicense string

// License is the text of LiteLLM's LICENSE file (MIT), under which the embedded price table is used.
func License() string { return litellmLicense }

// Embedded returns the snapshot built into the binary. Each call parses it afresh; keep the result.
func Embedded() (*Snapshot, error) {
	s, err := Parse(bytes.NewReader(embeddedPrices))
	if err != nil {
		return nil, fmt.Errorf("embedded price snapshot: %w", err)
	}
	return s, nil
}

// Source says where a snapshot's prices came from.
type Source struct {
	URL    string    // the file's address: LiteLLM's file at a commit, a download URL or a file name
	Commit string    // the LiteLLM commit the file was taken from, when known
	Date   time.Time // the commit's date, or when the file was fetched; zero when unknown
}

// Snapshot is a parsed, validated price table. It is immutable and safe for concurrent use.
type Snapshot struct {
	source  Source
	entries map[string]*entry
	byBase  map[string]string // normalised name → the entry that prices it (match.go)
}

type entry struct {
	provider string
	mode     string
	fields   map[string]string // the price fields kept, as the JSON numbers were written
	rates    Rates
}

// Source returns where the snapshot came from.
func (s *Snapshot) Source() Source { return s.source }

// Len is the number of priced entries.
func (s *Snapshot) Len() int { return len(s.entries) }

// Entry returns the rates of the entry with exactly this name.
func (s *Snapshot) Entry(name string) (Rates, bool) {
	e, ok := s.entries[name]
	if !ok {
		return Rates{}, false
	}
	return e.rates, true
}

// WithSource returns a copy of the snapshot that names another source, for a file whose origin only
// the caller knows (a full LiteLLM file carries none).
func (s *Snapshot) WithSource(src Source) *Snapshot {
	c := *s
	c.source = src
	return &c
}

// The trimmed format: {"format": trimmedFormat, "source": {…}, "models": {name: entry, …}}, where each
// entry holds only litellm_provider, mode and the price fields Token Stats uses, as LiteLLM wrote them.
const trimmedFormat = "tokenstats-prices/1"

// maxFileSize bounds what Parse reads, compressed and uncompressed: LiteLLM's full file is about 1.2 MB.
const maxFileSize = 64 << 20

// Parse reads a price table: LiteLLM's model_prices_and_context_window.json as downloaded, or the
// trimmed form WriteTo writes, either of them optionally gzip-compressed. It keeps the chat, completion
// and responses entries that have both an input and an output token price, and refuses a file that is
// empty, is not a LiteLLM table, holds no such entry, or holds a price that is not a number, is negative
// or is above MaxRate. A full LiteLLM file carries no source; see WithSource.
func Parse(r io.Reader) (*Snapshot, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the price file is empty")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, errors.New("not a LiteLLM price file: the file is not a JSON object")
		}
		return nil, fmt.Errorf("not a LiteLLM price file: the file is not valid JSON: %w", err)
	}
	s := &Snapshot{entries: map[string]*entry{}}
	models := top
	if format, ok := top["format"]; ok && isJSONString(format) {
		if models, err = s.parseHeader(top); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(models))
	for name := range models {
		names = append(names, name)
	}
	sort.Strings(names) // so that of several bad entries, the same one is always named
	for _, name := range names {
		if name == "sample_spec" { // LiteLLM's documentation of the format, not a model
			continue
		}
		e, err := parseEntry(name, models[name])
		if err != nil {
			return nil, err
		}
		if e != nil {
			s.entries[name] = e
		}
	}
	if len(s.entries) == 0 {
		return nil, errors.New("not a LiteLLM price file: no chat, completion or responses model has an input and an output token price")
	}
	s.byBase = buildIndex(s.entries)
	return s, nil
}

// readAll reads at most maxFileSize bytes, gunzipping a gzip stream.
func readAll(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	what := "the price file"
	r = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		what = "the gzip-compressed price file"
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", what, err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("the price file is larger than %d MiB, far larger than LiteLLM's", maxFileSize>>20)
	}
	return data, nil
}

func isJSONString(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '"'
}

type sourceJSON struct {
	URL    string `json:"url,omitempty"`
	Commit string `json:"commit,omitempty"`
	Date   string `json:"date,omitempty"`
}

// parseHeader reads the trimmed format's header into s and returns its models.
func (s *Snapshot) parseHeader(top map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	var format string
	if err := json.Unmarshal(top["format"], &format); err != nil || format != trimmedFormat {
		return nil, fmt.Errorf("unknown price file format %s (this version reads %q)", top["format"], trimmedFormat)
	}
	var src sourceJSON
	if raw, ok := top["source"]; ok {
		if err := json.Unmarshal(raw, &src); err != nil {
			return nil, fmt.Errorf("price file source: %w", err)
		}
	}
	s.source = Source{URL: src.URL, Commit: src.Commit}
	if src.Date != "" {
		d, err := time.Parse(time.RFC3339, src.Date)
		if err != nil {
			return nil, fmt.Errorf("price file source date: %w", err)
		}
		s.source.Date = d
	}
	var models map[string]json.RawMessage
	if err := json.Unmarshal(top["models"], &models); err != nil || models == nil {
		return nil, errors.New(`price file: "models" must be a JSON object`)
	}
	return models, nil
}

// Price fields Token Stats reads. Tiered variants add _above_<N>[k]_tokens to the first four.
const (
	fieldInput      = "input_cost_per_token"
	fieldOutput     = "output_cost_per_token"
	fieldCacheRead  = "cache_read_input_token_cost"
	fieldCacheWrite = "cache_creation_input_token_cost"
	fieldReasoning  = "output_cost_per_reasoning_token"
	fieldCacheHit   = "input_cost_per_token_cache_hit" // DeepSeek's name for the cache-read price
)

// priceField says whether key is a price field Token Stats reads: its base name and, for a tiered
// field, the threshold in tokens.
func priceField(key string) (base string, above int64, ok bool) {
	switch key {
	case fieldInput, fieldOutput, fieldCacheRead, fieldCacheWrite, fieldReasoning, fieldCacheHit:
		return key, 0, true
	}
	for _, b := range []string{fieldInput, fieldOutput, fieldCacheRead, fieldCacheWrite} {
		n, found := strings.CutPrefix(key, b+"_above_")
		if !found {
			continue
		}
		n, found = strings.CutSuffix(n, "_tokens")
		if !found {
			return "", 0, false
		}
		mult := int64(1)
		if k, isK := strings.CutSuffix(n, "k"); isK {
			n, mult = k, 1000
		}
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || v <= 0 || v > 1<<40/mult {
			return "", 0, false
		}
		return b, v * mult, true
	}
	return "", 0, false
}

// parseEntry validates one model entry. It returns nil for an entry Token Stats does not price.
func parseEntry(name string, raw json.RawMessage) (*entry, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("not a LiteLLM price file: %q is not an object", name)
	}
	if name == "" {
		return nil, errors.New("price file: a model has an empty name")
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	var mode, provider string
	_ = json.Unmarshal(fields["mode"], &mode) // absent or not a string: not priced
	switch mode {
	case "chat", "completion", "responses":
	default:
		return nil, nil
	}
	if err := json.Unmarshal(fields["litellm_provider"], &provider); fields["litellm_provider"] != nil && err != nil {
		return nil, fmt.Errorf("model %q: litellm_provider must be a string", name)
	}
	type price struct {
		key, lit string // the field as written, to write it back unchanged
		rate     Rate
	}
	base := map[string]price{}
	tiers := map[int64]map[string]price{}
	for key, v := range fields {
		b, above, ok := priceField(key)
		if !ok || string(bytes.TrimSpace(v)) == "null" {
			continue
		}
		var num json.Number
		if t := bytes.TrimSpace(v); len(t) == 0 || t[0] == '"' || json.Unmarshal(t, &num) != nil {
			return nil, fmt.Errorf("model %q: %s must be a number, not %s", name, key, v)
		}
		r, err := rateFromDecimal(string(num), 15)
		if err != nil {
			return nil, fmt.Errorf("model %q: %s: %w", name, key, err)
		}
		p := price{key, string(num), r}
		if above == 0 {
			base[b] = p
			continue
		}
		if tiers[above] == nil {
			tiers[above] = map[string]price{}
		}
		if prev, dup := tiers[above][b]; dup {
			return nil, fmt.Errorf("model %q: %s and %s name the same price", name, prev.key, key)
		}
		tiers[above][b] = p
	}
	if _, ok := base[fieldInput]; !ok {
		return nil, nil
	}
	if _, ok := base[fieldOutput]; !ok {
		return nil, nil
	}
	// get returns the first of keys that m holds, or fallback.
	get := func(m map[string]price, fallback Rate, keys ...string) Rate {
		for _, k := range keys {
			if p, ok := m[k]; ok {
				return p.rate
			}
		}
		return fallback
	}
	e := &entry{provider: provider, mode: mode, fields: map[string]string{}}
	for _, p := range base {
		e.fields[p.key] = p.lit
	}
	// Missing prices fall back as docs/prices.md says: cache read and write to the input price,
	// reasoning to the output price.
	in, out := base[fieldInput].rate, base[fieldOutput].rate
	e.rates.Base = Prices{
		Input:      in,
		Output:     out,
		CacheRead:  get(base, in, fieldCacheRead, fieldCacheHit),
		CacheWrite: get(base, in, fieldCacheWrite),
		Reasoning:  get(base, out, fieldReasoning),
	}
	// As in LiteLLM, a tier exists where the input price has one; its output and cache prices fall
	// back to the base ones, and the reasoning price (never tiered) applies in every tier.
	for above, t := range tiers {
		tin, ok := t[fieldInput]
		if !ok {
			continue // LiteLLM ignores an output or cache tier without an input tier, and so do we
		}
		for _, p := range t {
			e.fields[p.key] = p.lit
		}
		tier := Tier{Above: above}
		tier.Input = tin.rate
		tier.Output = get(t, out, fieldOutput)
		tier.CacheRead = get(t, get(base, tier.Input, fieldCacheRead, fieldCacheHit), fieldCacheRead)
		tier.CacheWrite = get(t, get(base, tier.Input, fieldCacheWrite), fieldCacheWrite)
		tier.Reasoning = get(base, tier.Output, fieldReasoning)
		e.rates.Tiers = append(e.rates.Tiers, tier)
	}
	sort.Slice(e.rates.Tiers, func(i, j int) bool { return e.rates.Tiers[i].Above < e.rates.Tiers[j].Above })
	return e, nil
}

// WriteTo writes the snapshot in the trimmed format, one model a line, sorted by name, each price as
// the source file wrote it, so Parse reads back exactly the same table.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	src := sourceJSON{URL: s.source.URL, Commit: s.source.Commit}
	if !s.source.Date.IsZero() {
		src.Date = s.source.Date.Format(time.RFC3339)
	}
	header, err := json.Marshal(src)
	if err != nil {
		return 0, fmt.Errorf("writing the price snapshot: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"format\": %q,\n\"source\": %s,\n\"models\": {\n", trimmedFormat, header)
	names := make([]string, 0, len(s.entries))
	for n := range s.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		e := s.entries[n]
		m := map[string]any{"litellm_provider": e.provider, "mode": e.mode}
		for k, lit := range e.fields {
			m[k] = json.Number(lit)
		}
		key, err := json.Marshal(n)
		if err != nil {
			return 0, fmt.Errorf("writing the price snapshot: %w", err)
		}
		val, err := json.Marshal(m)
		if err != nil {
			return 0, fmt.Errorf("writing the price snapshot: model %q: %w", n, err)
		}
		b.Write(key)
		b.WriteString(": ")
		b.Write(val)
		if i < len(names)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}}\n")
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// rateFromDecimal converts a decimal number of dollars to a Rate, scaling it by 10^scale (15 for
// dollars per token, 9 for dollars per million tokens) and rounding half up. The conversion is exact
// decimal arithmetic: "4.6875e-09" dollars per token is 4,687,500 femto-dollars, not a float's
// neighbour of it.
func rateFromDecimal(lit string, scale int64) (Rate, error) {
	// Bound the exponent before big.Rat sees it: "1e999999999" would otherwise cost gigabytes.
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(lit[i+1:]); err != nil || exp < -100 || exp > 100 {
			return 0, fmt.Errorf("%s is out of range", lit)
		}
	}
	r, ok := new(big.Rat).SetString(lit)
	if !ok {
		return 0, fmt.Errorf("%q is not a number", lit)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("must not be negative (it is %s)", lit)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(scale), nil)))
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Lsh(m, 1).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	switch {
	case q.Cmp(big.NewInt(int64(MaxRate))) > 0:
		return 0, fmt.Errorf("%s is above the highest price accepted, 1 USD per token (1000000 USD per million tokens)", lit)
	case q.Sign() == 0 && r.Sign() > 0:
		return 0, fmt.Errorf("%s is above zero but below the smallest price that can be held, 10^-15 USD per token", lit)
	}
	return Rate(q.Int64()), nil
}
