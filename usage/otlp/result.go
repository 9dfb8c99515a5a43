package otlp

import (
	"maps"
	"slices"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// Result is what one export body yields. Ignored and Rejected are for the Sources view: nothing in an
// export is an error unless the body itself is malformed.
type Result struct {
	Records []stats.Record
	// Ignored counts items that carry no usage Token Stats reads, by event, metric or span name
	// (unknown events, other metrics, spans without GenAI usage, duplicates of counted data).
	Ignored map[string]int
	// Rejected counts items that look like usage but cannot be stored, by reason: the count goes into
	// the answer's partial_success, so the sender can log it.
	Rejected map[string]int
	// BySource splits Ignored and Rejected by the source of the items (service.name and version, as
	// Record.Source names it), for the Sources view.
	BySource map[string]*Tally
	// Agents lists the service.name of every resource whose log events or spans became records, sorted:
	// the store remembers them so their token metrics are ignored (events win).
	Agents []string
}

// Tally is what one source sent that did not become records, by event, metric or span name (Ignored)
// and by reason (Rejected).
type Tally struct {
	Ignored  map[string]int
	Rejected map[string]int
}

// RejectedCount is the number of rejected items, for EncodeResponse.
func (r *Result) RejectedCount() int64 {
	var n int64
	for _, c := range r.Rejected {
		n += int64(c)
	}
	return n
}

func (r *Result) ignore(source, name string) {
	if name == "" {
		name = "(unnamed)"
	}
	name = clean(name, 200)
	count(&r.Ignored, name, 1)
	count(&r.tally(source).Ignored, name, 1)
}

func (r *Result) reject(source, reason string) {
	count(&r.Rejected, reason, 1)
	count(&r.tally(source).Rejected, reason, 1)
}

func (r *Result) tally(source string) *Tally {
	if r.BySource == nil {
		r.BySource = map[string]*Tally{}
	}
	t := r.BySource[source]
	if t == nil {
		t = &Tally{}
		r.BySource[source] = t
	}
	return t
}

// clone is a deep copy of what decoding counted, for MetricsBatch.Apply to add to.
func (r *Result) clone() Result {
	out := Result{Ignored: maps.Clone(r.Ignored), Rejected: maps.Clone(r.Rejected)}
	for src, t := range r.BySource {
		if out.BySource == nil {
			out.BySource = map[string]*Tally{}
		}
		out.BySource[src] = &Tally{Ignored: maps.Clone(t.Ignored), Rejected: maps.Clone(t.Rejected)}
	}
	return out
}

func count(m *map[string]int, key string, n int) {
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[key] += n
}

func (r *Result) agent(a string) {
	if i, found := slices.BinarySearch(r.Agents, a); !found {
		r.Agents = slices.Insert(r.Agents, i, a)
	}
}

// add validates rec and keeps it, or counts it as rejected under what (an event or metric name).
func (r *Result) add(rec stats.Record, what string, now time.Time) bool {
	if err := rec.Validate(now); err != nil {
		r.reject(rec.Source, what+": "+err.Error())
		return false
	}
	r.Records = append(r.Records, rec)
	return true
}

// tokens are one request's counts before they become a record.
type tokens struct {
	input, output, cached, reasoning, cacheCreation int64
}

// check holds the table's promise (input includes cached, output includes reasoning), as
// usage.Normalize does: numbers that break it are a sender's bug, not something to store.
func (t tokens) check() string {
	if t.cached > t.input {
		return "cached tokens exceed input tokens"
	}
	if t.cacheCreation > t.input {
		return "cache creation tokens exceed input tokens"
	}
	if t.reasoning > t.output {
		return "reasoning tokens exceed output tokens"
	}
	if t.input > stats.MaxTokens || t.output > stats.MaxTokens {
		return "token count is too large"
	}
	return ""
}

func (t tokens) record(rec stats.Record) stats.Record {
	rec.InputTokens = t.input
	rec.OutputTokens = t.output
	rec.CachedTokens = t.cached
	rec.ReasoningTokens = t.reasoning
	rec.CacheCreationTokens = t.cacheCreation
	rec.Kind = stats.KindOTLP
	return rec
}
