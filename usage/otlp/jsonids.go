package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// prepareJSON makes an OTLP/JSON body readable by protojson and refuses deep nesting, in one pass.
//
// OTLP/JSON differs from the proto3 JSON mapping in one way that matters here: trace and span ids are
// hex strings, while protojson reads bytes fields as base64. A 16-byte hex trace id would silently
// decode as 24 wrong bytes, so the values of traceId, spanId and parentSpanId (and their proto names)
// are rewritten from hex to base64 first. A value that is not hex is left for protojson to judge.
func prepareJSON(b []byte) ([]byte, error) {
	var out []byte // nil until the first rewrite
	last := 0      // b[last:] is not yet copied to out
	depth := 0
	afterIDKey := false // the previous token was an id key and its colon
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return nil, fmt.Errorf("otlp: OTLP/JSON body is nested more than %d levels deep", MaxDepth)
			}
			afterIDKey = false
		case '}', ']':
			depth--
			afterIDKey = false
		case ' ', '\t', '\n', '\r':
		case '"':
			end := stringEnd(b, i)
			if end < 0 {
				// Unterminated string: protojson reports the syntax error.
				i = len(b)
				continue
			}
			j := end + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
				j++
			}
			if j < len(b) && b[j] == ':' {
				afterIDKey = isIDKey(b[i+1 : end])
				i = j
				continue
			}
			if afterIDKey {
				if enc, ok := hexToBase64(b[i+1 : end]); ok {
					out = append(out, b[last:i+1]...)
					out = append(out, enc...)
					last = end
				}
			}
			afterIDKey = false
			i = end
		default:
			afterIDKey = false
		}
	}
	if out == nil {
		return b, nil
	}
	return append(out, b[last:]...), nil
}

// stringEnd is the index of the quote that closes the string opening at b[start], or -1.
func stringEnd(b []byte, start int) int {
	for i := start + 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func isIDKey(k []byte) bool {
	switch string(k) {
	case "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id":
		return true
	}
	return false
}

func hexToBase64(s []byte) ([]byte, bool) {
	if len(s) == 0 || len(s)%2 != 0 {
		return nil, false
	}
	raw := make([]byte, len(s)/2)
	if _, err := hex.Decode(raw, s); err != nil {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(out, raw)
	return out, true
}
