package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/cliproxyapi"
)

// The CLIProxyAPI poller. CLIProxyAPI publishes one usage record per request to an in-memory queue that
// a consumer pops with GET /v0/management/usage-queue?count=N and its management key. The pop is
// destructive, so a popped batch is written to the data folder (0600, atomically) before it is stored
// and stays there until it is committed: a crash between the pop and the commit loses nothing, because
// the next start stores that batch before it pops again. A failed store is retried, never dropped, and
// nothing is popped while a batch waits. The file holds the decoded records, never the queue's raw
// bytes, which carry API keys.

const (
	// cliproxyEvery is the pause between polls when the queue was drained; CLIProxyAPI keeps records
	// 60 s by default (redis-usage-queue-retention-seconds).
	cliproxyEvery = 5 * time.Second
	// cliproxyCount is how many records one pop asks for; a full answer is followed by another pop at
	// once. Records would have to average 65 KiB (32 MiB / 500) to pass cliproxyapi.MaxBodyBytes.
	cliproxyCount = 500
	// cliproxyAuthWait is how long a refused key is not tried again: CLIProxyAPI bans an address for
	// 30 minutes after 5 failed keys (internal/api/handlers/management/handler.go). A changed key or
	// URL is tried at once.
	cliproxyAuthWait = 10 * time.Minute
	// cliproxyNoteEvery bounds how often an unchanged health note or error is written to Sources.
	cliproxyNoteEvery = time.Minute
	// cliproxyRetryMax bounds the wait between attempts to store a batch.
	cliproxyRetryMax = 30 * time.Second
	// cliproxyTimeout bounds one pop.
	cliproxyTimeout = 30 * time.Second
)

// cliproxyKeyEnv holds the management key; it wins over the key saved in Settings.
const cliproxyKeyEnv = "TOKENSTATS_CLIPROXYAPI_KEY"

func cliproxyKeyFile(dataDir string) string { return filepath.Join(dataDir, "cliproxyapi.key") }

func cliproxyPendingFile(dataDir string) string {
	return filepath.Join(dataDir, "cliproxyapi-pending.json")
}

// checkCLIProxyAPIURL accepts an http or https URL with a host, without a query.
func checkCLIProxyAPIURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return fmt.Errorf("%q is not a CLIProxyAPI address such as http://127.0.0.1:8317", s)
	}
	return nil
}

// cliproxyTarget is where to poll and with which key; URL "" means no polling.
type cliproxyTarget struct{ URL, Key string }

// cliproxyTargetFunc reads the target as it is now: the flag or environment, else Settings; the key
// from the environment, else the key file. Settings changes take effect at the next poll.
func cliproxyTargetFunc(cfg Config, getenv func(string) string) func() cliproxyTarget {
	return func() cliproxyTarget {
		t := cliproxyTarget{URL: cfg.CLIProxyAPI}
		if !cfg.Given["cliproxyapi"] {
			if s, err := loadSettings(cfg.DataDir); err == nil && checkCLIProxyAPIURL(s.CLIProxyAPI) == nil {
				t.URL = s.CLIProxyAPI
			}
		}
		t.Key = strings.TrimSpace(getenv(cliproxyKeyEnv))
		if t.Key == "" {
			if b, err := os.ReadFile(cliproxyKeyFile(cfg.DataDir)); err == nil {
				t.Key = strings.TrimSpace(string(b))
			}
		}
		return t
	}
}

// cliproxyBatch is a popped batch as the pending file keeps it until it is committed.
type cliproxyBatch struct {
	Version  int            `json:"version"`
	PoppedAt time.Time      `json:"popped_at"`
	Records  []stats.Record `json:"records"`
	Ignored  map[string]int `json:"ignored,omitempty"`
	Rejected map[string]int `json:"rejected,omitempty"`
}

// cliproxyPoller pops CLIProxyAPI's usage queue into the store.
type cliproxyPoller struct {
	store   *stats.Store
	dataDir string
	target  func() cliproxyTarget
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time
	every   time.Duration

	// Health, for the Sources view.
	lastOK      time.Time
	lastNote    time.Time
	lastErr     string
	lastErrNote time.Time
	refused     cliproxyTarget // the target whose key was refused, and when
	refusedAt   time.Time
}

