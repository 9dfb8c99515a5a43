package usage

import (
	"bytes"
	"encoding/json"
)

// jsonScan is an incremental JSON tokenizer that keeps only a few members of each "message" (an object
// at the message depth) and nothing else, so a multi-megabyte body or an endless stream costs a few
// kilobytes. It is fed bytes as they arrive and never looks back.
//
// Messages are the top-level objects of the input (one response body, one SSE event's data, or one
// line of NDJSON) or, when the input is an array, its elements (Gemini's streamGenerateContent without
// SSE). pick names the members wanted: it is asked at the start of every value within two levels of a
// message and answers the slot to capture it into, or -1.
type jsonScan struct {
	pick      func(depth int, parent, key keyClass) int
	onMessage func() // a message closed; vals/set hold its captured members

	vals [maxSlots][]byte
	set  [maxSlots]bool

	state  scanState
	stack  []frame
	root   int // stack index of the message object: 0, or 1 under a top-level array
	key    [maxKeyLen]byte
	keyLen int // -1 once the key is longer than maxKeyLen (it then matches nothing)

	capSlot  int // slot being captured, -1 when none
	capDepth int // stack length at the captured value's start
	capStr   bool
	capOver  bool // the value outgrew maxCapture: dropped when it ends
}

// Bounds on what one scanner keeps, whatever it is fed.
const (
	maxSlots   = 20
	maxKeyLen  = 32
	maxDepth   = 256
	maxCapture = 16 << 10 // one captured member (a usage object, a model name, an id)
)

type scanState uint8

const (
	sValue      scanState = iota // a value may start here (or the input may end, at the top)
	sKeyOrClose                  // after '{'
	sKey                         // after ',' in an object
	sColon
	sAfterValue // ',' or a closer; at the top, the next value
	sString
	sStringEsc
	sKeyString
	sKeyStringEsc
	sScalar // inside a number, true, false or null
	sError  // malformed: ignore the rest until reset
)

type frame struct {
	object bool
	key    keyClass // class of the member being read (objects)
}

// keyClass names the member keys that any scanner of this package wants; all others are keyOther.
type keyClass uint8

const (
	keyOther keyClass = iota
	keyType
	keyObject
	keyID
	keyModel
	keyModelVersion
	keyResponseID
	keyUsage
	keyUsageMetadata
	keyMessage
	keyResponse
	keyProject
	keyRequestID
)

func classify(k []byte) keyClass {
	switch string(k) {
	case "type":
		return keyType
	case "object":
		return keyObject
	case "id":
		return keyID
	case "model":
		return keyModel
	case "modelVersion":
		return keyModelVersion
	case "responseId":
		return keyResponseID
	case "usage":
		return keyUsage
	case "usageMetadata":
		return keyUsageMetadata
	case "message":
		return keyMessage
	case "response":
		return keyResponse
	case "project":
		return keyProject
	case "requestId":
		return keyRequestID
	}
	return keyOther
}

func newJSONScan(pick func(depth int, parent, key keyClass) int, onMessage func()) *jsonScan {
	return &jsonScan{pick: pick, onMessage: onMessage, capSlot: -1, stack: make([]frame, 0, 8)}
}

// reset starts a new document (the next SSE event).
func (s *jsonScan) reset() {
	s.state = sValue
	s.stack = s.stack[:0]
	s.capSlot = -1
}

func (s *jsonScan) fail() {
	s.state = sError
	s.capSlot = -1
}

