package chart

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// Series is one stacked layer: a name and one value per period.
type Series struct {
	Name   string // the name in the store; its colour comes from it
	Label  string // what the legend writes; "" writes Name
	Values []float64
	Other  bool // the sum of the names outside the top ones: grey, labelled by the caller
}

// Text is what the legend and a hover write for the series.
func (s Series) Text() string {
	if s.Label != "" {
		return s.Label
	}
	return s.Name
}

// Unit is what a chart's values count.
type Unit int

const (
	Tokens   Unit = iota
	Requests      // whole requests
	Cost          // nano-dollars (stats.Money)
)

// Input is what a chart shows: the periods (oldest first) with their axis labels, their times as a
// hover says them and whether the window covers them only in part, and the stacked series, bottom first.
type Input struct {
	Labels  []string
	Times   []string // e.g. "Mon Jan 2, 15:00–16:00", one per period
	Partial []bool   // the period is only partly in the window: the current one, and the first of a sliding window
	Series  []Series
	Unit    Unit
}

// Periods is the number of periods.
func (in Input) Periods() int { return len(in.Labels) }

// Lang selects the words and date formats of labels: "zh-Hans" writes Chinese dates (11月23日);
// anything else English (Nov 23).
type Lang string

// Chinese tells whether l is a Chinese language tag.
func (l Lang) Chinese() bool { return strings.HasPrefix(string(l), "zh") }

// FromTrend turns a trend that ends at end into chart input: the Top series by total (largest at the
// bottom of the stack), then one Other series with the rest when there is a rest.
func FromTrend(tr stats.Trend, end time.Time, lang Lang) Input { return fromTrend(tr, end, lang, Top) }

// fromTrend is FromTrend with top series named; top <= 0 keeps every series.
func fromTrend(tr stats.Trend, end time.Time, lang Lang, top int) Input {
	totals := map[string]float64{}
	for _, p := range tr.Periods {
		for name, v := range p.Values {
			totals[name] += float64(v)
		}
	}
	names := make([]string, 0, len(totals))
	for n, t := range totals {
		if t > 0 {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if a, b := totals[names[i]], totals[names[j]]; a != b {
			return a > b
		}
		return names[i] < names[j]
	})
	kept, rest := names, []string(nil)
	if top > 0 && len(names) > top {
		kept, rest = names[:top], names[top:]
	}
	n := len(tr.Periods)
	in := Input{Labels: make([]string, n), Times: make([]string, n), Partial: make([]bool, n), Unit: unitOf(tr.Metric)}
	for i, p := range tr.Periods {
		start, whole := periodStart(tr, p)
		in.Labels[i] = periodLabel(tr.Granularity, start, n, lang)
		in.Times[i] = periodTime(tr.Granularity, start, lang)
		next := periodEnd(tr.Granularity, start)
		in.Partial[i] = !whole || (i == n-1 && !end.IsZero() && end.Add(time.Second).Before(next))
	}
	for _, name := range kept {
		s := Series{Name: name, Values: make([]float64, n)}
		for i, p := range tr.Periods {
			s.Values[i] = float64(p.Values[name])
		}
		in.Series = append(in.Series, s)
	}
	if len(rest) > 0 {
		s := Series{Name: OtherName, Values: make([]float64, n), Other: true}
		for i, p := range tr.Periods {
			for _, name := range rest {
				s.Values[i] += float64(p.Values[name])
			}
		}
		in.Series = append(in.Series, s)
	}
	return in
}

func unitOf(m stats.Metric) Unit {
	switch m {
	case stats.MetricCost:
		return Cost
	case stats.MetricRequests:
		return Requests
	}
	return Tokens
}

// periodStart reads the period's local clock label ("2006-01-02 15:00" or "2006-01-02"), which the store
// wrote in its own zone, as the bucket's start; whole is false when the period starts later than its
// bucket (the first period of a window that begins inside a bucket; windows exclude their first second,
// so a window from a bucket's start misses only that second and counts as whole). A label of another
// shape gives Start.
func periodStart(tr stats.Trend, p stats.Period) (start time.Time, whole bool) {
	layout := "2006-01-02 15:04"
	if tr.Granularity == stats.Daily {
		layout = "2006-01-02"
	}
	loc := p.Start.Location()
	t, err := time.ParseInLocation(layout, p.Label, loc)
	if err != nil {
		return p.Start, true
	}
	return t, !p.Start.After(t.Add(time.Second)) // a window from hh:00:00 holds hh:00:01 on
}

// periodEnd is the start of the bucket after the one starting at start.
func periodEnd(g stats.Granularity, start time.Time) time.Time {
	if g == stats.Daily {
		return start.AddDate(0, 0, 1)
	}
	return start.Add(time.Hour)
}

// periodLabel is an axis label: "15:00" for hours ("Jan 02" / "1月2日" at midnight, so days stay readable),
// "Jan 02" / "1月2日" for days ("2006-01-02" when the trend spans more than a year).
func periodLabel(g stats.Granularity, t time.Time, periods int, lang Lang) string {
	day := func() string {
		if lang.Chinese() {
			return fmt.Sprintf("%d月%d日", t.Month(), t.Day())
		}
		return t.Format("Jan 02")
	}
	if g == stats.Daily {
		if periods > 366 {
			return t.Format("2006-01-02")
		}
		return day()
	}
	if t.Hour() == 0 && t.Minute() == 0 {
		return day()
	}
	return t.Format("15:04")
}

var chineseWeekdays = [...]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}

// periodTime is the period as a hover says it: "Mon Jan 2 2006, 15:00–16:00" or "Mon Jan 2 2006";
// in Chinese "2006年1月2日 周一 15:00–16:00".
func periodTime(g stats.Granularity, t time.Time, lang Lang) string {
	var day string
	if lang.Chinese() {
		day = fmt.Sprintf("%d年%d月%d日 %s", t.Year(), t.Month(), t.Day(), chineseWeekdays[t.Weekday()])
	} else {
		day = t.Format("Mon Jan 2 2006")
	}
	if g == stats.Daily {
		return day
	}
	sep := ", "
	if lang.Chinese() {
		sep = " "
	}
	return day + sep + t.Format("15:04") + "–" + periodEnd(g, t).Format("15:04")
}

// Value writes v exactly, in the unit: 1,234,567 for tokens and requests, $0.012345 for cost.
func (u Unit) Value(v float64) string {
	if u == Cost {
		return stats.Money(math.Round(v)).String()
	}
	return Exact(int64(math.Round(v)))
}

// Axis writes v short for an axis: 1.2M for tokens and requests, $1.25 or $1.2K for cost.
func (u Unit) Axis(v float64) string {
	if u != Cost {
		return Short(v)
	}
	usd := v / stats.NanosPerUSD
	if usd >= 999.95 {
		return "$" + Short(usd)
	}
	return "$" + strconv.FormatFloat(math.Round(usd*1e6)/1e6, 'f', -1, 64)
}

// Exact writes a count with thousands separators: 1,234,567.
func Exact(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Short writes a count the way the cards, the tables and the axes show it: 950, 1.2K, 3.4M, 5.6B (one
// decimal, ".0" dropped). The browser tab's script has its twin, checked against this one in a test.
func Short(v float64) string {
	units := []string{"", "K", "M", "B", "T"}
	u := 0
	for u < len(units)-1 && math.Abs(v) >= 999.95 {
		v /= 1000
		u++
	}
	if u == 0 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + units[u]
}
