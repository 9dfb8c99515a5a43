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
	"slices"
	"sync/atomic"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// Spec describes a data set: N records spread evenly over Days days ending at End, over Accounts
// accounts and Models models, each with a request id; and, when Busy is set, BusyRecords more records in
// each hour bucket (of UTC hours) that holds one of the Busy instants, spread over that hour up to End.
type Spec struct {
	Records     int
	Days        int
	Accounts    int
	Models      int
	End         time.Time
	Busy        []time.Time `json:",omitempty"`
	BusyRecords int         `json:",omitempty"`
}

// Standard is the data set shape with n records ending at end.
func Standard(n int, end time.Time) Spec {
	return Spec{Records: n, Days: 365, Accounts: 50, Models: 30, End: end.Truncate(time.Second)}
}

// BusyEdge is Standard plus busy records in the hour of end and in the hours where windows of the given
// lengths (in hours) before end start: issue 9's case of a busy proxy whose edge hours hold 250,000
// records each.
func BusyEdge(n int, end time.Time, busyRecords int, windows ...int) Spec {
	sp := Standard(n, end)
	sp.BusyRecords = busyRecords
	sp.Busy = append(sp.Busy, sp.End)
	for _, h := range windows {
		sp.Busy = append(sp.Busy, sp.End.Add(-time.Duration(h)*time.Hour))
	}
	return sp
}

// Meta is kept beside a generated file so a rerun can reuse it.
type Meta struct {
	Records  int       `json:"records"`
	Days     int       `json:"days"`
	Accounts int       `json:"accounts"`
	Models   int       `json:"models"`
	End      time.Time `json:"end"`
	Seconds  float64   `json:"generate_seconds"`
	// Busy and BusyRecords are the spec's busy hours, when it has them.
	Busy        []time.Time `json:"busy,omitempty"`
	BusyRecords int         `json:"busy_records,omitempty"`
	// Schema is the store's schema version the file was written with; an older file is regenerated.
	Schema int `json:"schema"`
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
	emit := func(r stats.Record) error {
		buf = append(buf, r)
		if len(buf) == batch {
			if err := fn(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		return nil
	}
	// Busy hours, oldest first: each is emitted when the even stream reaches the hour's start.
	busy := slices.Clone(sp.Busy)
	slices.SortFunc(busy, func(a, b time.Time) int { return a.Compare(b) })
	b := 0
	record := func(ts int64, id string) stats.Record {
		in := int64(rng.IntN(4000) + 10)
		out := int64(rng.IntN(1000) + 1)
		return stats.Record{
			Time:            time.Unix(ts, 0),
			Account:         AccountName(rng.IntN(sp.Accounts)),
			Model:           ModelName(rng.IntN(sp.Models)),
			InputTokens:     in,
			OutputTokens:    out,
			CachedTokens:    in / 4,
			ReasoningTokens: out / 8,
			IsAntigravity:   ts%3 != 0,
			RequestID:       id,
		}
	}
	for i := 0; i < sp.Records; i++ {
		// Evenly spread, oldest first, with jitter that keeps the order.
		ts := start + 1 + int64(float64(i)/float64(sp.Records)*float64(span-1))
		for ; b < len(busy) && busy[b].Truncate(time.Hour).Unix() <= ts; b++ {
			lo := busy[b].Truncate(time.Hour).Unix()
			hi := min(lo+3600, sp.End.Unix()+1)
			for j := 0; j < sp.BusyRecords; j++ {
				at := lo + int64(j)*(hi-lo)/int64(sp.BusyRecords)
				if err := emit(record(at, fmt.Sprintf("busy-%d-%d", b, j))); err != nil {
					return err
				}
			}
		}
		if err := emit(record(ts, fmt.Sprintf("gen-%d-%d", sp.Records, i))); err != nil {
			return err
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
	// The store's clock follows the records, as it would have while they arrived live: hours an hour
	// behind it are compacted, and busy ones keep their minute rollups.
	var clock atomic.Int64
	clock.Store(sp.End.Unix() - int64(sp.Days)*86400)
	st, _, err := stats.Open(path, stats.Options{Location: loc, Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	if err != nil {
		return Meta{}, err
	}
	err = sp.Each(10000, func(recs []stats.Record) error {
		clock.Store(recs[len(recs)-1].Time.Unix())
		_, err := st.Record(ctx, recs...)
		return err
	})
	if err == nil {
		// What a store left running would have done in its next minutes.
		err = st.CatchUp(ctx)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Meta{}, fmt.Errorf("generate %s: %w", path, err)
	}
	m := Meta{Records: sp.Records, Days: sp.Days, Accounts: sp.Accounts, Models: sp.Models, End: sp.End,
		Seconds: time.Since(t0).Seconds(), Busy: sp.Busy, BusyRecords: sp.BusyRecords, Schema: stats.SchemaVersion()}
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

// Cached returns the data set of n records in dir, generating it when it is missing, incomplete, written
// with another schema or older than maxAge (windows are relative to the end time, and the load test asks
// relative to now).
func Cached(ctx context.Context, dir string, n int, maxAge time.Duration, loc *time.Location) (string, Meta, error) {
	return CachedSpec(ctx, dir, fmt.Sprintf("usage-%d.db", n), maxAge, loc, func(end time.Time) Spec { return Standard(n, end) })
}

// CachedSpec is Cached for any spec: name is the file in dir, spec makes the spec for an end time.
func CachedSpec(ctx context.Context, dir, name string, maxAge time.Duration, loc *time.Location, spec func(end time.Time) Spec) (string, Meta, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", Meta{}, err
	}
	path := filepath.Join(dir, name)
	var m Meta
	if b, err := os.ReadFile(path + ".json"); err == nil && json.Unmarshal(b, &m) == nil &&
		m.Schema == stats.SchemaVersion() && time.Since(m.End) < maxAge {
		if _, err := os.Stat(path); err == nil {
			return path, m, nil
		}
	}
	m, err := Generate(ctx, path, spec(time.Now()), loc)
	return path, m, err
}
