package passthrough

import (
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage"
)

// exchange is one request through the pass-through, from its arrival to its record.
type exchange struct {
	upstream string
	target   *url.URL
	start    time.Time
	method   string
	path     string // the upstream path, for messages (never the query, which may hold a key)
	source   string
	account  string // X-TokenStats-Account, or ""
	// secret is the request's credential, in memory only: its fingerprint names the credential and, for
	// Code Assist with the lookup on, it asks Google whose account it is.
	secret     string
	bearer     bool
	codeAssist bool // a /v1internal… request: the body's project names the account

	mu  sync.Mutex // the request body is read by the transport's goroutine
	req *usage.RequestScanner
}

func (h *Handler) newExchange(r *http.Request, name string, base *url.URL, rest string) (*exchange, error) {
	ex := &exchange{upstream: name, target: target(base, rest, r.URL.RawQuery), start: h.cfg.Now(),
		method: r.Method, source: name, req: usage.NewRequestScanner()}
	ex.path = ex.target.Path
	ex.codeAssist = strings.HasPrefix(rest, "/v1internal")
	if v, ok := headerValue(r, AccountHeader, stats.MaxAccountLen); ok {
		ex.account = v
	} else if v != "" {
		return nil, errors.New(v)
	}
	if v, ok := headerValue(r, SourceHeader, stats.MaxSourceLen); ok {
		ex.source = v
	} else if v != "" {
		return nil, errors.New(v)
	}
	ex.secret, ex.bearer = credential(r)
	return ex, nil
}

// headerValue reads one of our headers: ok with its value, or not ok with a message when it is present
// but unusable ("" when absent).
func headerValue(r *http.Request, name string, max int) (string, bool) {
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		return "", false
	}
	v := strings.TrimSpace(vals[0])
	bad := len(vals) > 1 || v == "" || len(v) > max || !utf8.ValidString(v)
	for _, c := range v {
		if c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 {
			bad = true
		}
	}
	if bad {
		return fmt.Sprintf("%s must be sent once, non-empty, valid UTF-8 without control characters, at most %d bytes", name, max), false
	}
	return v, true
}

// credential is the secret a request authenticates with, looked for where the upstream APIs take it:
// Authorization (bearer tokens, OpenAI keys), x-api-key (Anthropic), x-goog-api-key or key= (Gemini).
func credential(r *http.Request) (secret string, bearer bool) {
	if a := strings.TrimSpace(r.Header.Get("Authorization")); a != "" {
		if scheme, tok, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok), true
		}
		return a, false
	}
	for _, k := range []string{"X-Api-Key", "X-Goog-Api-Key"} {
		if v := strings.TrimSpace(r.Header.Get(k)); v != "" {
			return v, false
		}
	}
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && q.Get("key") != "" {
		return q.Get("key"), false
	}
	return "", false
}

// requestBody feeds the request body to the exchange's scanner as the transport sends it.
type requestBody struct {
	rc io.ReadCloser
	ex *exchange
}

func (b *requestBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.ex.mu.Lock()
		b.ex.req.Write(p[:n])
		b.ex.mu.Unlock()
	}
	return n, err
}

func (b *requestBody) Close() error { return b.rc.Close() }

func (h *Handler) modifyResponse(resp *http.Response) error {
	ex, ok := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	if !ok || resp.StatusCode == http.StatusSwitchingProtocols {
		return nil // a WebSocket or other upgrade passes through unread
	}
	ab := &answerBody{rc: resp.Body, h: h, ex: ex, status: resp.StatusCode, scan: usage.NewAnswerScanner(),
		header: resp.Header.Clone()}
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		ab.sink = ab.scan
	case "gzip", "x-gzip", "deflate":
		ab.decode(enc)
	default:
		ab.unreadable = enc
	}
	resp.Body = ab
	return nil
}

// answerBody passes the answer through unchanged and feeds a decoded copy to the scanner; its Close
// (the answer ended, or the client left) makes the record.
type answerBody struct {
	rc     io.ReadCloser
	h      *Handler
	ex     *exchange
	status int
	header http.Header
	scan   *usage.AnswerScanner
	sink   io.Writer // the scanner, or the pipe into a decompressor; nil once it failed
	pw     *io.PipeWriter
	done   chan struct{} // closed when the decompressor has written its last byte to the scanner
	once   sync.Once
	// unreadable names a Content-Encoding the scanner cannot read (br, zstd): the answer passes, its
	// usage is lost, and the Sources view says why.
	unreadable string
}

