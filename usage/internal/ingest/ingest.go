// Package ingest holds what the decoders of other tools' formats (usage/otlp, usage/litellm,
// usage/cliproxyapi) share: making names storable and request ids namespaced.
package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
)

// Clean makes a display string from another tool storable: valid UTF-8, no control characters, no
// surrounding space, at most max bytes (cut at a rune boundary).
func Clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// RequestID namespaces an id so ids from different ingest paths and senders cannot collide:
// ns:part:part ("otlp:claude-code:req_…"). When that is longer than stats.MaxRequestIDLen or not
// printable, ns:h: and a hash of the parts stand in, so the same id always maps to the same string.
func RequestID(ns string, parts ...string) string {
	s := ns + ":" + strings.Join(parts, ":")
	if len(s) <= stats.MaxRequestIDLen && Clean(s, stats.MaxRequestIDLen) == s {
		return s
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return ns + ":h:" + hex.EncodeToString(sum[:16])
}
