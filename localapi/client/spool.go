package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// The spool folder is shared with the gcli2api drop-in (integrations/gcli2api/token_stats.py), which
// follows the same rules:
//   - spool-<ns>-<rand>.jsonl: JSON lines, written whole under .spool-….tmp and renamed, so no reader
//     sees half a file and no two writers share one;
//   - a replaying process claims a file by renaming it to *.jsonl.claimed, holding an flock on it (Unix)
//     until it removes it; a claim nobody holds a lock on belongs to a process that died and is taken
//     over at once (without flock, on Windows: once it is staleAge old);
//   - lines that cannot be read (not UTF-8, not a JSON object) go, byte for byte, to spool-<…>.bad,
//     which nothing replays;
//   - .spool-….tmp files staleAge old are leftovers of a process that died while writing.
const (
	spoolExt    = ".jsonl"
	claimedExt  = ".claimed"
	badExt      = ".bad"
	spoolPrefix = "spool-"
	staleAge    = 10 * time.Minute
)

// spill writes records to a new spool file. It returns the records it could encode (those it could not
// are dropped) and, when the disk refused, an error: then nothing was written and nothing is left behind.
func (r *Recorder) spill(recs []Record) (kept []Record, err error) {
	name := fmt.Sprintf("%s%d-%s%s", spoolPrefix, time.Now().UnixNano(), NewRequestID()[:8], spoolExt)
	tmp := filepath.Join(r.opt.SpoolDir, "."+name+".tmp")
	var f *os.File
	if err = os.MkdirAll(r.opt.SpoolDir, 0o700); err == nil {
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	var w *bufio.Writer
	if err == nil {
		w = bufio.NewWriterSize(f, 64<<10) // in pieces: one buffer of everything would double the memory
	}
	for _, rec := range recs {
		b, merr := json.Marshal(rec)
		if merr != nil {
			r.drop(rec, fmt.Errorf("encode for the spool: %w", merr))
			continue
		}
		kept = append(kept, rec)
		if err == nil {
			w.Write(b)
			err = w.WriteByte('\n')
		}
	}
	if f != nil {
		if err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil && len(kept) > 0 {
			err = os.Rename(tmp, filepath.Join(r.opt.SpoolDir, name))
		}
		if err != nil || len(kept) == 0 {
			os.Remove(tmp)
		}
	}
	if err != nil {
		r.warn("disk", "tokenstats: cannot write the spool; records stay in memory meanwhile", "dir", r.opt.SpoolDir, "err", err)
		return kept, fmt.Errorf("write the spool: %w", err)
	}
	r.spooled.Add(int64(len(kept)))
	if len(kept) > 0 {
		r.spoolCheck.Store(true)
	}
	return kept, nil
}

// replayOne sends the records of one spool file; with none left it clears spoolCheck.
func (r *Recorder) replayOne() error {
	cl, err := claimSpool(r.opt.SpoolDir)
	if err != nil {
		return err
	}
	if cl == nil {
		r.spoolCheck.Store(false)
		return nil
	}
	recs, bad, err := readSpool(cl.f)
	if err != nil {
		// A line too long to be a record: the whole file is set aside rather than retried forever.
		r.opt.Logger.Warn("tokenstats: unreadable spool file set aside", "err", err, "file", cl.badPath())
		cl.setAside()
		return nil
	}
	if len(bad) > 0 {
		if err := r.quarantine(cl, bad); err != nil {
			cl.giveBack()
			return err
		}
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
		kept, err := r.spill(recs)
		if err != nil {
			// Kept whole: what went already comes back as duplicates, not as losses.
			cl.giveBack()
			return errors.Join(sendErr, err)
		}
		r.spooled.Add(-int64(len(kept))) // not new records, just moved
	}
	cl.done()
	return sendErr
}

// quarantine appends unreadable lines to the file's .bad companion and says where.
func (r *Recorder) quarantine(cl *claim, bad [][]byte) error {
	f, err := os.OpenFile(cl.badPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err == nil {
		_, err = f.Write(append(bytes.Join(bad, []byte{'\n'}), '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("set aside unreadable spool lines: %w", err)
	}
	r.quarantined.Add(int64(len(bad)))
	r.opt.Logger.Warn("tokenstats: unreadable spool lines set aside", "lines", len(bad), "file", cl.badPath())
	return nil
}

// readSpool returns a spool file's records and, apart, its lines that are not UTF-8 JSON objects.
func readSpool(f *os.File) (recs []Record, bad [][]byte, err error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec Record
		if !utf8.Valid(line) || line[0] != '{' || json.Unmarshal(line, &rec) != nil {
			bad = append(bad, bytes.Clone(line))
			continue
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read spool file: %w", err)
	}
	return recs, bad, nil
}

// claim is a spool file this process replays: renamed to *.claimed and, with flock, locked.
type claim struct {
	path string
	f    *os.File
}

func (c *claim) badPath() string {
	return strings.TrimSuffix(strings.TrimSuffix(c.path, claimedExt), spoolExt) + badExt
}

// done removes the file, then lets go of the lock, so nobody locks a file that is still listed.
func (c *claim) done() {
	if !haveFlock {
		c.f.Close()
	}
	os.Remove(c.path) // if it fails, the file stays claimed and unlocked: replayed again, as duplicates
	c.f.Close()
}

// giveBack returns the file to the spool unclaimed: its records wait for the next replay.
func (c *claim) giveBack() {
	if !haveFlock {
		c.f.Close()
	}
	os.Rename(c.path, strings.TrimSuffix(c.path, claimedExt)) // else left claimed and unlocked: taken over all the same
	c.f.Close()
}

// setAside renames the whole file to its .bad name.
func (c *claim) setAside() {
	if !haveFlock {
		c.f.Close()
	}
	os.Rename(c.path, c.badPath())
	c.f.Close()
}

// claimSpool claims one spool file: one nobody claimed, or one whose claimer is gone; nil if none.
func claimSpool(dir string) (*claim, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read spool folder: %w", err)
	}
	now := time.Now()
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, "."+spoolPrefix) && strings.HasSuffix(name, ".tmp"):
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleAge {
				os.Remove(path) // half written by a process that died while writing
			}
		case !strings.HasPrefix(name, spoolPrefix):
		case strings.HasSuffix(name, spoolExt):
			if c := claimNew(path, now); c != nil {
				return c, nil
			}
		case strings.HasSuffix(name, claimedExt):
			if c := takeOver(path, now); c != nil {
				return c, nil
			}
		}
	}
	return nil, nil
}

func claimNew(path string, now time.Time) *claim {
	claimed := path + claimedExt
	if !haveFlock {
		if os.Rename(path, claimed) != nil {
			return nil // another process claimed it first
		}
		os.Chtimes(claimed, now, now) // the claim's age, for the age rule
		f, err := os.Open(claimed)
		if err != nil {
			return nil
		}
		return &claim{claimed, f}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	if !lockFile(f) || os.Rename(path, claimed) != nil {
		f.Close() // claimed (and perhaps finished) by another process meanwhile
		return nil
	}
	os.Chtimes(claimed, now, now) // for processes that go by the age rule
	return &claim{claimed, f}
}

func takeOver(path string, now time.Time) *claim {
	if !haveFlock {
		info, err := os.Stat(path)
		if err != nil || now.Sub(info.ModTime()) < staleAge {
			return nil
		}
		os.Chtimes(path, now, now)
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		return &claim{path, f}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	// Locked: its claimer is alive. Unlocked: it died, or has just removed the file, hence the check.
	if !lockFile(f) || !stillThere(f, path) {
		f.Close()
		return nil
	}
	return &claim{path, f}
}

func stillThere(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}
