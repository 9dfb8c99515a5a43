// Package usagetest reads the usage-normalisation test vectors that docs/usage-normalization.md holds, so
// the doc and every test that checks it (the normaliser's and the HTTP ingest's) cannot drift apart.
package usagetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Vector is one fenced `json vector` block of the doc: a body, and either the counts it normalises to or
// a part of the error it is refused with.
type Vector struct {
	Name     string          `json:"name"`
	Provider string          `json:"provider"`
	Body     json.RawMessage `json:"body"`
	// UsageOnly marks a bare usage object, which the HTTP tests also send as the record's usage field.
	UsageOnly bool   `json:"usage_only"`
	Want      *Want  `json:"want"`
	Error     string `json:"error"`
}

// Want is what a vector normalises to.
type Want struct {
	Provider      string `json:"provider"`
	Input         int64  `json:"input"`
	Output        int64  `json:"output"`
	Cached        int64  `json:"cached"`
	Reasoning     int64  `json:"reasoning"`
	CacheCreation int64  `json:"cache_creation"`
}

// Vectors reads every vector of the doc, failing t on a malformed block or when fewer than ten are found.
func Vectors(t testing.TB) []Vector {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "docs", "usage-normalization.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []Vector
	for _, p := range strings.Split(string(doc), "```json vector\n")[1:] {
		block, _, ok := strings.Cut(p, "\n```")
		if !ok {
			t.Fatalf("unterminated vector block: %.60s", p)
		}
		var v Vector
		dec := json.NewDecoder(strings.NewReader(block))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("vector %.60s: %v", block, err)
		}
		if (v.Want == nil) == (v.Error == "") {
			t.Fatalf("vector %q needs exactly one of want and error", v.Name)
		}
		out = append(out, v)
	}
	if len(out) < 10 {
		t.Fatalf("only %d vectors found in the doc", len(out))
	}
	return out
}
