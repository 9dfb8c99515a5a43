package otlp

import (
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
	// Agents lists the service.name of every resource whose log events became records, sorted: the
	// store remembers them so their token metrics are ignored (events win).
	Agents []string
}

// RejectedCount is the number of rejected items, for EncodeResponse.
func (r *Result) RejectedCount() int64 {
	var n int64
	for _, c := range r.Rejected {
		n += int64(c)
	}
	return n
}

func (r *Result) ignore(name string) {
	if r.Ignored == nil {
		r.Ignored = map[string]int{}
	}
	if name == "" {
		name = "(unnamed)"
	}
	r.Ignored[clean(name, 200)]++
}

func (r *Result) reject(reason string) {
	if r.Rejected == nil {
		r.Rejected = map[string]int{}
	}
	r.Rejected[reason]++
}

func (r *Result) agent(a string) {
	if i, found := slices.BinarySearch(r.Agents, a); !found {
		r.Agents = slices.Insert(r.Agents, i, a)
	}
}

// add validates rec and keeps it, or counts it as rejected under what (an event or metric name).
func (r *Result) add(rec stats.Record, what string, now time.Time) bool {
	if err := rec.Validate(now); err != nil {
		r.reject(what + ": " + err.Error())
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
