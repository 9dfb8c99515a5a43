package usage

import (
	"bytes"
	"encoding/json"
	"regexp"
)

// AnswerScanner reads an upstream API's answer as it passes by, whole or streamed, and keeps the last
// usage it carries: the final chunk's usage of an OpenAI chat stream, response.completed of the
// Responses API, Anthropic's message_start usage updated by every message_delta, Gemini's latest
// usageMetadata (also inside the Code Assist envelope {"response": …}). It recognises a JSON body, a
// JSON array streamed element by element (Gemini without SSE), NDJSON and server-sent events, by the
// first byte. It keeps a few kilobytes whatever the answer's length, and never fails a write: an answer
// it cannot read simply holds no usage. Result hands what it kept to Normalize, so the counts are those
// POST /usage gives for the same usage.
type AnswerScanner struct {
	js    *jsonScan
	mode  uint8 // 0 until the first non-space byte, then modeJSON or modeSSE
	sse   sseLines
	model string
	id    string

	last     []byte // the latest usage-bearing member, copied
	lastKind usageKind
	hint     []byte // the "type" or "object" of that message, for telling Anthropic from Responses
	hintKey  string
	anth     map[string]json.RawMessage // Anthropic: message_start usage, updated by message_delta
}

const (
	modeJSON = 1
	modeSSE  = 2
)

type usageKind uint8

const (
	kindNone      usageKind = iota
	kindPlain               // a top-level usage object (OpenAI chat, Anthropic or Responses body)
	kindGemini              // usageMetadata, top level or in the Code Assist envelope
	kindResponses           // response.usage of a Responses API event
	kindAnthropic           // the running Anthropic stream total
)

// Slots of the members an answer scanner captures.
const (
	aType = iota
	aObject
	aID
	aModel
	aModelVersion
	aResponseID
	aUsage
	aUsageMetadata
	aMsgID
	aMsgModel
	aMsgUsage
	aRespID
	aRespModel
	aRespModelVersion
	aRespResponseID
	aRespUsage
	aRespUsageMetadata
)

func pickAnswer(depth int, parent, key keyClass) int {
	if depth == 1 {
		switch key {
		case keyType:
			return aType
		case keyObject:
			return aObject
		case keyID:
			return aID
		case keyModel:
			return aModel
		case keyModelVersion:
			return aModelVersion
		case keyResponseID:
			return aResponseID
		case keyUsage:
			return aUsage
		case keyUsageMetadata:
			return aUsageMetadata
		}
		return -1
	}
	switch parent {
	case keyMessage:
		switch key {
		case keyID:
			return aMsgID
		case keyModel:
			return aMsgModel
		case keyUsage:
			return aMsgUsage
		}
	case keyResponse:
		switch key {
		case keyID:
			return aRespID
		case keyModel:
			return aRespModel
		case keyModelVersion:
			return aRespModelVersion
		case keyResponseID:
			return aRespResponseID
		case keyUsage:
			return aRespUsage
		case keyUsageMetadata:
			return aRespUsageMetadata
		}
	}
	return -1
}

// NewAnswerScanner returns a scanner for one answer.
func NewAnswerScanner() *AnswerScanner {
	a := &AnswerScanner{}
	a.js = newJSONScan(pickAnswer, a.message)
	a.sse.data = a.js.write
	a.sse.dispatch = a.js.reset
	return a
}

// Write feeds the next bytes of the answer (decoded: no Content-Encoding). It always succeeds.
func (a *AnswerScanner) Write(p []byte) (int, error) {
	if a.mode == 0 {
		i := 0
		for i < len(p) && isSpace(p[i]) {
			i++
		}
		if i == len(p) {
			return len(p), nil
		}
		a.mode = modeSSE
		if p[i] == '{' || p[i] == '[' {
			a.mode = modeJSON
		}
	}
	if a.mode == modeJSON {
		a.js.write(p)
	} else {
		a.sse.write(p)
	}
	return len(p), nil
}

