package usage

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokenstats/tokenstats/usage/usagetest"
)

func TestNormalizeVectors(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range usagetest.Vectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			u, err := Normalize(v.Body, v.Provider)
			if v.Error != "" {
				if err == nil || !strings.Contains(err.Error(), v.Error) {
					t.Fatalf("error = %v, want one containing %q", err, v.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := [5]int64{u.InputTokens, u.OutputTokens, u.CachedTokens, u.ReasoningTokens, u.CacheCreationTokens}
			want := [5]int64{v.Want.Input, v.Want.Output, v.Want.Cached, v.Want.Reasoning, v.Want.CacheCreation}
			if got != want || u.Provider != v.Want.Provider {
				t.Fatalf("got %s %v, want %s %v (input, output, cached, reasoning, cache creation)", u.Provider, got, v.Want.Provider, want)
			}
			seen[u.Provider] = true
		})
	}
	for _, p := range Providers {
		if !seen[p] {
			t.Errorf("no passing vector for provider %s", p)
		}
	}
}

// Every vector also parses when the usage object is sent bare or compacted, and with its provider named.
func TestNormalizeProviderNamed(t *testing.T) {
	for _, v := range usagetest.Vectors(t) {
		if v.Want == nil {
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, v.Body); err != nil {
			t.Fatal(err)
		}
		u, err := Normalize(buf.Bytes(), v.Want.Provider)
		if err != nil || u.InputTokens != v.Want.Input || u.OutputTokens != v.Want.Output {
			t.Errorf("%s with provider %s: %+v, %v", v.Name, v.Want.Provider, u, err)
		}
	}
}

func TestNormalizeRefusals(t *testing.T) {
	cases := []struct{ body, provider, want string }{
		{``, "", "is empty"},
		{`null`, "", "is empty"},
		{`42`, "", "must be a JSON object"},
		{`{"usage": [1,2]}`, "", "usage: must be a JSON object"},
		{`{}`, "", "no usage found"},
		{`{"usage": {}}`, "", "holds no known token fields"},
		{`{"usage": {"prompt_tokens": 1, "completion_tokens": 2, "prompt_tokens_details": 5}}`, "", "prompt_tokens_details: must be a JSON object"},
		{`{"usage": {"prompt_tokens": 01, "completion_tokens": 2}}`, "", "malformed JSON"},
		{`{"usage": {"prompt_tokens": 1e3, "completion_tokens": 2}}`, "", "whole number"},
		{`{"usage": {"prompt_tokens": 99999999999999999999, "completion_tokens": 2}}`, "", "too large"},
		{`{"usage": {"prompt_tokens": 1, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 3}}}`, "", "reasoning tokens (3) exceed output tokens (2)"},
		{`{"output_tokens": 4}`, "", "input_tokens: is required"},
		{`[{"candidates": []}]`, "", "no element of the array"},
		{`[{"usageMetadata": {"candidatesTokenCount": 3}}]`, "", "[0].usageMetadata.promptTokenCount: is required"},
	}
	for _, c := range cases {
		_, err := Normalize([]byte(c.body), c.provider)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.body, err, c.want)
		}
	}
	// A message_delta that carries the input side too (newer API versions) is complete usage.
	u, err := Normalize([]byte(`{"type":"message_delta","usage":{"input_tokens":5,"cache_read_input_tokens":2,"output_tokens":9}}`), "")
	if err != nil || u.Provider != ProviderAnthropic || u.InputTokens != 7 || u.OutputTokens != 9 || u.CachedTokens != 2 {
		t.Errorf("complete message_delta: %+v, %v", u, err)
	}
}
