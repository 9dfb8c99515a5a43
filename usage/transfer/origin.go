package transfer

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// The origin design's module (the Akarin-Akari gcli2api port, src/token_stats.py, commit eba1b62) keeps
// one token_usage row per request: id, timestamp, account_email, model, input_tokens, output_tokens,
// total_tokens, credential_file, is_antigravity; and token_stats_hourly, per UTC hour ("YYYY-MM-DD HH:00"),
// account and model, the sums and request_count. Its record_usage writes
// int(datetime.utcnow().timestamp()): a naive UTC time read as local time, so each time stamp is off by
// the UTC offset of the machine it ran on (8 hours early in China) — while the hourly table's bucket,
// datetime.utcnow().strftime(…), is the true UTC hour. The reader finds the offset by matching rows to
// the hourly table and corrects every time stamp by it.

const (
	originSource   = "gcli2api"
	originIDPrefix = "gcli2api-db:"
)

type originReader struct {
	sqlReader
	cols  map[string]bool
	clock originClock
}

func (o *originReader) each(ctx context.Context, fn func(*item) error) error {
	cred, flag := "NULL", "NULL"
	if o.cols["credential_file"] {
		cred = "credential_file"
	}
	if o.cols["is_antigravity"] {
		flag = "is_antigravity"
	}
	q := `SELECT id, timestamp, account_email, model, input_tokens, output_tokens, ` + cred + `, ` + flag + ` FROM token_usage`
	return o.chunks(ctx, q, 8, func(v []any) error {
		id, _ := intOf(v[0])
		at := fmt.Sprintf("row id %d", id)
		var ts int64
		r := stats.Record{Account: textOf(v[2]), Model: textOf(v[3]), Credential: textOf(v[6]),
			IsAntigravity: true, Source: originSource, Kind: stats.KindImport}
		if skip := counts(at, []string{"timestamp", "input_tokens", "output_tokens"}, []any{v[1], v[4], v[5]},
			[]*int64{&ts, &r.InputTokens, &r.OutputTokens}); skip != nil {
			return fn(&item{at: at, skip: skip})
		}
		if n, ok := intOf(v[7]); ok {
			r.IsAntigravity = n != 0
		}
		r.Time = time.Unix(ts+o.clock.offset(id, ts, r.Account, r.Model), 0)
		r.RequestID = derivedID(originIDPrefix, id, fmt.Sprint(v[1]), r.Account, r.Model, fmt.Sprint(v[4]),
			fmt.Sprint(v[5]), r.Credential, fmt.Sprint(v[7]))
		if err := r.Validate(o.now); err != nil {
			return fn(&item{at: at, skip: skipOf(err, at)})
		}
		return fn(&item{rec: r, at: at})
	})
}

func (o *originReader) notes() []string { return o.clock.notes() }

// originClock is the correction of the origin module's time stamps: true time = stamp + offset. A
// machine with daylight saving time wrote with two offsets: a row then takes the one under which its
// hour, account and model appear in the hourly table, or, when both or neither do, the one of the
// nearest row (in time) that only one explains, as the offset changes at one instant.
type originClock struct {
	hours         map[string]struct{} // the hourly table's keys
	first, second int64               // seconds; second is used only when hasSecond
	hasSecond     bool
	segs          []clockSeg // with two offsets: runs of rows, in id order, that confirm one
	sampled       int
	agreeFirst    int
	bySecond      int64
	unconfirmed   int64
}

// clockSeg is a run of rows whose hours confirm one offset.
type clockSeg struct {
	fromID, fromTS, toID, toTS, off int64
}

func hourKey(unix int64, account, model string) string {
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:00") + "\x00" + account + "\x00" + model
}

// confirms reports whether the hourly table holds the row's hour under an offset.
func (c *originClock) confirms(ts, off int64, account, model string) bool {
	_, ok := c.hours[hourKey(ts+off, account, model)]
	return ok
}

// classify says which single offset a row's hour confirms; ok is false when both or neither do.
func (c *originClock) classify(ts int64, account, model string) (off int64, ok bool) {
	a, b := c.confirms(ts, c.first, account, model), c.confirms(ts, c.second, account, model)
	switch {
	case a && !b:
		return c.first, true
	case b && !a:
		return c.second, true
	}
	return 0, false
}

// offset is the correction of one row's time stamp.
func (c *originClock) offset(id, ts int64, account, model string) int64 {
	if len(c.hours) == 0 {
		return c.first
	}
	if !c.hasSecond {
		if !c.confirms(ts, c.first, account, model) {
			c.unconfirmed++
		}
		return c.first
	}
	off, ok := c.classify(ts, account, model)
	if !ok {
		if !c.confirms(ts, c.first, account, model) && !c.confirms(ts, c.second, account, model) {
			c.unconfirmed++
		}
		off = c.nearest(id, ts)
	}
	if off == c.second {
		c.bySecond++
	}
	return off
}

// nearest is the offset of the run that holds row id, or else of the closer run in time.
func (c *originClock) nearest(id, ts int64) int64 {
	i := sort.Search(len(c.segs), func(i int) bool { return c.segs[i].fromID > id })
	switch {
	case len(c.segs) == 0:
		return c.first
	case i == 0:
		return c.segs[0].off
	case i == len(c.segs) || c.segs[i-1].toID >= id:
		return c.segs[i-1].off
	}
	prev, next := c.segs[i-1], c.segs[i]
	if abs(ts-prev.toTS) <= abs(next.fromTS-ts) {
		return prev.off
	}
	return next.off
}