// write feeds the next bytes of the document.
func (s *jsonScan) write(p []byte) {
	for i := 0; i < len(p); i++ {
		if s.state == sError {
			return
		}
		c := p[i]
		if s.state == sString {
			// The bulk of any answer is text inside strings: skip to the next quote or backslash.
			j := bytes.IndexAny(p[i:], `"\`)
			if j < 0 {
				s.keep(p[i:])
				return
			}
			s.keep(p[i : i+j+1])
			i += j
			if p[i] == '\\' {
				s.state = sStringEsc
				continue
			}
			s.state = sAfterValue
			if s.capSlot >= 0 && s.capStr {
				s.endCapture()
			}
			continue
		}
		if s.state == sScalar {
			if isScalarByte(c) {
				s.keep(p[i : i+1])
				continue
			}
			s.state = sAfterValue
			if s.capSlot >= 0 && s.capStr {
				s.endCapture()
			}
			// c is handled below as what follows the value.
		}
		s.step(c, p[i:i+1])
	}
}

// keep appends to the capture in progress.
func (s *jsonScan) keep(b []byte) {
	if s.capSlot < 0 || s.capOver {
		return
	}
	v := s.vals[s.capSlot]
	if len(v)+len(b) > maxCapture {
		s.capOver = true
		return
	}
	s.vals[s.capSlot] = append(v, b...)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

func (s *jsonScan) step(c byte, b []byte) {
	// Whitespace between tokens is dropped even inside a capture: the JSON stays valid without it.
	switch s.state {
	case sValue:
		if !isSpace(c) {
			s.startValue(c, b)
		}
	case sKeyOrClose, sKey:
		switch {
		case isSpace(c):
		case c == '"':
			s.keep(b)
			s.keyLen = 0
			s.state = sKeyString
		case c == '}' && s.state == sKeyOrClose:
			s.close(c, b)
		default:
			s.fail()
		}
	case sKeyString:
		s.keep(b)
		switch c {
		case '"':
			k := keyOther
			if s.keyLen >= 0 {
				k = classify(s.key[:s.keyLen])
			}
			s.stack[len(s.stack)-1].key = k
			s.state = sColon
		case '\\':
			s.keyLen = -1 // escaped keys are not ones we want
			s.state = sKeyStringEsc
		default:
			if s.keyLen >= 0 {
				if s.keyLen == maxKeyLen {
					s.keyLen = -1
				} else {
					s.key[s.keyLen] = c
					s.keyLen++
				}
			}
		}
	case sKeyStringEsc:
		s.keep(b)
		s.state = sKeyString
	case sColon:
		switch {
		case isSpace(c):
		case c == ':':
			s.keep(b)
			s.state = sValue
		default:
			s.fail()
		}
	case sStringEsc:
		s.keep(b)
		s.state = sString
	case sAfterValue:
		switch {
		case isSpace(c):
		case len(s.stack) == 0:
			s.startValue(c, b) // another top-level value (NDJSON)
		case c == ',':
			s.keep(b)
			if s.stack[len(s.stack)-1].object {
				s.state = sKey
			} else {
				s.state = sValue
			}
		case c == '}' || c == ']':
			s.close(c, b)
		default:
			s.fail()
		}
	}
}

// startValue begins a value whose first byte is c.
func (s *jsonScan) startValue(c byte, b []byte) {
	depth := len(s.stack)
	if c == ']' {
		if depth > 0 && !s.stack[depth-1].object {
			s.close(c, b) // an empty array, or a trailing comma
		} else {
			s.fail()
		}
		return
	}
	if depth == 0 {
		s.root = 0
		if c == '[' {
			s.root = 1
		}
	}
	if s.capSlot < 0 {
		if slot := s.wanted(depth); slot >= 0 {
			s.capSlot, s.capDepth, s.capOver = slot, depth, false
			s.capStr = c != '{' && c != '['
			s.vals[slot] = s.vals[slot][:0]
		}
	}
	switch {
	case c == '{' || c == '[':
		if depth == maxDepth {
			s.fail()
			return
		}
		s.keep(b)
		s.stack = append(s.stack, frame{object: c == '{'})
		if c == '{' && depth == s.root {
			clear(s.set[:]) // a new message
		}
		if c == '{' {
			s.state = sKeyOrClose
		} else {
			s.state = sValue
		}
	case c == '"':
		s.keep(b)
		s.state = sString
	case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
		s.keep(b)
		s.state = sScalar
	default:
		s.fail()
	}
}

// wanted is the slot for a value starting at depth, or -1.
func (s *jsonScan) wanted(depth int) int {
	rel := depth - s.root
	switch rel {
	case 1:
		if s.stack[s.root].object {
			return s.pick(1, keyOther, s.stack[s.root].key)
		}
	case 2:
		if s.stack[s.root].object && s.stack[s.root+1].object {
			return s.pick(2, s.stack[s.root].key, s.stack[s.root+1].key)
		}
	}
	return -1
}

// close ends the innermost container with c ('}' or ']').
func (s *jsonScan) close(c byte, b []byte) {
	top := len(s.stack) - 1
	if top < 0 || s.stack[top].object != (c == '}') {
		s.fail()
		return
	}
	s.keep(b)
	s.stack = s.stack[:top]
	s.state = sAfterValue
	if s.capSlot >= 0 && !s.capStr && len(s.stack) == s.capDepth {
		s.endCapture()
	}
	if c == '}' && top == s.root && s.onMessage != nil {
		s.onMessage()
	}
}

func (s *jsonScan) endCapture() {
	if !s.capOver {
		s.set[s.capSlot] = true
	}
	s.capSlot = -1
}

// str reads a captured JSON string member; "" when absent or not a plain string.
func (s *jsonScan) str(slot int) string {
	if !s.set[slot] {
		return ""
	}
	v := s.vals[slot]
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var out string
	if json.Unmarshal(v, &out) != nil {
		return ""
	}
	return out
}

// raw is a captured member that is a JSON object, or nil (absent, null or another type).
func (s *jsonScan) raw(slot int) []byte {
	if !s.set[slot] {
		return nil
	}
	v := s.vals[slot]
	if len(v) == 0 || v[0] != '{' {
		return nil
	}
	return v
}
