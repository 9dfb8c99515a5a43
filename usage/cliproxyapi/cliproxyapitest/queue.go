// Package cliproxyapitest is a fake of CLIProxyAPI's usage queue for tests: an http.Handler that
// answers GET /v0/management/usage-queue?count=N the way CLIProxyAPI does (commit a7e3596,
// internal/api/handlers/management/usage.go and handler.go): the management key in
// "Authorization: Bearer" or "X-Management-Key", the oldest N records popped for good and written as a
// JSON array, count 1 when absent, 400 for a count that is not a positive integer.
package cliproxyapitest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenstats/tokenstats/usage/cliproxyapi"
)

// Queue is the fake. Push records, serve it with httptest, and Len tells what a poller left behind.
type Queue struct {
	key   string
	mu    sync.Mutex
	items [][]byte
	pops  int
}

// New returns an empty queue that accepts managementKey.
func New(managementKey string) *Queue { return &Queue{key: managementKey} }

// Push appends records in the order they are popped. An item that is not valid JSON is served as a
// JSON string, as CLIProxyAPI does.
func (q *Queue) Push(items ...[]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range items {
		q.items = append(q.items, bytes.Clone(it))
	}
}

// Len is the number of records still queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Pops is the number of successful pops served.
func (q *Queue) Pops() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pops
}

// ServeHTTP answers GET QueuePath; another path or method gets 404, as CLIProxyAPI's router answers.
func (q *Queue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != cliproxyapi.QueuePath || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	provided := r.Header.Get("Authorization")
	if parts := strings.SplitN(provided, " ", 2); len(parts) == 2 && strings.EqualFold(parts[0], "bearer") {
		provided = parts[1]
	}
	if provided == "" {
		provided = r.Header.Get("X-Management-Key")
	}
	switch {
	case provided == "":
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing management key"})
		return
	case provided != q.key:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid management key"})
		return
	}
	n := 1
	if s := strings.TrimSpace(r.URL.Query().Get("count")); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "count must be a positive integer"})
			return
		}
	}
	q.mu.Lock()
	n = min(n, len(q.items))
	popped := q.items[:n]
	q.items = q.items[n:]
	q.pops++
	q.mu.Unlock()
	out := make([]json.RawMessage, 0, len(popped))
	for _, it := range popped {
		if json.Valid(it) {
			out = append(out, it)
		} else {
			s, _ := json.Marshal(string(it))
			out = append(out, s)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// Record is a queue record in CLIProxyAPI's JSON shape (internal/redisqueue/plugin.go,
// queuedUsageDetail), for tests that build their own. The caller fills TokenBreakdown the way
// CLIProxyAPI would for the provider, or leaves it zero like a record from before accounting version 2.
type Record struct {
	Timestamp         time.Time           `json:"timestamp"`
	LatencyMs         int64               `json:"latency_ms"`
	TTFTMs            int64               `json:"ttft_ms"`
	Source            string              `json:"source"`
	AuthIndex         string              `json:"auth_index"`
	AccessTokenSHA256 string              `json:"access_token_sha256,omitempty"`
	ClientIP          string              `json:"client_ip"`
	XForwardedFor     string              `json:"x_forwarded_for"`
	UserAgent         string              `json:"user_agent"`
	Tokens            Tokens              `json:"tokens"`
	Failed            bool                `json:"failed"`
	Generate          bool                `json:"generate"`
	Fail              Fail                `json:"fail"`
	ResponseHeaders   map[string][]string `json:"response_headers,omitempty"`
	AccountingVersion int                 `json:"accounting_version"`
	TokenBreakdown    TokenBreakdown      `json:"token_breakdown"`
	Provider          string              `json:"provider"`
	ExecutorType      string              `json:"executor_type"`
	Model             string              `json:"model"`
	Alias             string              `json:"alias"`
	Endpoint          string              `json:"endpoint"`
	AuthType          string              `json:"auth_type"`
	APIKey            string              `json:"api_key"`
	RequestID         string              `json:"request_id"`
	ReasoningEffort   string              `json:"reasoning_effort"`
	ServiceTier       string              `json:"service_tier"`
}

// Tokens is a record's raw token counts, whose meaning depends on the provider.
type Tokens struct {
	InputTokens            int64 `json:"input_tokens"`
	OutputTokens           int64 `json:"output_tokens"`
	ReasoningTokens        int64 `json:"reasoning_tokens"`
	CachedTokens           int64 `json:"cached_tokens"`
	CacheReadTokens        int64 `json:"cache_read_tokens"`
	CacheReadTokensPresent bool  `json:"cache_read_tokens_present"`
	CacheCreationTokens    int64 `json:"cache_creation_tokens"`
	TotalTokens            int64 `json:"total_tokens"`
}

// Fail is a record's failure detail; 200 and an empty body for a success.
type Fail struct {
	StatusCode int    `json:"status_code"`
	Body       string `json:"body"`
}

// TokenBreakdown is CLIProxyAPI's canonical accounting, schema version 2.
type TokenBreakdown struct {
	SchemaVersion      int    `json:"schema_version"`
	Quality            string `json:"quality"`
	TotalTokens        int64  `json:"total_tokens"`
	Input              Input  `json:"input"`
	Output             Output `json:"output"`
	UnclassifiedTokens int64  `json:"unclassified_tokens"`
}

// Input is the breakdown's input buckets: uncached, cache reads and cache writes add up to the total.
type Input struct {
	TotalTokens      int64 `json:"total_tokens"`
	UncachedTokens   int64 `json:"uncached_tokens"`
	CacheReadTokens  int64 `json:"cache_read_tokens"`
	CacheWriteTokens int64 `json:"cache_write_tokens"`
}

// Output is the breakdown's output buckets: non-reasoning and reasoning add up to the total.
type Output struct {
	TotalTokens        int64 `json:"total_tokens"`
	NonReasoningTokens int64 `json:"non_reasoning_tokens"`
	ReasoningTokens    int64 `json:"reasoning_tokens"`
}

// JSON is the record as the queue holds it.
func (r Record) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}
