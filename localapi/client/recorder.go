package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// RecorderOptions tune a Recorder; zero values take the defaults shown.
type RecorderOptions struct {
	// SpoolDir keeps records that cannot be sent now (the listener is down or not keeping up, Close ran
	// out of time). Default: DefaultSpoolDir(). Files are JSON lines; any Recorder on the folder, and the
	// gcli2api drop-in, replays them.
	SpoolDir string
	// QueueSize is how many records may wait in memory (default 10000); beyond it, or beyond half of
	// MaxBytes, the oldest half is handed to the spool writer.
	QueueSize int
	// MaxBytes bounds the memory records take, Usage and Response included (default 16 MiB). A record
	// that would take more (the listener frozen and the spool not keeping up) is dropped: counted,
	// and given to OnDrop with ErrMemoryFull.
	MaxBytes int
	// BatchSize is the most records one POST carries (default 500).
	BatchSize int
	// BatchDelay is how long a record may wait for others to join its batch (default 200 ms).
	BatchDelay time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts while the listener is unreachable
	// (defaults 250 ms and 30 s; the wait doubles after each failure).
	MinBackoff, MaxBackoff time.Duration
	// Source is set on records that carry none (which proxy sent them).
	Source string
	// OnDrop is called, from a Recorder goroutine, for a record given up: refused by the server as
	// invalid, impossible to encode, or beyond MaxBytes. Default: log it (the last kind once a minute).
	OnDrop func(rec Record, err error)
	// Logger receives warnings; default: slog.Default().
	Logger *slog.Logger
}

// ErrMemoryFull is the reason given to OnDrop for a record dropped at RecorderOptions.MaxBytes.
var ErrMemoryFull = errors.New("tokenstats: the recorder's memory cap is reached")

// RecorderStats are counters since NewRecorder.
type RecorderStats struct {
	Queued      int   // records in memory now (waiting, being sent or being written to the spool)
	Accepted    int64 // records the server stored
	Duplicates  int64 // records the server had already (a retry of a delivered batch)
	Dropped     int64 // records given up: refused as invalid, not encodable, or beyond MaxBytes
	Spooled     int64 // records written to the spool
	Replayed    int64 // records read back from the spool and delivered
	Quarantined int64 // spool lines that could not be read, set aside in spool-….bad
}

// warnEvery is the least time between two warnings of the same kind.
const warnEvery = time.Minute

