// Package client sends usage records to Token Stats' local listener (POST /usage). Client sends
// synchronously; Recorder is the asynchronous, never-blocking front a proxy puts on its request path.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxBatch is the most records one POST carries (the server's limit).
const MaxBatch = 10000

// Record is one usage record, shaped like the JSON of POST /usage. Either give the token counts, or
// Usage/Response (provider-native usage, normalised by the server), or both: explicit counts win.
type Record struct {
	AccountEmail        string `json:"account_email"`
	Model               string `json:"model"`
	InputTokens         int64  `json:"input_tokens"`
	OutputTokens        int64  `json:"output_tokens"`
	CachedTokens        int64  `json:"cached_tokens,omitempty"`
	ReasoningTokens     int64  `json:"reasoning_tokens,omitempty"`
	CacheCreationTokens int64  `json:"cache_creation_tokens,omitempty"`
	Credential          string `json:"credential_file,omitempty"`
	// IsAntigravity is nil for the server's default (true).
	IsAntigravity *bool `json:"is_antigravity,omitempty"`
	// Timestamp is unix seconds; 0 means "now" for Client.Record. Recorder.Add stamps it, so a record sent
	// late (after a retry or from the spool) still counts at the time it happened.
	Timestamp int64  `json:"timestamp,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Source    string `json:"source,omitempty"`
	// Usage is the upstream's usage object; Response a whole response body or final stream event.
	Usage    json.RawMessage `json:"usage,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
	// Provider is openai, openai-responses, anthropic or gemini; empty lets the server recognise it.
	Provider string `json:"provider,omitempty"`
}

// MarshalJSON leaves zero input/output counts out when Usage or Response is set, so that the
// provider-native numbers apply (explicit fields would win over them).
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	if len(r.Usage) == 0 && len(r.Response) == 0 {
		return json.Marshal(plain(r))
	}
	type native struct {
		plain
		InputTokens  int64 `json:"input_tokens,omitempty"`
		OutputTokens int64 `json:"output_tokens,omitempty"`
	}
	return json.Marshal(native{plain(r), r.InputTokens, r.OutputTokens})
}

// NewRequestID returns a random 128-bit id in hex, for records that have none, so that a retried
// record is recognised as a duplicate rather than counted twice.
func NewRequestID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// Result is the server's answer: records newly stored and records it had seen before (by request id).
type Result struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// Error is an answer other than 2xx, with the server's error text.
type Error struct {
	Status  int
	Message string
	// Index is the position in the batch of the record the server refused (its "index" field, or the
	// N of "record N: …" in the message), or -1 when it named none.
	Index int
}

func (e *Error) Error() string {
	return fmt.Sprintf("tokenstats: HTTP %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// BadRecord reports whether the server refused the batch for its content (a bad record, or a body too
// large), so sending the same batch again cannot succeed. Auth failures and 5xx are not: they pass.
func (e *Error) BadRecord() bool {
	return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge ||
		e.Status == http.StatusUnprocessableEntity
}

// EncodeError says which record of a batch cannot be encoded as JSON (an invalid Usage or Response);
// nothing of the batch was sent.
type EncodeError struct {
	Index int
	Err   error
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("tokenstats: record %d cannot be encoded: %v", e.Index, e.Err)
}

func (e *EncodeError) Unwrap() error { return e.Err }

// Client sends records synchronously.
type Client struct {
	base  string
	token string
	// HTTP is the client used for requests; New sets one with a 30 s timeout.
	HTTP *http.Client
}

// New returns a client for the listener at baseURL (e.g. http://127.0.0.1:8788) with the API token.
func New(baseURL, token string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// URL is the listener's base address.
func (c *Client) URL() string { return c.base }

// Record stores records: all of them or, on error, none of the failing batch. Batches larger than
// MaxBatch are sent as several requests, and the results added up.
func (c *Client) Record(ctx context.Context, records ...Record) (Result, error) {
	if len(records) == 0 {
		return Result{}, errors.New("tokenstats: no records to send")
	}
	var total Result
	for offset := 0; offset < len(records); offset += MaxBatch {
		res, err := c.post(ctx, records[offset:min(offset+MaxBatch, len(records))])
		if err != nil {
			// Positions count from the start of records, not of the request that failed.
			var he *Error
			var ee *EncodeError
			if errors.As(err, &he) && he.Index >= 0 {
				he.Index += offset
			} else if errors.As(err, &ee) {
				ee.Index += offset
			}
			return total, err
		}
		total.Accepted += res.Accepted
		total.Duplicates += res.Duplicates
	}
	return total, nil
}

func (c *Client) post(ctx context.Context, records []Record) (Result, error) {
	// One record at a time, so that an error names the record.
	body := []byte{'['}
	for i, rec := range records {
		b, err := json.Marshal(rec)
		if err != nil {
			return Result{}, &EncodeError{Index: i, Err: err}
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, b...)
	}
	body = append(body, ']')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/usage", bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("tokenstats: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("tokenstats: send usage to %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, fmt.Errorf("tokenstats: read answer from %s: %w", c.base, err)
	}
	var ans struct {
		Success bool   `json:"success"`
		Error   string `json:"error"`
		Index   *int   `json:"index"`
		Result
	}
	jerr := json.Unmarshal(raw, &ans)
	if resp.StatusCode/100 != 2 {
		msg := ans.Error
		if jerr != nil || msg == "" {
			msg = strings.TrimSpace(string(raw))
			if len(msg) > 200 {
				msg = msg[:200] + "…"
			}
		}
		idx := -1
		if ans.Index != nil && *ans.Index >= 0 {
			idx = *ans.Index
		} else if i, ok := recordIndex(msg); ok {
			idx = i
		}
		return Result{}, &Error{Status: resp.StatusCode, Message: msg, Index: idx}
	}
	if jerr != nil || !ans.Success {
		return Result{}, fmt.Errorf("tokenstats: unexpected answer from %s (is it Token Stats?): %.200s", c.base, raw)
	}
	return ans.Result, nil
}

// recordIndex reads N from the server's "record N: …" message, the text form of its "index".
func recordIndex(msg string) (int, bool) {
	rest, ok := strings.CutPrefix(msg, "record ")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(num)
	return i, err == nil && i >= 0
}
