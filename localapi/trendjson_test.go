package localapi

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// TestWriteTrendMatchesEncodingJSON: the hand-written trend answer is byte for byte what writeJSON
// gives for the documented shape, for plain and hostile names and empty periods.
func TestWriteTrendMatchesEncodingJSON(t *testing.T) {
	names := []string{"gpt-4o", "a@example.com", "<script>alert(1)</script>", "quote\"back\\slash",
		"ctl\x01\x1f", "ünïcödé ✓", "\u2028sep", "bad\xffutf8", "z", ""}
	tr := stats.Trend{Granularity: stats.Hourly}
	for i := 0; i < 30; i++ {
		p := stats.Period{Label: time.Date(2026, 1, 1, i%24, 0, 0, 0, time.UTC).Format("2006-01-02 15:00"), Values: map[string]int64{}}
		for j, n := range names {
			if (i+j)%3 != 0 {
				p.Values[n] = int64(i*1000+j) << (j % 40)
			}
		}
		tr.Periods = append(tr.Periods, p)
	}
	cost := tr
	cost.Metric = stats.MetricCost
	for _, c := range []stats.Trend{tr, cost, {Granularity: stats.Daily}, {Granularity: stats.Daily, Periods: []stats.Period{{Label: "2026-01-01", Values: map[string]int64{}}}}} {
		out := make([]periodJSON, len(c.Periods))
		for i, p := range c.Periods {
			out[i] = periodJSON{p.Label, map[string]any{}}
			for n, v := range p.Values {
				out[i].Data[n] = v
				if c.Metric == stats.MetricCost { // dollars, from nano-dollars
					out[i].Data[n] = json.Number(strconv.FormatFloat(float64(v)/1e9, 'f', -1, 64))
				}
			}
		}
		want := httptest.NewRecorder()
		writeJSON(want, 200, map[string]any{"success": true, "granularity": c.Granularity.String(), "hours": 30,
			"metric": c.Metric.String(), "data": out})
		got := httptest.NewRecorder()
		writeTrend(got, c, 30)
		if got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") || got.Code != want.Code {
			t.Errorf("writeTrend:\n%s\nencoding/json:\n%s", got.Body, want.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(got.Body.Bytes(), &v); err != nil {
			t.Errorf("not JSON: %v", err)
		}
	}
}

// periodJSON is a trend point as encoding/json writes it: the reference writeTrend must match byte for byte.
type periodJSON struct {
	Period string         `json:"period"`
	Data   map[string]any `json:"data"`
}
