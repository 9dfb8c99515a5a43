package stats

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Limit is a budget or a quota: at most Amount of a metric per day, week or month, over all records
// or those of one account, model, source or credential. The period starts at midnight (the week on
// Monday, the month on the 1st) in the limit's own zone, which need not be the store's: Gemini's free
// quotas reset at midnight Pacific. docs/limits.md describes them.
type Limit struct {
	ID     int64
	Scope  string // ScopeAll, or a dimension: "account", "model", "source", "credential"
	Name   string // the name the scope's views show (an alias, when it has one); "" for ScopeAll
	Metric Metric
	Period string // PeriodDay, PeriodWeek or PeriodMonth
	Zone   string // IANA name of the zone the period resets in
	// Amount is the limit in the metric's unit: tokens, requests, or Money (nano-dollars) for cost.
	Amount int64
	// Thresholds are the percentages of Amount at which to alert, ascending, from 1 to 100.
	Thresholds []int
	// Webhook, when set, is an http or https URL each alert is also POSTed to.
	Webhook string
}

// Scopes and periods of a limit.
const (
	ScopeAll    = "all"
	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"
)

// DefaultThresholds are a limit's thresholds when none are given: 80 % and 100 %.
func DefaultThresholds() []int { return []int{80, 100} }

// Bounds on what a limit may hold: far beyond any real budget, and far inside int64.
const (
	maxLimitCount = 1_000_000_000_000_000 // tokens or requests
	maxLimitUSD   = maxMoneyUSD
	maxThresholds = 10
	maxWebhookLen = 2048
)

// ErrNoLimit is returned for a limit id that does not exist.
var ErrNoLimit = errors.New("no such limit")

// dimOfScope is the dimension a scope narrows; ok is false for ScopeAll and unknown scopes.
func dimOfScope(scope string) (Dimension, bool) {
	if scope == ScopeAll {
		return 0, false
	}
	d, err := ParseDimension(scope)
	return d, err == nil
}

// normalize checks a limit and fills in its defaults: thresholds, the zone (def), sorted thresholds.
func (l *Limit) normalize(def *time.Location) error {
	bad := func(field, msg string) error { return &FieldError{Index: -1, Field: field, Msg: msg} }
	d, scoped := dimOfScope(l.Scope)
	switch {
	case l.Scope == ScopeAll:
		if l.Name != "" {
			return bad("name", `must be empty for the scope "all"`)
		}
	case !scoped:
		return bad("scope", fmt.Sprintf("must be all, account, model, source or credential, not %.20q", l.Scope))
	case d != BySource && d != ByCredential && l.Name == "":
		return bad("name", fmt.Sprintf("is required for the scope %q", l.Scope))
	default:
		if msg := checkString(l.Name, maxLenOf(d), false); msg != "" {
			return bad("name", msg)
		}
	}
	switch l.Period {
	case PeriodDay, PeriodWeek, PeriodMonth:
	default:
		return bad("period", fmt.Sprintf("must be day, week or month, not %.20q", l.Period))
	}
	if l.Zone == "" {
		l.Zone = def.String()
	}
	if _, err := time.LoadLocation(l.Zone); err != nil || len(l.Zone) > 100 {
		return bad("zone", fmt.Sprintf("%.40q is not an IANA time zone such as America/Los_Angeles", l.Zone))
	}
	max := int64(maxLimitCount)
	switch l.Metric {
	case MetricCost:
		max = maxLimitUSD * NanosPerUSD
	case MetricTokens, MetricRequests:
	default:
		return bad("metric", "must be tokens, requests or cost")
	}
	if l.Amount <= 0 || l.Amount > max {
		if l.Metric == MetricCost {
			return bad("limit", fmt.Sprintf("must be more than 0 and at most %d USD", maxLimitUSD))
		}
		return bad("limit", fmt.Sprintf("must be a whole number from 1 to %d", max))
	}
	if len(l.Thresholds) == 0 {
		l.Thresholds = DefaultThresholds()
	}
	l.Thresholds = slices.Clone(l.Thresholds)
	slices.Sort(l.Thresholds)
	l.Thresholds = slices.Compact(l.Thresholds)
	if len(l.Thresholds) > maxThresholds || l.Thresholds[0] < 1 || l.Thresholds[len(l.Thresholds)-1] > 100 {
		return bad("thresholds", fmt.Sprintf("must be 1 to %d percentages from 1 to 100", maxThresholds))
	}
	if l.Webhook != "" {
		u, err := url.Parse(l.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(l.Webhook) > maxWebhookLen {
			return bad("webhook", fmt.Sprintf("must be an http or https URL of at most %d bytes", maxWebhookLen))
		}
	}
	return nil
}

// Filter is the filter that keeps the records a limit counts.
func (l Limit) Filter() Filter {
	d, ok := dimOfScope(l.Scope)
	if !ok {
		return Filter{}
	}
	return filterOn(d, l.Name)
}

// filterOn keeps the records whose name of dimension d is name.
func filterOn(d Dimension, name string) Filter {
	var f Filter
	f.Set(d, []string{name})
	return f
}

// PeriodAt is the period holding now: [start, end) in the limit's zone.
func (l Limit) PeriodAt(now time.Time) (start, end time.Time) {
	loc, err := time.LoadLocation(l.Zone)
	if err != nil {
		loc = time.UTC // stored limits were checked; this is never reached
	}
	t := now.In(loc)
	y, m, d := t.Date()
	switch l.Period {
	case PeriodWeek:
		d -= (int(t.Weekday()) + 6) % 7 // back to Monday
		return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+7, 0, 0, 0, 0, loc)
	case PeriodMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, loc), time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	}
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// LimitStatus is a limit with what its current period has used.
type LimitStatus struct {
	Limit
	Used     int64 // in the limit's unit; for cost, the priced requests only
	Unpriced int64 // for cost limits: requests of the period without a price, so not in Used
	// Start and ResetsAt bound the current period: Start ≤ t < ResetsAt.
	Start, ResetsAt time.Time
}