func newCLIProxyPoller(store *stats.Store, dataDir string, target func() cliproxyTarget, log *slog.Logger) *cliproxyPoller {
	return &cliproxyPoller{store: store, dataDir: dataDir, target: target, log: log, now: time.Now,
		every: cliproxyEvery, client: &http.Client{Timeout: cliproxyTimeout}}
}

// startCLIProxyPoller runs the poller until stop is called; stop waits for it to finish.
func startCLIProxyPoller(p *cliproxyPoller) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// run stores a batch left by the last run, then polls until ctx ends.
func (p *cliproxyPoller) run(ctx context.Context) {
	if err := p.replay(ctx); err != nil {
		return // ctx ended; the batch stays on disk for the next start
	}
	for ctx.Err() == nil {
		more, err := p.poll(ctx)
		if err != nil {
			return
		}
		if !more && !sleep(ctx, p.every) {
			return
		}
	}
}

// replay stores the batch a previous run popped but may not have committed. Records it did commit are
// duplicates by request id and count once.
func (p *cliproxyPoller) replay(ctx context.Context) error {
	b, err := os.ReadFile(cliproxyPendingFile(p.dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		p.fail(ctx, "read the popped batch kept in the data folder: "+err.Error())
		return nil
	}
	var batch cliproxyBatch
	if err := json.Unmarshal(b, &batch); err != nil {
		// Written atomically, so this is not a torn write: keep it aside for a person to look at.
		aside := cliproxyPendingFile(p.dataDir) + ".unreadable"
		os.Rename(cliproxyPendingFile(p.dataDir), aside)
		p.fail(ctx, fmt.Sprintf("the popped batch kept in the data folder does not decode (%v); kept as %s", err, aside))
		return nil
	}
	p.log.Info("storing the CLIProxyAPI batch popped before the last stop", "records", len(batch.Records))
	return p.commit(ctx, batch)
}

// poll pops one batch and stores it. more reports a full batch (more may be waiting); err is set only
// when ctx ended.
func (p *cliproxyPoller) poll(ctx context.Context) (more bool, err error) {
	t := p.target()
	if t.URL == "" {
		return false, nil
	}
	if t.Key == "" {
		p.fail(ctx, "no management key: set "+cliproxyKeyEnv+" or the key in Settings")
		return false, nil
	}
	if t == p.refused && p.now().Sub(p.refusedAt) < cliproxyAuthWait {
		return false, nil
	}
	body, err := p.pop(ctx, t)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		p.fail(ctx, scrub(err.Error(), t.Key))
		return false, nil
	}
	res, err := cliproxyapi.Decode(body, p.now())
	if err != nil {
		p.fail(ctx, scrub(err.Error(), t.Key))
		return false, nil
	}
	n := len(res.Records) + total(res.Ignored) + total(res.Rejected)
	if n > 0 {
		batch := cliproxyBatch{Version: 1, PoppedAt: p.now().UTC(), Records: res.Records, Ignored: res.Ignored, Rejected: res.Rejected}
		if err := p.keep(batch); err != nil {
			// The records are popped: store them all the same, but say that a crash now would lose them.
			p.log.Error("cannot keep the popped CLIProxyAPI batch on disk; storing it anyway", "err", err)
			p.fail(ctx, "cannot keep the popped batch in the data folder: "+err.Error())
		}
		if err := p.commit(ctx, batch); err != nil {
			return false, err
		}
	}
	p.ok(ctx, t, n)
	return n >= cliproxyCount, nil
}

