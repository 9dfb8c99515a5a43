package stats

import "time"

// Totals are the sums over a set of records.
type Totals struct {
	Requests            int64
	InputTokens         int64
	OutputTokens        int64
	CachedTokens        int64
	ReasoningTokens     int64
	CacheCreationTokens int64
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
}

func recordTotals(r *Record) Totals {
	return Totals{
		Requests: 1, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CachedTokens: r.CachedTokens,
		ReasoningTokens: r.ReasoningTokens, CacheCreationTokens: r.CacheCreationTokens,
	}
}

// Summary is what the summary cards show for a window.
type Summary struct {
	Totals
	Accounts int // accounts with at least one request in the window
	Models   int // models with at least one request in the window
}

// Dimension is what a breakdown or trend groups by.
type Dimension int

const (
	ByModel Dimension = iota + 1
	ByAccount
)

func (d Dimension) String() string {
	switch d {
	case ByModel:
		return "model"
	case ByAccount:
		return "account"
	}
	return "unknown"
}

// Row is one line of a breakdown: a model or an account and its totals.
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
	Values map[string]int64 // total tokens by model or account; names without usage are absent
}

// Trend is a series of periods, oldest first, covering the whole window (periods without usage included).
type Trend struct {
	Granularity Granularity
	Dimension   Dimension
	Periods     []Period
}

// Window is the span of records a query covers: From < timestamp ≤ To, exact to the second.
type Window struct {
	From, To time.Time
}

// LastHours is the window of the hours before end: end−hours < timestamp ≤ end.
func LastHours(end time.Time, hours int) Window {
	return Window{From: end.Add(-time.Duration(hours) * time.Hour), To: end}
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