// Reached reports whether Used is at least threshold percent of the limit (exact integer arithmetic).
func (st LimitStatus) Reached(threshold int) bool {
	uh, ul := bits.Mul64(uint64(max(st.Used, 0)), 100)
	th, tl := bits.Mul64(uint64(st.Amount), uint64(threshold))
	return uh > th || uh == th && ul >= tl
}

// Percent is Used as a percentage of the limit, at most 100.
func (st LimitStatus) Percent() float64 {
	if st.Reached(100) {
		return 100
	}
	return float64(st.Used) * 100 / float64(st.Amount)
}

// Crossed lists the thresholds Used has reached, ascending.
func (st LimitStatus) Crossed() []int {
	var out []int
	for _, th := range st.Thresholds {
		if st.Reached(th) {
			out = append(out, th)
		}
	}
	return out
}

// Level is what the tray shows of the limit: 0 below its first threshold, 1 past it, 2 at 100 %.
func (st LimitStatus) Level() int {
	switch {
	case st.Reached(100):
		return 2
	case len(st.Thresholds) > 0 && st.Reached(st.Thresholds[0]):
		return 1
	}
	return 0
}

// periodWindow is the window of the period [start, end): start ≤ t < end, exact to the second.
func periodWindow(start, end time.Time) Window {
	return Window{From: start.Add(-time.Second), To: end.Add(-time.Second)}
}

// LimitStatuses reports every limit with what its period holding now has used, in id order. The used
// amount is a filtered summary of that period, so it agrees with every other view.
func (s *Store) LimitStatuses(ctx context.Context, now time.Time) ([]LimitStatus, error) {
	ls, err := s.Limits(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]LimitStatus, len(ls))
	for i, l := range ls {
		st := LimitStatus{Limit: l}
		st.Start, st.ResetsAt = l.PeriodAt(now)
		sum, err := s.Summary(ctx, periodWindow(st.Start, st.ResetsAt), l.Filter())
		if err != nil {
			return nil, fmt.Errorf("limit %d: %w", l.ID, err)
		}
		st.Used = l.Metric.of(&sum.Totals)
		if l.Metric == MetricCost {
			st.Unpriced = sum.Unpriced
		}
		out[i] = st
	}
	return out, nil
}