// pop asks the queue for up to cliproxyCount records.
func (p *cliproxyPoller) pop(ctx context.Context, t cliproxyTarget) ([]byte, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("CLIProxyAPI address: %w", err)
	}
	shown := u.Redacted()
	if !strings.HasSuffix(u.Path, cliproxyapi.QueuePath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + cliproxyapi.QueuePath
	}
	u.RawQuery = "count=" + strconv.Itoa(cliproxyCount)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("CLIProxyAPI address: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+t.Key)
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return nil, fmt.Errorf("poll %s: %w", shown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, cliproxyapi.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("poll %s: read the answer: %w", shown, err)
	}
	if resp.StatusCode != http.StatusOK {
		why := answerError(body)
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			p.refused, p.refusedAt = t, p.now()
			return nil, fmt.Errorf("CLIProxyAPI at %s refused the management key (%d%s): check the key (%s or Settings); Token Stats tries this key again in %d minutes",
				shown, resp.StatusCode, why, cliproxyKeyEnv, int(cliproxyAuthWait.Minutes()))
		case http.StatusNotFound:
			return nil, fmt.Errorf("CLIProxyAPI at %s has no usage queue (404%s): set remote-management.secret-key and usage-statistics-enabled: true, and check the address", shown, why)
		}
		return nil, fmt.Errorf("CLIProxyAPI at %s answered %d%s", shown, resp.StatusCode, why)
	}
	if len(body) > cliproxyapi.MaxBodyBytes {
		return nil, fmt.Errorf("CLIProxyAPI at %s answered more than %d MiB; those records are lost", shown, cliproxyapi.MaxBodyBytes>>20)
	}
	return body, nil
}

// answerError is the error text of a CLIProxyAPI error answer ({"error": "…"}), as ": text".
func answerError(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return ""
	}
	msg := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(e.Error, "?"))
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	return ": " + msg
}

// keep writes the batch to the data folder, 0600, through a temporary file and a rename.
func (p *cliproxyPoller) keep(b cliproxyBatch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode the popped batch: %w", err)
	}
	return writeFileAtomic(cliproxyPendingFile(p.dataDir), data, 0o600)
}