// decode starts a decompressor for a gzip or deflate answer: it reads the compressed copy from a pipe
// and writes the plain text to the scanner, and ends when the pipe closes or the data is corrupt.
func (b *answerBody) decode(enc string) {
	pr, pw := io.Pipe()
	b.pw, b.sink, b.done = pw, pw, make(chan struct{})
	go func() {
		defer close(b.done)
		var zr io.ReadCloser
		var err error
		if enc == "deflate" {
			zr, err = zlib.NewReader(pr)
		} else {
			zr, err = gzip.NewReader(pr)
		}
		if err == nil {
			_, err = io.Copy(b.scan, zr)
			zr.Close()
		}
		// A corrupt copy must not block the answer: later writes into the pipe fail at once.
		pr.CloseWithError(errCorrupt)
	}()
}

var errCorrupt = errors.New("decompression ended")

func (b *answerBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && b.sink != nil {
		if _, werr := b.sink.Write(p[:n]); werr != nil {
			b.sink = nil
		}
	}
	return n, err
}

func (b *answerBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.finish)
	return err
}

// finish turns what the scanner kept into a record, and the answer's error status into a note. The
// store is written off the request's goroutine: the client's answer is complete before it starts.
func (b *answerBody) finish() {
	if b.pw != nil {
		b.pw.Close()
		<-b.done
	}
	ex, h := b.ex, b.h
	ans, scanErr := b.scan.Result()
	if b.status >= 400 {
		h.note(ex.source, fmt.Sprintf("upstream %s answered %d %s to %s %s", ex.upstream, b.status,
			http.StatusText(b.status), ex.method, clip(ex.path, 200)))
	}
	if b.unreadable != "" && b.status < 400 {
		h.note(ex.source, fmt.Sprintf("upstream %s sent a %s-encoded answer, which Token Stats cannot read: its usage was not recorded", ex.upstream, clip(b.unreadable, 20)))
	}
	if scanErr != nil {
		return // no usage: an error, a listing, a stream without usage
	}
	ex.mu.Lock()
	reqModel, project, reqID := ex.req.Model(), ex.req.Project(), ex.req.RequestID()
	ex.mu.Unlock()
	rec := stats.Record{
		Time: ex.start, Kind: stats.KindProxy, Source: ex.source, IsAntigravity: ex.upstream == "antigravity",
		InputTokens: ans.Counts.InputTokens, OutputTokens: ans.Counts.OutputTokens, CachedTokens: ans.Counts.CachedTokens,
		ReasoningTokens: ans.Counts.ReasoningTokens, CacheCreationTokens: ans.Counts.CacheCreationTokens,
	}
	rec.Model = first(ans.Model, reqModel, usage.ModelFromPath(ex.path), "unknown")
	if id := first(ans.ID, b.header.Get("X-Request-Id"), b.header.Get("Request-Id"), reqID); id != "" {
		rec.RequestID = requestID(ex.upstream, id)
	}
	if ex.secret != "" {
		rec.Credential = usage.KeyFingerprint(ex.secret)
	}
	h.pending.Add(1)
	go func() {
		defer h.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rec.Account = ex.account
		if rec.Account == "" && ex.codeAssist && ex.bearer && h.lookup.Load() {
			rec.Account = h.emailOf(ctx, ex)
		}
		if rec.Account == "" && ex.codeAssist {
			rec.Account = project
		}
		rec.Account = first(rec.Account, rec.Credential, "unknown")
		if err := h.cfg.Record(ctx, rec); err != nil {
			h.log.Warn("pass-through record not stored", "source", ex.source, "err", err)
			h.note(ex.source, "a record from upstream "+ex.upstream+" was not stored: "+err.Error())
		}
	}()
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// requestID namespaces the upstream's id ("proxy:openai:chatcmpl-…"); one too long to store, or not
// printable, is replaced by its hash.
func requestID(upstream, id string) string {
	rid := "proxy:" + upstream + ":" + id
	ok := len(rid) <= stats.MaxRequestIDLen && utf8.ValidString(id)
	for _, c := range id {
		if c < 0x20 || c == 0x7f {
			ok = false
		}
	}
	if ok {
		return rid
	}
	sum := sha256.Sum256([]byte(id))
	return "proxy:" + upstream + ":sha256:" + hex.EncodeToString(sum[:12])
}
