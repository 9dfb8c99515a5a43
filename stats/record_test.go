package stats

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := rec(now, "a@example.com", "gemini-2.5-pro", 10, 5)
	if err := good.Validate(now); err != nil {
		t.Fatalf("valid record refused: %v", err)
	}
	cases := []struct {
		field string
		mod   func(r *Record)
	}{
		{"account_email", func(r *Record) { r.Account = "" }},
		{"account_email", func(r *Record) { r.Account = strings.Repeat("a", MaxAccountLen+1) }},
		{"account_email", func(r *Record) { r.Account = "a\x00b" }},
		{"account_email", func(r *Record) { r.Account = "a\u0085b" }},
		{"model", func(r *Record) { r.Model = "" }},
		{"model", func(r *Record) { r.Model = "bad\xffutf8" }},
		{"model", func(r *Record) { r.Model = "tab\there" }},
		{"model", func(r *Record) { r.Model = strings.Repeat("m", MaxModelLen+1) }},
		{"request_id", func(r *Record) { r.RequestID = strings.Repeat("r", MaxRequestIDLen+1) }},
		{"credential_file", func(r *Record) { r.Credential = "x\ny" }},
		{"source", func(r *Record) { r.Source = strings.Repeat("s", MaxSourceLen+1) }},
		{"input_tokens", func(r *Record) { r.InputTokens = -1 }},
		{"output_tokens", func(r *Record) { r.OutputTokens = MaxTokens + 1 }},
		{"cached_tokens", func(r *Record) { r.CachedTokens = -5 }},
		{"reasoning_tokens", func(r *Record) { r.ReasoningTokens = -5 }},
		{"cache_creation_tokens", func(r *Record) { r.CacheCreationTokens = -5 }},
		{"timestamp", func(r *Record) { r.Time = now.Add(MaxFuture + time.Second) }},
		{"timestamp", func(r *Record) { r.Time = time.Time{} }},
		{"timestamp", func(r *Record) { r.Time = time.Unix(-1, 0) }},
		// Far in the future, where a row id (second << 24) would overflow: refused as the future is.
		{"timestamp", func(r *Record) { r.Time = time.Unix(1<<40, 0) }},
		{"cached_tokens", func(r *Record) { r.CachedTokens = 11 }},
		{"cache_creation_tokens", func(r *Record) { r.CachedTokens, r.CacheCreationTokens = 6, 5 }},
		{"reasoning_tokens", func(r *Record) { r.ReasoningTokens = 6 }},
		{"kind", func(r *Record) { r.Kind = "carrier-pigeon" }},
		{"agent_cost", func(r *Record) { r.AgentCost, r.HasAgentCost = -1, true }},
	}
	for i, c := range cases {
		r := good
		c.mod(&r)
		err := r.Validate(now)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("case %d: got %v, want an error naming %s", i, err, c.field)
		}
	}
	full := good
	full.CachedTokens, full.CacheCreationTokens, full.ReasoningTokens = 6, 4, 5
	if err := full.Validate(now); err != nil {
		t.Errorf("input made only of cached and cache-creation tokens, output only of reasoning, refused: %v", err)
	}
	r := good
	r.Time = now.Add(MaxFuture)
	if err := r.Validate(now); err != nil {
		t.Errorf("exactly 10 minutes ahead must be accepted: %v", err)
	}
	unicodeOK := good
	unicodeOK.Model = "模型-β <img src=x>"
	if err := unicodeOK.Validate(now); err != nil {
		t.Errorf("printable unicode refused: %v", err)
	}
}

func TestFieldErrorNamesIndex(t *testing.T) {
	e := &FieldError{Index: 3, Field: "model", Msg: "is required"}
	if got := e.Error(); got != "record 3: model: is required" {
		t.Errorf("got %q", got)
	}
	e.Index = -1
	if got := e.Error(); got != "model: is required" {
		t.Errorf("got %q", got)
	}
}