// commit stores a batch until it is stored, then removes its file and notes what it ignored or
// rejected. It returns an error only when ctx ends first; the file then stays for the next start.
func (p *cliproxyPoller) commit(ctx context.Context, b cliproxyBatch) error {
	recs := b.Records
	wait := time.Second
	for {
		_, err := p.store.Record(ctx, recs...)
		var fe *stats.FieldError
		if errors.As(err, &fe) {
			// A rule the decoder let through (a time that has since become too far ahead): leave that
			// record out, counted, rather than hold back the others.
			i := fe.Index
			if len(recs) == 1 {
				i = 0
			}
			if i >= 0 && i < len(recs) {
				if b.Rejected == nil {
					b.Rejected = map[string]int{}
				}
				b.Rejected["store: "+fe.Field+": "+fe.Msg]++
				recs = append(recs[:i:i], recs[i+1:]...)
				continue
			}
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.log.Warn("storing CLIProxyAPI records failed; retrying", "records", len(recs), "err", err, "retry_in", wait)
		p.fail(ctx, fmt.Sprintf("storing %d popped records failed, retrying: %v", len(recs), err))
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, cliproxyRetryMax)
	}
	if err := os.Remove(cliproxyPendingFile(p.dataDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.log.Warn("cannot remove the stored CLIProxyAPI batch; the next start stores it again as duplicates", "err", err)
	}
	// What was not usage is counted; what could not be stored is the source's error. The note is the
	// poller's health (ok).
	n := stats.SourceNote{Name: cliproxyapi.Source, Kind: stats.KindCLIProxyAPI, Ignored: int64(total(b.Ignored))}
	if len(b.Rejected) > 0 {
		n.Error = countsText(fmt.Sprintf("%d records not stored: ", total(b.Rejected)), b.Rejected)
	}
	if n.Ignored > 0 || n.Error != "" {
		p.note(ctx, n)
	}
	return nil
}

// ok records a successful poll; the note that says so is written when something changed, or once a
// minute.
func (p *cliproxyPoller) ok(ctx context.Context, t cliproxyTarget, popped int) {
	now := p.now()
	p.lastOK = now
	recovered := p.lastErr != ""
	if recovered {
		p.log.Info("CLIProxyAPI usage queue polled again", "url", redacted(t.URL))
		p.lastErr = ""
	}
	if !recovered && popped == 0 && now.Sub(p.lastNote) < cliproxyNoteEvery {
		return
	}
	p.lastNote = now
	p.note(ctx, stats.SourceNote{Name: cliproxyapi.Source, Kind: stats.KindCLIProxyAPI,
		Note: fmt.Sprintf("polls %s every %s; last successful poll %s", redacted(t.URL), p.every,
			now.In(p.store.Location()).Format("2006-01-02 15:04:05 MST"))})
}

// fail records what went wrong: logged when it changes, written to Sources when it changes or once a
// minute. Callers keep the key out of msg.
func (p *cliproxyPoller) fail(ctx context.Context, msg string) {
	now := p.now()
	if msg == p.lastErr && now.Sub(p.lastErrNote) < cliproxyNoteEvery {
		return
	}
	if msg != p.lastErr {
		p.log.Warn("CLIProxyAPI usage queue", "err", msg)
	}
	p.lastErr, p.lastErrNote = msg, now
	n := stats.SourceNote{Name: cliproxyapi.Source, Kind: stats.KindCLIProxyAPI, Error: msg}
	if !p.lastOK.IsZero() {
		n.Note = "last successful poll " + p.lastOK.In(p.store.Location()).Format("2006-01-02 15:04:05 MST")
	}
	p.note(ctx, n)
}

func (p *cliproxyPoller) note(ctx context.Context, n stats.SourceNote) {
	if err := p.store.NoteSource(ctx, n); err != nil && ctx.Err() == nil {
		p.log.Warn("note CLIProxyAPI source", "err", err)
	}
}

// scrub removes the key from a text, should a server or a proxy have echoed it.
func scrub(msg, key string) string {
	if key == "" {
		return msg
	}
	return strings.ReplaceAll(msg, key, "[management key]")
}

func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// countsText lists reasons with their counts after a prefix, bounded for the Sources view.
func countsText(prefix string, m map[string]int) string {
	var b strings.Builder
	b.WriteString(prefix)
	first := true
	for _, k := range sortedKeys(m) {
		if !first {
			b.WriteString("; ")
		}
		first = false
		if b.Len() > 300 {
			b.WriteString("…")
			break
		}
		fmt.Fprintf(&b, "%s (%d)", k, m[k])
	}
	return b.String()
}

// sortedKeys orders reasons most frequent first, then by name, so the text is stable.
func sortedKeys(m map[string]int) []string {
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// The management key in Settings: kept in its own file (0600) in the data folder, not in settings.json.

// CLIProxyAPI is the URL the poller uses and whether a key is saved or set in the environment.
func (b *settingsBackend) CLIProxyAPI() (string, bool) {
	t := cliproxyTargetFunc(b.cfg, b.getenv)()
	return t.URL, t.Key != ""
}

// SetCLIProxyAPI saves the URL ("" stops polling) and, when key is not "", the management key. The
// poller picks them up at its next poll.
func (b *settingsBackend) SetCLIProxyAPI(rawURL, key string) error {
	rawURL, key = strings.TrimSpace(rawURL), strings.TrimSpace(key)
	if rawURL != "" {
		if err := checkCLIProxyAPIURL(rawURL); err != nil {
			return err
		}
	}
	if b.cfg.Given["cliproxyapi"] && rawURL != b.cfg.CLIProxyAPI {
		return errors.New("the CLIProxyAPI address is set by --cliproxyapi or TOKENSTATS_CLIPROXYAPI, which win over the saved setting")
	}
	if key != "" {
		if strings.TrimSpace(b.getenv(cliproxyKeyEnv)) != "" {
			return errors.New("the management key is set by " + cliproxyKeyEnv + "; change it there")
		}
		if err := os.MkdirAll(b.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data folder: %w", err)
		}
		if err := writeFileAtomic(cliproxyKeyFile(b.cfg.DataDir), []byte(key+"\n"), 0o600); err != nil {
			return fmt.Errorf("save the management key: %w", err) // names the file, never its content
		}
	}
	if b.cfg.Given["cliproxyapi"] {
		return nil
	}
	return b.update(func(s *savedSettings) { s.CLIProxyAPI = rawURL })
}
