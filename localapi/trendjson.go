package localapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/tokenstats/tokenstats/stats"
)

// writeTrend writes a trend answer: the bytes writeJSON would write for
// {"success": true, "granularity": g, "hours": hours, "data": [{"period", "data"}…]}, written by hand.
// An hourly trend of a month by account is 720 maps of up to 50 names; encoding/json sorted each map's
// keys and took longer than the query. Here the names are sorted once for all periods.
func writeTrend(w http.ResponseWriter, tr stats.Trend, hours int) {
	seen := map[string]bool{}
	var names []string
	for _, p := range tr.Periods {
		for n := range p.Values {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	quoted := make([][]byte, len(names))
	for i, n := range names {
		quoted[i] = appendJSONString(nil, n)
	}
	b := make([]byte, 0, 64+len(tr.Periods)*(32+len(names)*24))
	b = append(b, `{"data":[`...)
	for i, p := range tr.Periods {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"period":`...)
		b = appendJSONString(b, p.Label)
		b = append(b, `,"data":{`...)
		first := true
		for j, n := range names {
			v, ok := p.Values[n]
			if !ok {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, quoted[j]...)
			b = append(b, ':')
			if tr.Metric == stats.MetricCost {
				b = appendUSD(b, stats.Money(v))
			} else {
				b = strconv.AppendInt(b, v, 10)
			}
		}
		b = append(b, "}}"...)
	}
	b = append(b, `],"granularity":`...)
	b = appendJSONString(b, tr.Granularity.String())
	b = append(b, `,"hours":`...)
	b = strconv.AppendInt(b, int64(hours), 10)
	b = append(b, `,"metric":`...)
	b = appendJSONString(b, tr.Metric.String())
	b = append(b, `,"success":true}`+"\n"...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// appendUSD appends an amount as a JSON number of dollars, exact to the nano-dollar: 0.0125, 3, 1.5.
func appendUSD(b []byte, m stats.Money) []byte {
	return append(b, strings.TrimPrefix(strings.Replace(m.String(), "$", "", 1), "+")...)
}

// appendJSONString appends s as encoding/json writes it with HTML escaping off: printable ASCII as is,
// anything else through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
