// Package statstest builds the synthetic usage databases the benchmarks and the load test run on. It writes
// through the store's own write path (stats.Store.Record in large batches), so a generated file holds
// exactly what ingest would have stored, rollups and request ids included.
package statstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// Spec describes a data set: N records spread evenly over Days days ending at End, over Accounts
// accounts and Models models, each with a request id.
type Spec struct {
	Records  int
	Days     int
	Accounts int
	Models   int
	End      time.Time
}

// Standard is the data set shape with n records ending at end.
func Standard(n int, end time.Time) Spec {
	return Spec{Records: n, Days: 365, Accounts: 50, Models: 30, End: end.Truncate(time.Second)}
}

// Meta is kept beside a generated file so a rerun can reuse it.
type Meta struct {
	Records  int       `json:"records"`
	Days     int       `json:"days"`
	Accounts int       `json:"accounts"`
	Models   int       `json:"models"`
	End      time.Time `json:"end"`
	Seconds  float64   `json:"generate_seconds"`
}

// AccountName and ModelName are the generated names.
func AccountName(i int) string { return fmt.Sprintf("user%02d@example.com", i) }
func ModelName(i int) string   { return fmt.Sprintf("model-%02d", i) }

// Each calls fn with consecutive batches of at most batch records, oldest first. The sequence is
// deterministic for a spec; fn may keep nothing of the slice.
func (sp Spec) Each(batch int, fn func([]stats.Record) error) error {
	rng := rand.New(rand.NewPCG(uint64(sp.Records), 42))
	span := int64(sp.Days) * 86400
	start := sp.End.Unix() - span
	buf := make([]stats.Record, 0, batch)
	for i := 0; i < sp.Records; i++ {
		// Evenly spread, oldest first, with jitter that keeps the order.
		ts := start + 1 + int64(float64(i)/float64(sp.Records)*float64(span-1))
		in := int64(rng.IntN(4000) + 10)
		out := int64(rng.IntN(1000) + 1)
		buf = append(buf, stats.Record{
			Time:            time.Unix(ts, 0),
			Account:         AccountName(rng.IntN(sp.Accounts)),
			Model:           ModelName(rng.IntN(sp.Models)),
			InputTokens:     in,
			OutputTokens:    out,
			CachedTokens:    in / 4,
			ReasoningTokens: out / 8,
			IsAntigravity:   i%3 != 0,
			RequestID:       fmt.Sprintf("gen-%d-%d", sp.Records, i),
		})
		if len(buf) == batch {
			if err := fn(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		return fn(buf)
	}
	return nil
}

// Generate writes the data set to a new store at path (removing any file there first).
func Generate(ctx context.Context, path string, sp Spec, loc *time.Location) (Meta, error) {
	for _, suffix := range []string{"", "-wal", "-shm", ".json"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Meta{}, err
		}
	}
	t0 := time.Now()
	st, _, err := stats.Open(path, stats.Options{Location: loc})
	if err != nil {
		return Meta{}, err
	}
	err = sp.Each(10000, func(recs []stats.Record) error {
		_, err := st.Record(ctx, recs...)
		return err
	})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Meta{}, fmt.Errorf("generate %s: %w", path, err)
	}
	m := Meta{Records: sp.Records, Days: sp.Days, Accounts: sp.Accounts, Models: sp.Models, End: sp.End,
		Seconds: time.Since(t0).Seconds()}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(path+".json", b, 0o600); err != nil {
		return Meta{}, err
	}
	return m, nil
}

// CopyFile copies a data set's file to dst (created 0600, or truncated), for a run that changes it.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Cached returns the data set of n records in dir, generating it when it is missing, incomplete or
// older than maxAge (windows are relative to the end time, and the load test asks relative to now).
func Cached(ctx context.Context, dir string, n int, maxAge time.Duration, loc *time.Location) (string, Meta, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", Meta{}, err
	}
	path := filepath.Join(dir, fmt.Sprintf("usage-%d.db", n))
	var m Meta
	if b, err := os.ReadFile(path + ".json"); err == nil && json.Unmarshal(b, &m) == nil &&
		m.Records == n && time.Since(m.End) < maxAge {
		if _, err := os.Stat(path); err == nil {
			return path, m, nil
		}
	}
	m, err := Generate(ctx, path, Standard(n, time.Now()), loc)
	return path, m, err
}
