package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RecorderOptions tune a Recorder; zero values take the defaults shown.
type RecorderOptions struct {
	// SpoolDir keeps records that cannot be sent now (the listener is down, the queue is full, Close ran
	// out of time). Default: DefaultSpoolDir(). Files are JSON lines; any Recorder on the folder replays them.
	SpoolDir string
	// QueueSize bounds the records held in memory (default 10000). When it is full, Add moves the oldest
	// half to the spool.
	QueueSize int
	// BatchSize is the most records one POST carries (default 500).
	BatchSize int
	// BatchDelay is how long a record may wait for others to join its batch (default 200 ms).
	BatchDelay time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts while the listener is unreachable
	// (defaults 250 ms and 30 s; the wait doubles after each failure).
	MinBackoff, MaxBackoff time.Duration
	// Source is set on records that carry none (which proxy sent them).
	Source string
	// OnDrop is called, from the Recorder's goroutine, for a record the server refused as invalid; it is
	// not retried. Default: log it.
	OnDrop func(rec Record, err error)
	// Logger receives warnings; default: slog.Default().
	Logger *slog.Logger
}

// RecorderStats are counters since NewRecorder.
type RecorderStats struct {
	Queued     int   // records in memory now
	Accepted   int64 // records the server stored
	Duplicates int64 // records the server had already (a retry of a delivered batch)
	Dropped    int64 // records the server refused as invalid
	Spooled    int64 // records written to the spool
	Replayed   int64 // records read back from the spool and delivered
}

// Recorder sends records in the background: Add never blocks on the network, records are batched, a
// listener that is down is retried with backoff, and nothing is lost: what cannot be held in memory or
// sent before Close's deadline goes to the spool folder and is replayed once the listener answers.
// Every record gets a request id, so a retry of a batch the server did store is not counted twice.
type Recorder struct {
	c   *Client
	opt RecorderOptions

	mu      sync.Mutex
	queue   []Record
	firstAt time.Time // when the oldest queued record arrived
	closed  bool      // Close finished: Add spools directly

	spoolMu    sync.Mutex
	spoolCheck atomic.Bool // the spool may hold files: look at it when the listener answers

	wake      chan struct{}
	closing   chan struct{}
	abort     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	abortOnce sync.Once
	ctx       context.Context
	cancel    context.CancelFunc

	accepted, duplicates, dropped, spooled, replayed atomic.Int64
}

// NewRecorder starts a Recorder sending through c. It replays records a previous Recorder left in the
// spool folder as soon as the listener answers.
func NewRecorder(c *Client, opt RecorderOptions) (*Recorder, error) {
	if c == nil {
		return nil, errors.New("tokenstats: NewRecorder needs a Client")
	}
	if opt.SpoolDir == "" {
		d, err := DefaultSpoolDir()
		if err != nil {
			return nil, err
		}
		opt.SpoolDir = d
	}
	if err := os.MkdirAll(opt.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("tokenstats: spool folder: %w", err)
	}
	if opt.QueueSize <= 0 {
		opt.QueueSize = 10000
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 500
	}
	opt.BatchSize = min(opt.BatchSize, MaxBatch)
	if opt.BatchDelay <= 0 {
		opt.BatchDelay = 200 * time.Millisecond
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 250 * time.Millisecond
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(30*time.Second, opt.MinBackoff)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	r := &Recorder{c: c, opt: opt, wake: make(chan struct{}, 1), closing: make(chan struct{}),
		abort: make(chan struct{}), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.spoolCheck.Store(true)
	go r.run()
	return r, nil
}

// DefaultSpoolDir is the per-user spool folder: $XDG_STATE_HOME/tokenstats/spool (or
// ~/.local/state/tokenstats/spool) on Linux, ~/Library/Application Support/Token Stats/spool on macOS,
// %LOCALAPPDATA%\Token Stats\spool on Windows.
func DefaultSpoolDir() (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "Token Stats", "spool"), nil
		}
	case "darwin":
		if h := os.Getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", "Token Stats", "spool"), nil
		}
	default:
		if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
			return filepath.Join(d, "tokenstats", "spool"), nil
		}
		if h := os.Getenv("HOME"); h != "" {
			return filepath.Join(h, ".local", "state", "tokenstats", "spool"), nil
		}
	}
	return "", errors.New("tokenstats: no per-user folder for the spool (no HOME); set RecorderOptions.SpoolDir")
}