// message takes what one complete message (a body, an event, an array element) carried.
func (a *AnswerScanner) message() {
	js := a.js
	for _, slot := range []int{aRespModel, aRespModelVersion, aMsgModel, aModel, aModelVersion} {
		if m := js.str(slot); m != "" {
			a.model = m
			break
		}
	}
	if a.id == "" {
		for _, slot := range []int{aRespID, aMsgID, aID, aResponseID, aRespResponseID} {
			if id := js.str(slot); id != "" {
				a.id = id
				break
			}
		}
	}
	typ := js.str(aType)
	switch {
	case typ == "message_start":
		if u := js.raw(aMsgUsage); u != nil {
			a.anth = map[string]json.RawMessage{}
			a.overlay(u)
			a.lastKind = kindAnthropic
		}
	case typ == "message_delta" && a.anth != nil:
		if u := js.raw(aUsage); u != nil {
			a.overlay(u)
		}
	case js.raw(aUsageMetadata) != nil:
		a.keep(kindGemini, js.raw(aUsageMetadata), "", "")
	case js.raw(aRespUsageMetadata) != nil:
		a.keep(kindGemini, js.raw(aRespUsageMetadata), "", "")
	case js.raw(aRespUsage) != nil:
		a.keep(kindResponses, js.raw(aRespUsage), "", "")
	case js.raw(aUsage) != nil:
		key, hint := "", ""
		if typ != "" {
			key, hint = "type", typ
		} else if o := js.str(aObject); o != "" {
			key, hint = "object", o
		}
		a.keep(kindPlain, js.raw(aUsage), key, hint)
	}
}

func (a *AnswerScanner) keep(k usageKind, raw []byte, hintKey, hint string) {
	a.lastKind = k
	a.last = append(a.last[:0], raw...)
	a.hintKey = hintKey
	a.hint = append(a.hint[:0], hint...)
}

// overlay applies an Anthropic usage object to the running total: message_delta carries cumulative
// counts, so each member present replaces the one before.
func (a *AnswerScanner) overlay(raw []byte) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	for k, v := range m {
		if !isNull(v) {
			a.anth[k] = v
		}
	}
}

// Answer is what an AnswerScanner saw: the normalised usage, and the answer's model and response id
// ("" when it named none).
type Answer struct {
	Counts Counts
	Model  string
	ID     string
}

// Result normalises the last usage seen. Without one it returns an *Error (with Model and ID still
// set): an answer without usage, an OpenAI chat stream that did not ask for it, an error reply.
func (a *AnswerScanner) Result() (Answer, error) {
	ans := Answer{Model: a.model, ID: a.id}
	var body []byte
	var err error
	switch a.lastKind {
	case kindNone:
		return ans, &Error{Msg: "the answer carried no usage"}
	case kindGemini:
		body, err = json.Marshal(map[string]json.RawMessage{"usageMetadata": a.last})
	case kindResponses:
		body, err = json.Marshal(map[string]any{"response": map[string]json.RawMessage{"usage": a.last}})
	case kindAnthropic:
		body, err = json.Marshal(map[string]any{"type": "message", "usage": a.anth})
	case kindPlain:
		m := map[string]any{"usage": json.RawMessage(a.last)}
		if a.hintKey != "" {
			m[a.hintKey] = string(a.hint)
		}
		body, err = json.Marshal(m)
	}
	if err != nil {
		return ans, &Error{Msg: "usage is not valid JSON: " + err.Error()}
	}
	ans.Counts, err = Normalize(body, "")
	return ans, err
}

// sseLines splits server-sent events (text/event-stream) into their data, which it hands on as it
// arrives; a blank line ends an event. Field names are read up to a few bytes, values of other fields
// are skipped, so no line is ever held whole.
type sseLines struct {
	data      func([]byte) // the bytes of the current event's data (lines joined by "\n")
	dispatch  func()       // the event ended
	field     [8]byte
	fieldLen  int // -1: longer than the buffer (no field we read)
	inValue   bool
	skipSpace bool
	isData    bool
	dataLines int
	lineEmpty bool // nothing on this line yet
	cr        bool // the last byte was '\r': a '\n' right after it ends no second line
	started   bool
}

