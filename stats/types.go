package stats

import (
	"fmt"
	"time"
)

// Totals are the sums over a set of records.
type Totals struct {
	Requests            int64
	InputTokens         int64
	OutputTokens        int64
	CachedTokens        int64
	ReasoningTokens     int64
	CacheCreationTokens int64
	Cost                Money // estimated cost of the priced requests
	Unpriced            int64 // requests whose model had no price: they are not in Cost
	AgentCost           Money // what the reporting tools themselves said, summed over AgentRequests
	AgentRequests       int64 // requests that came with the tool's own cost figure
}

// TotalTokens is input plus output.
func (t Totals) TotalTokens() int64 { return t.InputTokens + t.OutputTokens }

// Add adds o to t.
func (t *Totals) Add(o Totals) {
	t.Requests += o.Requests
	t.InputTokens += o.InputTokens
	t.OutputTokens += o.OutputTokens
	t.CachedTokens += o.CachedTokens
	t.ReasoningTokens += o.ReasoningTokens
	t.CacheCreationTokens += o.CacheCreationTokens
	t.Cost += o.Cost
	t.Unpriced += o.Unpriced
	t.AgentCost += o.AgentCost
	t.AgentRequests += o.AgentRequests
}

// negated is t with every sum's sign turned: what subtracting it adds.
func (t Totals) negated() Totals {
	return Totals{-t.Requests, -t.InputTokens, -t.OutputTokens, -t.CachedTokens, -t.ReasoningTokens,
		-t.CacheCreationTokens, -t.Cost, -t.Unpriced, -t.AgentCost, -t.AgentRequests}
}

// Priced reports whether every request has a price, so Cost is the whole cost.
func (t Totals) Priced() bool { return t.Unpriced == 0 }

// recordTotals is what one record adds to every sum; cost is its estimate, priced whether it has one.
func recordTotals(r *Record, cost Money, priced bool) Totals {
	t := Totals{
		Requests: 1, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CachedTokens: r.CachedTokens,
		ReasoningTokens: r.ReasoningTokens, CacheCreationTokens: r.CacheCreationTokens,
	}
	if priced {
		t.Cost = cost
	} else {
		t.Unpriced = 1
	}
	if r.HasAgentCost {
		t.AgentCost, t.AgentRequests = r.AgentCost, 1
	}
	return t
}

// Summary is what the summary cards show for a window.
type Summary struct {
	Totals
	Accounts int // accounts with at least one request in the window
	Models   int // models with at least one request in the window
}

// Dimension is what a breakdown or trend groups by, and what a filter narrows.
type Dimension int

const (
	ByModel Dimension = iota + 1
	ByAccount
	BySource     // the proxy or tool that reported the record; "" for none
	ByCredential // the credential that served it; "" for none
)

// allDims lists every dimension, in the order of their values.
var allDims = [...]Dimension{ByModel, ByAccount, BySource, ByCredential}

func (d Dimension) String() string {
	switch d {
	case ByModel:
		return "model"
	case ByAccount:
		return "account"
	case BySource:
		return "source"
	case ByCredential:
		return "credential"
	}
	return "unknown"
}

// ParseDimension reads "model", "account", "source" or "credential".
func ParseDimension(s string) (Dimension, error) {
	for _, d := range allDims {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("dimension must be model, account, source or credential, not %.20q", s)
}

// Filter narrows a query to the records whose names are among the given ones: any of the values of a
// dimension, and every dimension that has values. Values match exactly the name a view shows (the alias,
// when a name has one); "" matches records without a source or credential. The zero Filter keeps all.
type Filter struct {
	Accounts, Models, Sources, Credentials []string
}

// IsZero reports whether the filter keeps every record.
func (f Filter) IsZero() bool {
	return len(f.Accounts) == 0 && len(f.Models) == 0 && len(f.Sources) == 0 && len(f.Credentials) == 0
}

// Values are the filter's values for a dimension.
func (f Filter) Values(d Dimension) []string {
	if p := f.field(d); p != nil {
		return *p
	}
	return nil
}

// field is the filter's field for dimension d; nil for no dimension.
func (f *Filter) field(d Dimension) *[]string {
	switch d {
	case ByModel:
		return &f.Models
	case ByAccount:
		return &f.Accounts
	case BySource:
		return &f.Sources
	case ByCredential:
		return &f.Credentials
	}
	return nil
}

// Set sets the names the filter keeps in dimension d (nil: every name).
func (f *Filter) Set(d Dimension, names []string) {
	if p := f.field(d); p != nil {
		*p = names
	}
}

// Metric is what a trend's values measure.
type Metric int

const (
	MetricTokens   Metric = iota // input + output tokens
	MetricCost                   // estimated cost in nano-dollars (Money)
	MetricRequests               // requests
)

func (m Metric) String() string {
	switch m {
	case MetricCost:
		return "cost"
	case MetricRequests:
		return "requests"
	}
	return "tokens"
}

// ParseMetric reads "tokens" (also ""), "cost" or "requests".
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "", "tokens":
		return MetricTokens, nil
	case "cost":
		return MetricCost, nil
	case "requests":
		return MetricRequests, nil
	}
	return 0, fmt.Errorf("metric must be tokens, cost or requests, not %.20q", s)
}