// Limits lists the limits in id order.
func (s *Store) Limits(ctx context.Context) ([]Limit, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, scope, name, metric, period, zone, amount, thresholds, webhook
		FROM limits ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read limits: %w", err)
	}
	defer rows.Close()
	var out []Limit
	for rows.Next() {
		var l Limit
		var metric, ths string
		if err := rows.Scan(&l.ID, &l.Scope, &l.Name, &metric, &l.Period, &l.Zone, &l.Amount, &ths, &l.Webhook); err != nil {
			return nil, fmt.Errorf("read limits: %w", err)
		}
		if l.Metric, err = ParseMetric(metric); err != nil {
			return nil, fmt.Errorf("read limit %d: %w", l.ID, err)
		}
		for _, f := range strings.Split(ths, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("read limit %d: thresholds %q", l.ID, ths)
			}
			l.Thresholds = append(l.Thresholds, n)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func thresholdList(ths []int) string {
	f := make([]string, len(ths))
	for i, n := range ths {
		f[i] = strconv.Itoa(n)
	}
	return strings.Join(f, ",")
}

// AddLimit stores a new limit and returns it with its id and defaults (thresholds, and the store's zone
// when it names none). A limit that breaks a rule is refused with a *FieldError.
func (s *Store) AddLimit(ctx context.Context, l Limit) (Limit, error) {
	if err := l.normalize(s.loc); err != nil {
		return Limit{}, err
	}
	err := s.w.submit(ctx, &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		res, err := w.conn.ExecContext(ctx, `INSERT INTO limits(scope, name, metric, period, zone, amount, thresholds,
			webhook) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, l.Scope, l.Name, l.Metric.String(), l.Period, l.Zone, l.Amount,
			thresholdList(l.Thresholds), l.Webhook)
		if err == nil {
			l.ID, err = res.LastInsertId()
		}
		return true, err
	}})
	if err != nil {
		return Limit{}, fmt.Errorf("store limit: %w", err)
	}
	return l, nil
}

// UpdateLimit replaces the limit with l.ID. When what it counts or its amount changes (scope, name,
// metric, period, zone, amount), the alerts already given are forgotten, so its thresholds alert anew.
func (s *Store) UpdateLimit(ctx context.Context, l Limit) (Limit, error) {
	if err := l.normalize(s.loc); err != nil {
		return Limit{}, err
	}
	found := false
	err := s.w.submit(ctx, &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		res, err := w.conn.ExecContext(ctx, `UPDATE limits SET scope = ?, name = ?, metric = ?, period = ?, zone = ?,
			amount = ?, thresholds = ?, webhook = ? WHERE id = ? AND NOT (scope = ? AND name = ? AND metric = ?
			AND period = ? AND zone = ? AND amount = ?)`, l.Scope, l.Name, l.Metric.String(), l.Period, l.Zone, l.Amount,
			thresholdList(l.Thresholds), l.Webhook, l.ID, l.Scope, l.Name, l.Metric.String(), l.Period, l.Zone, l.Amount)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			found = true
			_, err = w.conn.ExecContext(ctx, `DELETE FROM limit_alerts WHERE limit_id = ?`, l.ID)
			return true, err
		}
		res, err = w.conn.ExecContext(ctx, `UPDATE limits SET thresholds = ?, webhook = ? WHERE id = ?`,
			thresholdList(l.Thresholds), l.Webhook, l.ID)
		if err != nil {
			return false, err
		}
		n, _ := res.RowsAffected()
		found = n > 0
		return found, nil
	}})
	if err != nil {
		return Limit{}, fmt.Errorf("update limit: %w", err)
	}
	if !found {
		return Limit{}, ErrNoLimit
	}
	return l, nil
}

// DeleteLimit removes a limit and its alert history; false when there was none with that id.
func (s *Store) DeleteLimit(ctx context.Context, id int64) (bool, error) {
	found := false
	err := s.w.submit(ctx, &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		res, err := w.conn.ExecContext(ctx, `DELETE FROM limits WHERE id = ?`, id)
		if err != nil {
			return false, err
		}
		n, _ := res.RowsAffected()
		found = n > 0
		_, err = w.conn.ExecContext(ctx, `DELETE FROM limit_alerts WHERE limit_id = ?`, id)
		return found, err
	}})
	if err != nil {
		return false, fmt.Errorf("delete limit: %w", err)
	}
	return found, nil
}

// MarkAlerts records that a limit's thresholds were announced for the period starting at start, and
// returns those not recorded before: each threshold alerts once per period, across restarts. It does
// not count as a change of the data (no Changes notification).
func (s *Store) MarkAlerts(ctx context.Context, id int64, start time.Time, thresholds []int) ([]int, error) {
	var fresh []int
	err := s.w.submit(ctx, &writeReq{keepsCache: true, op: func(ctx context.Context, w *writer) (bool, error) {
		fresh = fresh[:0]
		for _, th := range thresholds {
			res, err := w.conn.ExecContext(ctx, `INSERT OR IGNORE INTO limit_alerts(limit_id, period, threshold, at)
				SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM limits WHERE id = ?)`, id, start.Unix(), th,
				w.s.now().Unix(), id)
			if err != nil {
				return false, err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				fresh = append(fresh, th)
			}
		}
		return false, nil
	}})
	if err != nil {
		return nil, fmt.Errorf("mark alerts: %w", err)
	}
	return fresh, nil
}

// Models lists every model name stored (not aliases), sorted.
func (s *Store) Models(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name FROM names WHERE kind = ? ORDER BY name`, kindModel)
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read models: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