func (s *sseLines) write(p []byte) {
	if !s.started {
		s.started, s.lineEmpty = true, true
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if s.cr {
			s.cr = false
			if c == '\n' {
				continue
			}
		}
		if c == '\r' || c == '\n' {
			s.cr = c == '\r'
			s.endLine()
			continue
		}
		s.lineEmpty = false
		if !s.inValue {
			if c == ':' {
				s.beginValue()
			} else if s.fieldLen >= 0 {
				if s.fieldLen == len(s.field) {
					s.fieldLen = -1
				} else {
					s.field[s.fieldLen] = c
					s.fieldLen++
				}
			}
			continue
		}
		if s.skipSpace {
			s.skipSpace = false
			if c == ' ' {
				continue
			}
		}
		j := bytes.IndexAny(p[i:], "\r\n")
		if j < 0 {
			j = len(p) - i
		}
		if s.isData {
			s.data(p[i : i+j])
		}
		i += j - 1
	}
}

func (s *sseLines) beginValue() {
	s.inValue, s.skipSpace = true, true
	s.isData = s.fieldLen == 4 && string(s.field[:4]) == "data"
	if s.isData {
		if s.dataLines > 0 {
			s.data([]byte{'\n'})
		}
		s.dataLines++
	}
}

func (s *sseLines) endLine() {
	switch {
	case s.lineEmpty:
		if s.dataLines > 0 {
			s.dispatch()
		}
		s.dataLines = 0
	case !s.inValue && s.fieldLen == 4 && string(s.field[:4]) == "data":
		// "data" without a colon is a data line with an empty value.
		if s.dataLines > 0 {
			s.data([]byte{'\n'})
		}
		s.dataLines++
	}
	s.fieldLen, s.inValue, s.isData, s.lineEmpty = 0, false, false, true
}

// RequestScanner reads the members of a request body that name the request's model and account: the
// top-level "model" (OpenAI, Anthropic, Code Assist), "project" (Code Assist and Antigravity) and
// "requestId" (Antigravity). It keeps a few kilobytes whatever the body's length.
type RequestScanner struct {
	js                        *jsonScan
	done                      bool
	model, project, requestID string
}

const (
	rModel = iota
	rProject
	rRequestID
)

func pickRequest(depth int, _, key keyClass) int {
	if depth != 1 {
		return -1
	}
	switch key {
	case keyModel:
		return rModel
	case keyProject:
		return rProject
	case keyRequestID:
		return rRequestID
	}
	return -1
}

// NewRequestScanner returns a scanner for one request body.
func NewRequestScanner() *RequestScanner {
	r := &RequestScanner{}
	r.js = newJSONScan(pickRequest, func() {
		if !r.done {
			r.done = true
			r.model, r.project, r.requestID = r.js.str(rModel), r.js.str(rProject), r.js.str(rRequestID)
		}
	})
	return r
}

// Write feeds the next bytes of the body. It always succeeds; a body that is not a JSON object names
// nothing.
func (r *RequestScanner) Write(p []byte) (int, error) {
	if !r.done {
		r.js.write(p)
	}
	return len(p), nil
}

// Model is the body's top-level "model", once the body has been read to its end.
func (r *RequestScanner) Model() string { return r.model }

// Project is the body's top-level "project" (Code Assist, Antigravity).
func (r *RequestScanner) Project() string { return r.project }

// RequestID is the body's top-level "requestId" (Antigravity).
func (r *RequestScanner) RequestID() string { return r.requestID }

var pathModel = regexp.MustCompile(`/models/([^/:]+):`)

// ModelFromPath reads the model of a Gemini API path, ".../models/{model}:generateContent"; "" when
// the path names none.
func ModelFromPath(path string) string {
	if m := pathModel.FindStringSubmatch(path); m != nil {
		return m[1]
	}
	return ""
}