// of is the metric's value of t.
func (m Metric) of(t *Totals) int64 {
	switch m {
	case MetricCost:
		return int64(t.Cost)
	case MetricRequests:
		return t.Requests
	}
	return t.TotalTokens()
}

// column is the metric's column of a rollup row.
func (m Metric) column() string {
	switch m {
	case MetricCost:
		return "cost"
	case MetricRequests:
		return "requests"
	}
	return "input + output"
}

// Row is one line of a breakdown: a model, account, source or credential and its totals.
type Row struct {
	Name string
	Totals
}

// Granularity is the width of a trend's periods.
type Granularity int

const (
	Hourly Granularity = iota + 1
	Daily
)

func (g Granularity) String() string {
	if g == Daily {
		return "daily"
	}
	return "hourly"
}

// MaxHourlyHours is the longest window an hourly trend covers: 31 days. Longer ones are asked daily.
const MaxHourlyHours = 744

// MaxHours is the longest window any query takes: ten years, which the UI calls "all time".
const MaxHours = 87600

// Period is one point of a trend: a local clock hour ("2006-01-02 15:00") or a local day ("2006-01-02").
// Start is the first instant of the period inside the trend's window.
type Period struct {
	Label  string
	Start  time.Time
	Values map[string]int64 // the metric by name; names without usage in the period are absent
}

// Trend is a series of periods, oldest first, covering the whole window (periods without usage included).
type Trend struct {
	Granularity Granularity
	Dimension   Dimension
	Metric      Metric
	Periods     []Period
}

// TrendQuery asks for a trend: the metric per period and per name of a dimension, over
// TrendWindow(Granularity, End, Hours), of the records the filter keeps.
type TrendQuery struct {
	Dimension   Dimension
	Granularity Granularity
	End         time.Time
	Hours       int
	Filter      Filter
	Metric      Metric
}

// Window is the span of records a query covers: From < timestamp ≤ To, exact to the second.
type Window struct {
	From, To time.Time
}

// LastHours is the window of the hours before end: end−hours < timestamp ≤ end.
func LastHours(end time.Time, hours int) Window {
	return Window{From: end.Add(-time.Duration(hours) * time.Hour), To: end}
}

// Today is the day of now in loc, from local midnight to the end of the day: records stamped a little
// ahead of the clock still count, and one stamped at midnight counts as the new day's.
func Today(now time.Time, loc *time.Location) Window {
	n := now.In(loc)
	midnight := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc)
	next := time.Date(n.Year(), n.Month(), n.Day()+1, 0, 0, 0, 0, loc)
	return Window{From: midnight.Add(-time.Second), To: next.Add(-time.Second)}
}

// Hours is the window's length in whole hours, rounded down.
func (w Window) Hours() int { return int(w.To.Sub(w.From) / time.Hour) }

// bounds gives the window as a half-open range of unix seconds [lo, hi).
func (w Window) bounds() (lo, hi int64) {
	return w.From.Unix() + 1, w.To.Unix() + 1
}

// TrendWindow is the window a trend of granularity g answers for "hours": hourly trends cover the hours
// asked; daily trends cover max(1, hours/24) whole 24-hour days back from end.
func TrendWindow(g Granularity, end time.Time, hours int) Window {
	if g == Daily {
		days := hours / 24
		if days < 1 {
			days = 1
		}
		return LastHours(end, days*24)
	}
	return LastHours(end, hours)
}