// runs reads every row's time stamp and names once, in id order, to find where the offset changes.
func (o *originReader) runs(ctx context.Context) error {
	c := &o.clock
	return o.chunks(ctx, `SELECT id, timestamp, account_email, model FROM token_usage`, 4, func(v []any) error {
		id, _ := intOf(v[0])
		ts, ok := intOf(v[1])
		if !ok {
			return nil
		}
		off, ok := c.classify(ts, textOf(v[2]), textOf(v[3]))
		if !ok {
			return nil
		}
		if n := len(c.segs); n > 0 && c.segs[n-1].off == off {
			c.segs[n-1].toID, c.segs[n-1].toTS = id, ts
		} else {
			c.segs = append(c.segs, clockSeg{id, ts, id, ts, off})
		}
		return nil
	})
}

// detectClock finds the offset (or two) under which sampled rows fall into the hourly table's hours:
// every quarter hour from −12:00 to +14:00 is tried.
func (o *originReader) detectClock(ctx context.Context) error {
	c := &o.clock
	c.hours = map[string]struct{}{}
	rows, err := o.db.QueryContext(ctx, `SELECT hour_bucket, account_email, model FROM token_stats_hourly`)
	if err == nil {
		for rows.Next() {
			var b, a, m any
			if err = rows.Scan(&b, &a, &m); err != nil {
				break
			}
			c.hours[textOf(b)+"\x00"+textOf(a)+"\x00"+textOf(m)] = struct{}{}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("read token_stats_hourly: %w", err)
	}
	if len(c.hours) == 0 || o.total == 0 {
		return nil
	}
	var lo, hi int64
	if err := o.db.QueryRowContext(ctx, `SELECT min(id), max(id) FROM token_usage`).Scan(&lo, &hi); err != nil {
		return fmt.Errorf("read token_usage: %w", err)
	}
	step := max(1, (hi-lo+1)/512)
	rows, err = o.db.QueryContext(ctx, `SELECT timestamp, account_email, model FROM token_usage
		WHERE (id - ?) % ? = 0 LIMIT 1024`, lo, step)
	if err != nil {
		return fmt.Errorf("sample token_usage: %w", err)
	}
	type sample struct {
		ts             int64
		account, model string
	}
	var samples []sample
	for rows.Next() {
		var ts, a, m any
		if err := rows.Scan(&ts, &a, &m); err != nil {
			rows.Close()
			return fmt.Errorf("sample token_usage: %w", err)
		}
		if n, ok := intOf(ts); ok {
			samples = append(samples, sample{n, textOf(a), textOf(m)})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sample token_usage: %w", err)
	}
	c.sampled = len(samples)
	const quarter = 900
	var offsets []int64
	agree := map[int64][]bool{}
	for off := int64(-12 * 3600); off <= 14*3600; off += quarter {
		hits := make([]bool, len(samples))
		for i, s := range samples {
			_, hits[i] = c.hours[hourKey(s.ts+off, s.account, s.model)]
		}
		offsets = append(offsets, off)
		agree[off] = hits
	}
	// better prefers more rows explained, then offsets of whole hours, half hours, then smaller ones.
	better := func(a, b int64, na, nb int) bool {
		if na != nb {
			return na > nb
		}
		for _, unit := range []int64{3600, 1800} {
			if (a%unit == 0) != (b%unit == 0) {
				return a%unit == 0
			}
		}
		return abs(a) < abs(b)
	}
	count := func(hits []bool, unless []bool) int {
		n := 0
		for i, h := range hits {
			if h && (unless == nil || !unless[i]) {
				n++
			}
		}
		return n
	}
	best, bestN := offsets[0], -1
	for _, off := range offsets {
		if n := count(agree[off], nil); bestN < 0 || better(off, best, n, bestN) {
			best, bestN = off, n
		}
	}
	c.first, c.agreeFirst = best, bestN
	if bestN == 0 {
		c.first = 0
		return nil
	}
	second, secondN := int64(0), 0
	for _, off := range offsets {
		if abs(off-best) < 3600 {
			continue
		}
		if n := count(agree[off], agree[best]); n > 0 && (secondN == 0 || better(off, second, n, secondN)) {
			second, secondN = off, n
		}
	}
	c.second, c.hasSecond = second, secondN > 0
	if !c.hasSecond {
		return nil
	}
	err = o.runs(ctx)
	o.done = 0
	return err
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// offsetText writes an offset as ±hh:mm.
func offsetText(off int64) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return fmt.Sprintf("%s%02d:%02d", sign, off/3600, off%3600/60)
}

func (c *originClock) notes() []string {
	if len(c.hours) == 0 || c.agreeFirst == 0 {
		return []string{"the file's hourly table confirms no time stamp, so they were read as written " +
			"(correct only if gcli2api ran with its clock in UTC)"}
	}
	out := []string{fmt.Sprintf("time stamps corrected by %s, the UTC offset of the machine that wrote them "+
		"(the module stores local time as if it were UTC); %d of %d sampled rows fall into the hourly "+
		"table's hours with it", offsetText(c.first), c.agreeFirst, c.sampled)}
	if c.hasSecond {
		out = append(out, fmt.Sprintf("%d rows were written under a second offset, %s (a daylight saving "+
			"change), and corrected by it", c.bySecond, offsetText(c.second)))
	}
	if c.unconfirmed > 0 {
		out = append(out, fmt.Sprintf("%d rows have no matching hour in the hourly table and were corrected by %s",
			c.unconfirmed, offsetText(c.first)))
	}
	return out
}