// Add queues a record and returns at once. A missing request id is generated and a missing timestamp
// set to now, so retries are idempotent and late delivery keeps the real time. When the queue is full,
// its oldest half is appended to a spool file (local disk, no network), not dropped.
func (r *Recorder) Add(rec Record) {
	if rec.RequestID == "" {
		rec.RequestID = NewRequestID()
	}
	if rec.Timestamp == 0 {
		rec.Timestamp = time.Now().Unix()
	}
	if rec.Source == "" {
		rec.Source = r.opt.Source
	}
	var overflow []Record
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.spill([]Record{rec})
		return
	}
	if len(r.queue) == 0 {
		r.firstAt = time.Now()
	}
	if len(r.queue) >= r.opt.QueueSize {
		n := max(1, r.opt.QueueSize/2)
		overflow = append([]Record(nil), r.queue[:n]...)
		r.queue = append(r.queue[:0:0], r.queue[n:]...)
	}
	r.queue = append(r.queue, rec)
	r.mu.Unlock()
	if overflow != nil {
		r.spill(overflow)
	}
	r.wakeUp()
}

// Stats returns the counters.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	q := len(r.queue)
	r.mu.Unlock()
	return RecorderStats{Queued: q, Accepted: r.accepted.Load(), Duplicates: r.duplicates.Load(),
		Dropped: r.dropped.Load(), Spooled: r.spooled.Load(), Replayed: r.replayed.Load()}
}

// Close sends what is queued and replays the spool, until done or until ctx ends; what is not sent by
// then stays in the spool for the next Recorder (nothing is lost). Records added after Close go
// straight to the spool.
func (r *Recorder) Close(ctx context.Context) error {
	r.closeOnce.Do(func() { close(r.closing) })
	var err error
	select {
	case <-r.done:
	case <-ctx.Done():
		r.abortOnce.Do(func() {
			r.cancel()
			close(r.abort)
		})
		<-r.done
		err = ctx.Err()
	}
	r.mu.Lock()
	r.closed = true
	left := r.queue
	r.queue = nil
	r.mu.Unlock()
	if len(left) > 0 {
		r.spill(left)
	}
	r.cancel()
	if err != nil {
		return fmt.Errorf("tokenstats: not everything was sent before the deadline; the rest is kept in %s: %w", r.opt.SpoolDir, err)
	}
	return nil
}