// Recorder sends records in the background: Add never blocks on the network or the disk, records are
// batched, a listener that is down is retried with backoff, and nothing is lost while memory
// (MaxBytes) or the spool folder can hold it: what cannot be sent goes to the spool and is replayed
// once the listener answers. Every record gets a request id, so a retry of a batch the server did
// store is not counted twice.
type Recorder struct {
	c   *Client
	opt RecorderOptions

	mu          sync.Mutex
	queue       []Record
	queuedBytes int
	toSpool     []Record // handed to the spool writer
	inflight    int      // records the sender holds
	writing     int      // records the spool writer holds
	held        int      // bytes of records in memory: queued, to spool, in flight, being written
	firstAt     time.Time
	closed      bool // Close finished: Add spools directly
	diskRetryAt time.Time
	diskBackoff time.Duration
	warned      map[string]time.Time

	spoolCheck atomic.Bool // the spool may hold files: look at it when the listener answers

	wake, spoolWake chan struct{}
	closing         chan struct{}
	abort           chan struct{}
	done            chan struct{} // the sender has stopped
	spoolDone       chan struct{} // the spool writer has stopped
	closeOnce       sync.Once
	abortOnce       sync.Once
	ctx             context.Context
	cancel          context.CancelFunc

	accepted, duplicates, dropped, spooled, replayed, quarantined atomic.Int64
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
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 16 << 20
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
	r := &Recorder{c: c, opt: opt, wake: make(chan struct{}, 1), spoolWake: make(chan struct{}, 1),
		closing: make(chan struct{}), abort: make(chan struct{}), done: make(chan struct{}),
		spoolDone: make(chan struct{}), warned: map[string]time.Time{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.spoolCheck.Store(true)
	go r.run()
	go r.spoolLoop()
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

// recordSize is roughly the memory a record takes.
func recordSize(r *Record) int {
	return 256 + len(r.AccountEmail) + len(r.Model) + len(r.Credential) + len(r.RequestID) + len(r.Source) +
		len(r.Provider) + len(r.Usage) + len(r.Response)
}

func sizeOf(recs []Record) int {
	n := 0
	for i := range recs {
		n += recordSize(&recs[i])
	}
	return n
}

// Add queues a record and returns at once: no network, no disk. A missing request id is generated and a
// missing timestamp set to now, so retries are idempotent and late delivery keeps the real time. When
// the queue is long, its oldest half is handed to the spool writer; a record beyond MaxBytes is dropped.
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
	size := recordSize(&rec)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		// After Close nothing runs in the background: the caller's own shutdown pays for the write.
		if _, err := r.spill([]Record{rec}); err != nil {
			r.drop(rec, fmt.Errorf("spool after Close: %w", err))
		}
		return
	}
	if r.held+size > r.opt.MaxBytes {
		r.mu.Unlock()
		r.drop(rec, ErrMemoryFull)
		return
	}
	if len(r.queue) == 0 {
		r.firstAt = time.Now()
	}
	r.queue = append(r.queue, rec)
	r.queuedBytes += size
	r.held += size
	if len(r.queue) > r.opt.QueueSize || r.queuedBytes > r.opt.MaxBytes/2 {
		// The listener is not keeping up: the oldest half goes to the spool writer.
		n := max(1, len(r.queue)/2)
		r.handToSpool(r.queue[:n])
		r.queue = append(r.queue[:0:0], r.queue[n:]...)
	}
	r.mu.Unlock()
	r.wakeUp()
}

// handToSpool gives queued records to the spool writer; r.mu is held.
func (r *Recorder) handToSpool(recs []Record) {
	r.queuedBytes -= sizeOf(recs)
	r.toSpool = append(r.toSpool, recs...)
	select {
	case r.spoolWake <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	q := len(r.queue) + len(r.toSpool) + r.inflight + r.writing
	r.mu.Unlock()
	return RecorderStats{Queued: q, Accepted: r.accepted.Load(), Duplicates: r.duplicates.Load(),
		Dropped: r.dropped.Load(), Spooled: r.spooled.Load(), Replayed: r.replayed.Load(),
		Quarantined: r.quarantined.Load()}
}

// Close sends what is queued and replays the spool, until done or until ctx ends; what is not sent by
// then stays in the spool for the next Recorder. It returns nil only when everything was delivered.
// Records added after Close go straight to the spool.
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
	<-r.spoolDone
	r.mu.Lock()
	r.closed = true
	left := append(r.queue, r.toSpool...)
	r.queue, r.toSpool, r.queuedBytes, r.held = nil, nil, 0, 0
	r.mu.Unlock()
	if len(left) > 0 {
		if _, serr := r.spill(left); serr != nil {
			r.dropped.Add(int64(len(left)))
			r.opt.Logger.Error("tokenstats: records lost: the spool cannot be written at Close",
				"records", len(left), "err", serr)
			err = errors.Join(err, serr)
		}
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

// warn logs at WARN, at most once a minute for each kind.
func (r *Recorder) warn(kind, msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	last, seen := r.warned[kind]
	if seen && now.Sub(last) < warnEvery {
		r.mu.Unlock()
		return
	}
	r.warned[kind] = now
	r.mu.Unlock()
	r.opt.Logger.Warn(msg, args...)
}

// run is the sender: wait until something is due, then send one batch or replay one spool file.
func (r *Recorder) run() {
	defer close(r.done)
	var backoff time.Duration
	var retryAt time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	fail := func(err error) {
		backoff = min(max(backoff*2, r.opt.MinBackoff), r.opt.MaxBackoff)
		retryAt = time.Now().Add(backoff)
		var he *Error
		switch {
		case errors.As(err, &he) && (he.Status == 401 || he.Status == 403):
			r.warn("auth", "tokenstats: the listener refused the token; records wait until it is fixed: give "+
				"the client the token `tokenstats token` prints", "url", r.c.URL(), "status", he.Status, "err", he.Message)
		case errors.As(err, &he):
			r.warn("http", "tokenstats: the listener failed; records wait", "url", r.c.URL(), "status", he.Status, "err", he.Message)
		default:
			r.opt.Logger.Debug("tokenstats: send failed; retrying", "err", err, "in", backoff)
		}
	}
	for {
		if isDone(r.abort) {
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
			return // closing, nothing in memory, nothing spooled
		}
		if batch := r.take(); len(batch) > 0 {
			rest, err := r.deliver(batch)
			r.mu.Lock()
			r.held -= sizeOf(batch) - sizeOf(rest)
			r.inflight = 0
			if err != nil {
				r.putBack(rest)
			}
			r.mu.Unlock()
			if err != nil {
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
	n, first, spooling := len(r.queue), r.firstAt, len(r.toSpool) > 0 || r.writing > 0
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
	if closing && !spooling {
		return 0, true
	}
	return time.Hour, false // the spool writer wakes us when it is done
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
	r.queuedBytes -= sizeOf(batch)
	r.inflight = len(batch)
	if len(r.queue) > 0 {
		r.firstAt = time.Time{} // the rest has waited long enough
	}
	return batch
}

// putBack returns records to the front of the queue; what no longer fits goes to the spool writer.
// r.mu is held.
func (r *Recorder) putBack(recs []Record) {
	if len(recs) == 0 {
		return
	}
	r.queue = append(append([]Record(nil), recs...), r.queue...)
	r.queuedBytes += sizeOf(recs)
	if r.firstAt.IsZero() {
		r.firstAt = time.Now()
	}
	if n := len(r.queue) - r.opt.QueueSize; n > 0 {
		r.handToSpool(r.queue[:n])
		r.queue = append(r.queue[:0:0], r.queue[n:]...)
	}
}

// spoolLoop is the spool writer: it writes what Add and the sender hand it, off their goroutines.
// When the disk refuses, the records go back to the queue (memory) and the disk is tried again later.
func (r *Recorder) spoolLoop() {
	defer close(r.spoolDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		wait := time.Hour
		var batch []Record
		if len(r.toSpool) > 0 {
			if wait = time.Until(r.diskRetryAt); wait <= 0 {
				batch, r.toSpool, r.writing = r.toSpool, nil, len(r.toSpool)
			}
		}
		r.mu.Unlock()
		if batch != nil {
			kept, err := r.spill(batch)
			r.mu.Lock()
			r.writing = 0
			if err == nil {
				r.held -= sizeOf(batch)
				r.diskBackoff = 0
			} else {
				r.held -= sizeOf(batch) - sizeOf(kept)
				r.queue = append(kept, r.queue...)
				r.queuedBytes += sizeOf(kept)
				if r.firstAt.IsZero() {
					r.firstAt = time.Now()
				}
				r.diskBackoff = min(max(r.diskBackoff*2, r.opt.MinBackoff), r.opt.MaxBackoff)
				r.diskRetryAt = time.Now().Add(r.diskBackoff)
			}
			r.mu.Unlock()
			r.wakeUp()
			continue
		}
		timer.Reset(wait)
		select {
		case <-r.spoolWake:
		case <-timer.C:
		case <-r.done:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// deliver sends a batch. A batch the server refuses for its content is narrowed down to the bad records,
// which are dropped (OnDrop), while the others are delivered; so is a record that cannot be encoded.
// On any other failure it returns the records not yet delivered.
func (r *Recorder) deliver(batch []Record) (rest []Record, err error) {
	for len(batch) > 0 {
		res, err := r.c.Record(r.ctx, batch...)
		if err == nil {
			r.accepted.Add(int64(res.Accepted))
			r.duplicates.Add(int64(res.Duplicates))
			return nil, nil
		}
		var ee *EncodeError
		if errors.As(err, &ee) && ee.Index < len(batch) {
			r.drop(batch[ee.Index], err)
			batch = append(batch[:ee.Index:ee.Index], batch[ee.Index+1:]...)
			continue
		}
		var he *Error
		if !errors.As(err, &he) || !he.BadRecord() {
			return batch, err
		}
		// The server names the first bad record ("index", or "record 3: …"); else bisect.
		if i := he.Index; i >= 0 && i < len(batch) && len(batch) > 1 {
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

func (r *Recorder) drop(rec Record, err error) {
	r.dropped.Add(1)
	switch {
	case r.opt.OnDrop != nil:
		r.opt.OnDrop(rec, err)
	case errors.Is(err, ErrMemoryFull):
		r.warn("cap", "tokenstats: records dropped: the recorder's memory is full while the listener does not "+
			"take them and the spool does not keep up", "max_bytes", r.opt.MaxBytes, "dropped", r.dropped.Load(),
			"spool", r.opt.SpoolDir)
	default:
		r.opt.Logger.Warn("tokenstats: a usage record was given up", "err", err,
			"request_id", rec.RequestID, "account", rec.AccountEmail, "model", rec.Model)
	}
}
