package ingest

import (
	"strings"
	"testing"

	"github.com/tokenstats/tokenstats/stats"
)

func TestClean(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"  claude-code\n", 100, "claude-code"},
		{"a\tb\x7fc", 100, "a b c"},
		{"bad \xff byte", 100, "bad \uFFFD byte"},
		{"ééééé", 5, "éé"}, // 10 bytes cut to at most 5, at a rune boundary
	} {
		if got := Clean(c.in, c.max); got != c.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestRequestID(t *testing.T) {
	if got := RequestID("otlp", "claude-code", "req_1"); got != "otlp:claude-code:req_1" {
		t.Errorf("RequestID = %q", got)
	}
	long := strings.Repeat("x", 200)
	a, b := RequestID("litellm", long), RequestID("litellm", long)
	if a != b || !strings.HasPrefix(a, "litellm:h:") || len(a) > stats.MaxRequestIDLen {
		t.Errorf("a long id maps to %q and %q; want one hashed litellm:h: id that fits", a, b)
	}
	if got := RequestID("otlp", "a\nb"); !strings.HasPrefix(got, "otlp:h:") {
		t.Errorf("an id with a control character became %q, want it hashed", got)
	}
}