func (r *Recorder) wakeUp() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// run is the background loop: wait until something is due, then send one batch or replay one spool file.
func (r *Recorder) run() {
	defer close(r.done)
	var backoff time.Duration
	var retryAt time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	fail := func(err error) {
		backoff = min(max(backoff*2, r.opt.MinBackoff), r.opt.MaxBackoff)
		retryAt = time.Now().Add(backoff)
		r.opt.Logger.Debug("tokenstats: send failed; retrying", "err", err, "in", backoff)
	}
	for {
		if isDone(r.abort) {
			r.spillQueue()
			return
		}
		closing := isDone(r.closing)
		if wait, idle := r.nextWait(closing, retryAt); wait > 0 {
			timer.Reset(wait)
			closingCh := r.closing
			if closing {
				closingCh = nil
			}
			select {
			case <-r.wake:
			case <-timer.C:
			case <-closingCh:
			case <-r.abort:
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			continue
		} else if idle {
			return // closing, nothing queued, nothing spooled
		}
		if batch := r.take(); len(batch) > 0 {
			if rest, err := r.deliver(batch); err != nil {
				r.putBack(rest)
				fail(err)
				continue
			}
			backoff, retryAt = 0, time.Time{}
			r.spoolCheck.Store(true)
			continue
		}
		if err := r.replayOne(); err != nil {
			fail(err)
			continue
		}
		backoff, retryAt = 0, time.Time{}
	}
}

// nextWait says how long to sleep before the next step; idle is true when there is nothing to do at all.
func (r *Recorder) nextWait(closing bool, retryAt time.Time) (wait time.Duration, idle bool) {
	now := time.Now()
	if d := retryAt.Sub(now); d > 0 {
		return d, false
	}
	r.mu.Lock()
	n, first := len(r.queue), r.firstAt
	r.mu.Unlock()
	if n > 0 {
		if closing || n >= r.opt.BatchSize {
			return 0, false
		}
		if d := first.Add(r.opt.BatchDelay).Sub(now); d > 0 {
			return d, false
		}
		return 0, false
	}
	if r.spoolCheck.Load() {
		return 0, false
	}
	if closing {
		return 0, true
	}
	return time.Hour, false
}

func (r *Recorder) take() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(r.queue), r.opt.BatchSize)
	if n == 0 {
		return nil
	}
	batch := append([]Record(nil), r.queue[:n]...)
	r.queue = append(r.queue[:0:0], r.queue[n:]...)
	if len(r.queue) > 0 {
		r.firstAt = time.Time{} // the rest has waited long enough
	}
	return batch
}

// putBack returns undelivered records to the front of the queue; what no longer fits goes to the spool.
func (r *Recorder) putBack(recs []Record) {
	if len(recs) == 0 {
		return
	}
	r.mu.Lock()
	q := append(append([]Record(nil), recs...), r.queue...)
	var overflow []Record
	if len(q) > r.opt.QueueSize {
		n := len(q) - r.opt.QueueSize
		overflow, q = q[:n], q[n:]
	}
	r.queue = q
	r.firstAt = time.Time{}
	r.mu.Unlock()
	if overflow != nil {
		r.spill(overflow)
	}
}

func (r *Recorder) spillQueue() {
	r.mu.Lock()
	q := r.queue
	r.queue = nil
	r.mu.Unlock()
	if len(q) > 0 {
		r.spill(q)
	}
}

// deliver sends a batch. A batch the server refuses for its content is narrowed down to the bad records,
// which are dropped (OnDrop), while the others are delivered. On any other failure it returns the
// records not yet delivered.
func (r *Recorder) deliver(batch []Record) (rest []Record, err error) {
	for len(batch) > 0 {
		res, err := r.c.Record(r.ctx, batch...)
		if err == nil {
			r.accepted.Add(int64(res.Accepted))
			r.duplicates.Add(int64(res.Duplicates))
			return nil, nil
		}
		var he *Error
		if !errors.As(err, &he) || !he.BadRecord() {
			return batch, err
		}
		// The server names the first bad record ("record 3: model: is required"); else bisect.
		if i, ok := recordIndex(he.Message); ok && i < len(batch) && len(batch) > 1 {
			r.drop(batch[i], he)
			batch = append(batch[:i:i], batch[i+1:]...)
			continue
		}
		if len(batch) == 1 {
			r.drop(batch[0], he)
			return nil, nil
		}
		mid := len(batch) / 2
		if rest, err := r.deliver(batch[:mid]); err != nil {
			return append(rest, batch[mid:]...), err
		}
		batch = batch[mid:]
	}
	return nil, nil
}

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

func (r *Recorder) drop(rec Record, err error) {
	r.dropped.Add(1)
	if r.opt.OnDrop != nil {
		r.opt.OnDrop(rec, err)
		return
	}
	r.opt.Logger.Warn("tokenstats: the server refused a usage record; dropped", "err", err,
		"request_id", rec.RequestID, "account", rec.AccountEmail, "model", rec.Model)
}

