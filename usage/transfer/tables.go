package transfer

import (
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// dimensionColumn names a breakdown's first column as the JSON rows name it.
func dimensionColumn(d stats.Dimension) string {
	if d == stats.ByAccount {
		return "account_email"
	}
	return d.String()
}

// newCSV starts a CSV table in the export's dialect: optional byte order mark, CRLF line ends.
func newCSV(w io.Writer, withBOM bool) (*csv.Writer, error) {
	if withBOM {
		if _, err := io.WriteString(w, bom); err != nil {
			return nil, err
		}
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return cw, nil
}

// WriteBreakdownCSV writes a breakdown table: one row per name with every total, in the rows' order.
// Money is in dollars; estimated_cost_usd leaves out the unpriced_requests.
func WriteBreakdownCSV(w io.Writer, d stats.Dimension, rows []stats.Row, withBOM bool) error {
	cw, err := newCSV(w, withBOM)
	if err != nil {
		return err
	}
	cw.Write([]string{dimensionColumn(d), "requests", "input_tokens", "output_tokens", "total_tokens",
		"cached_tokens", "reasoning_tokens", "cache_creation_tokens", "estimated_cost_usd",
		"unpriced_requests", "agent_cost_usd", "agent_cost_requests"})
	for _, r := range rows {
		cw.Write([]string{cell(r.Name), itoa(r.Requests), itoa(r.InputTokens), itoa(r.OutputTokens),
			itoa(r.TotalTokens()), itoa(r.CachedTokens), itoa(r.ReasoningTokens), itoa(r.CacheCreationTokens),
			usdText(r.Cost), itoa(r.Unpriced), usdText(r.AgentCost), itoa(r.AgentRequests)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteTrendCSV writes a trend as a table a spreadsheet charts directly: one row per period (every
// period of the window, oldest first), the period's label and start, then one column per name, largest
// total first, with the metric (tokens, requests, or cost in dollars); 0 where a name has nothing.
func WriteTrendCSV(w io.Writer, tr stats.Trend, loc *time.Location, withBOM bool) error {
	totals := map[string]int64{}
	for _, p := range tr.Periods {
		for n, v := range p.Values {
			totals[n] += v
		}
	}
	names := make([]string, 0, len(totals))
	for n := range totals {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if totals[names[i]] != totals[names[j]] {
			return totals[names[i]] > totals[names[j]]
		}
		return names[i] < names[j]
	})
	cw, err := newCSV(w, withBOM)
	if err != nil {
		return err
	}
	head := []string{"period", "start"}
	for _, n := range names {
		head = append(head, cell(n))
	}
	cw.Write(head)
	value := func(v int64) string {
		if tr.Metric == stats.MetricCost {
			return usdText(stats.Money(v))
		}
		return strconv.FormatInt(v, 10)
	}
	row := make([]string, len(head))
	for _, p := range tr.Periods {
		row[0], row[1] = p.Label, timeText(p.Start, loc)
		for i, n := range names {
			row[2+i] = value(p.Values[n])
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}