// Spool files are written whole under a temporary name and renamed, so a reader never sees half a file
// and no two writers share one. A replaying Recorder claims a file by renaming it to *.claimed.
const (
	spoolExt    = ".jsonl"
	claimedExt  = ".claimed"
	staleClaim  = 10 * time.Minute // a claim older than this belongs to a process that died mid-replay
	spoolPrefix = "spool-"
)

// spill writes records to a new spool file.
func (r *Recorder) spill(recs []Record) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, rec := range recs {
		if err := enc.Encode(rec); err != nil {
			r.drop(rec, fmt.Errorf("encode for the spool: %w", err))
		}
	}
	name := fmt.Sprintf("%s%d-%s", spoolPrefix, time.Now().UnixNano(), NewRequestID()[:8])
	err := os.MkdirAll(r.opt.SpoolDir, 0o700)
	if err == nil {
		tmp := filepath.Join(r.opt.SpoolDir, "."+name+".tmp")
		if err = os.WriteFile(tmp, buf.Bytes(), 0o600); err == nil {
			err = os.Rename(tmp, filepath.Join(r.opt.SpoolDir, name+spoolExt))
		}
	}
	if err != nil {
		// The disk refused too: there is nowhere left to keep them.
		for _, rec := range recs {
			r.drop(rec, fmt.Errorf("spool: %w", err))
		}
		return
	}
	r.spooled.Add(int64(len(recs)))
	r.spoolCheck.Store(true)
}

// replayOne sends the records of one spool file; with none left it clears spoolCheck.
func (r *Recorder) replayOne() error {
	r.spoolMu.Lock()
	defer r.spoolMu.Unlock()
	claimed, err := r.claim()
	if err != nil {
		return err
	}
	if claimed == "" {
		r.spoolCheck.Store(false)
		return nil
	}
	recs, err := readSpool(claimed)
	if err != nil {
		// Set it aside rather than retry it forever and hold up the rest of the spool.
		r.opt.Logger.Error("tokenstats: unreadable spool file set aside", "err", err, "file", claimed+".unreadable")
		os.Rename(claimed, claimed+".unreadable")
		return nil
	}
	var sendErr error
	for len(recs) > 0 {
		n := min(len(recs), r.opt.BatchSize)
		rest, err := r.deliver(recs[:n])
		if err != nil {
			recs = append(rest, recs[n:]...)
			sendErr = err
			break
		}
		r.replayed.Add(int64(n))
		recs = recs[n:]
	}
	if len(recs) > 0 {
		r.spill(recs)
		r.spooled.Add(-int64(len(recs))) // not new records, just moved
	}
	if err := os.Remove(claimed); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.opt.Logger.Warn("tokenstats: remove replayed spool file", "err", err)
	}
	return sendErr
}

// claim renames one spool file (or a stale claim) to *.claimed and returns its new path, "" if none.
func (r *Recorder) claim() (string, error) {
	entries, err := os.ReadDir(r.opt.SpoolDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("read spool folder: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, spoolPrefix) {
			continue
		}
		src := filepath.Join(r.opt.SpoolDir, name)
		now := time.Now()
		switch {
		case strings.HasSuffix(name, spoolExt):
			dst := src + claimedExt
			if err := os.Rename(src, dst); err != nil {
				continue // another process claimed it first
			}
			os.Chtimes(dst, now, now) // the claim's age, not the file's
			return dst, nil
		case strings.HasSuffix(name, claimedExt):
			info, err := e.Info()
			if err != nil || now.Sub(info.ModTime()) < staleClaim {
				continue
			}
			// Taken over in place; should its owner still be alive, records are sent twice at worst,
			// and request ids make the second time a duplicate.
			os.Chtimes(src, now, now)
			return src, nil
		}
	}
	return "", nil
}

func readSpool(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open spool file: %w", err)
	}
	defer f.Close()
	var recs []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec Record
		if json.Unmarshal(line, &rec) == nil {
			recs = append(recs, rec)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read spool file: %w", err)
	}
	return recs, nil
}
