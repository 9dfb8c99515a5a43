package otlp

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// Token metrics that become records, for agents that export metrics only.
const (
	MetricClaudeTokens = "claude_code.token.usage"
	MetricGeminiTokens = "gemini_cli.token.usage"
	MetricCodexTokens  = "codex.turn.token_usage"
	MetricGenAITokens  = "gen_ai.client.token.usage"
)

// role is what one token-type series adds to a record.
type role int

const (
	roleDerived          role = iota // a sum of other types (Codex total): not counted
	roleInput                        // input
	roleCacheReadAdd                 // input and cached: the agent's input excludes cache reads
	roleCacheCreationAdd             // input and cache creation: the agent's input excludes cache writes
	roleCacheReadIn                  // cached only: already inside the agent's input
	roleCacheCreationIn              // cache creation only: already inside the agent's input
	roleOutput                       // output
	roleReasoningAdd                 // output and reasoning: the agent's output excludes reasoning
	roleReasoningIn                  // reasoning only: already inside the agent's output
)

type metricSpec struct {
	typeAttr string // the point attribute that names the token type
	roles    map[string]role
}

// tokenMetrics maps each metric's token types onto Token Stats' fields (docs/telemetry.md cites the
// sources). Claude Code's input is the Anthropic API's, without cache; Gemini CLI's input (prompt)
// includes cache but not the tool-use prompt, and its output excludes thoughts; Codex's input and
// output are the Responses API's, which include cached and reasoning tokens.
var tokenMetrics = map[string]metricSpec{
	MetricClaudeTokens: {"type", map[string]role{
		"input": roleInput, "output": roleOutput, "cacheRead": roleCacheReadAdd, "cacheCreation": roleCacheCreationAdd}},
	MetricGeminiTokens: {"type", map[string]role{
		"input": roleInput, "tool": roleInput, "cache": roleCacheReadIn, "output": roleOutput, "thought": roleReasoningAdd}},
	MetricCodexTokens: {"token_type", map[string]role{
		"input": roleInput, "cached_input": roleCacheReadIn, "cache_write_input": roleCacheCreationIn,
		"output": roleOutput, "reasoning_output": roleReasoningIn, "total": roleDerived, "non_cached_input": roleDerived}},
	MetricGenAITokens: {"gen_ai.token.type", map[string]role{"input": roleInput, "output": roleOutput}},
}

// SendsEventsWithMetrics reports whether an agent (service.name) always exports its usage events
// beside its token metrics, so its metrics never need counting. Gemini CLI does: one OpenTelemetry SDK
// setup creates its log exporter and metric reader together for one endpoint, and every
// gemini_cli.token.usage increment is logged with an api_response event
// (packages/core/src/telemetry/sdk.ts and loggers.ts, logApiResponse). Claude Code and Codex configure
// logs and metrics separately.
func SendsEventsWithMetrics(agent string) bool { return agent == "gemini-cli" }

// IgnoredEventsWin ends the Ignored name of a token metric that Apply did not count because eventsFrom
// said the agent's events are counted (events win), so the caller can say so in the Sources view.
const IgnoredEventsWin = " (this agent's events are counted instead)"

// SeriesState is the last counted point of one cumulative series. The store keeps it in the same
// transaction as the records it led to, so a restart of Token Stats or of the agent counts nothing
// twice. Key is a hash of the series' identity (resource, scope, metric, attributes): no attribute
// value is stored.
type SeriesState struct {
	Key               string `json:"key"`
	StartTimeUnixNano uint64 `json:"start_time_unix_nano"`
	TimeUnixNano      uint64 `json:"time_unix_nano"`
	Value             int64  `json:"value"`
}

// MetricsResult is what applying a metrics batch yields: records to store and the states to store with
// them.
type MetricsResult struct {
	Result
	States []SeriesState
}

// MetricsBatch is a decoded /v1/metrics body: the token points, not yet counted.
type MetricsBatch struct {
	points []tokenPoint
	res    Result // what decoding ignored or rejected
}

type tokenPoint struct {
	res         resource
	metric      string
	role        role
	series      string // state key
	group       string // points of one group become one record
	cumulative  bool
	start, time uint64
	value       int64
	model       string
	account     string
}

// DecodeMetrics reads a /v1/metrics body. Nothing is counted until Apply.
//
// One export may carry the same calls twice: Gemini CLI records every response in both
// gemini_cli.token.usage and gen_ai.client.token.usage. gen_ai.client.token.usage is therefore ignored
// in a resource that also carries an agent's own token metric, and always from service.name gemini-cli.
func DecodeMetrics(body []byte, enc Encoding) (*MetricsBatch, error) {
	var data metricspb.MetricsData
	if err := unmarshal(body, enc, &data); err != nil {
		return nil, err
	}
	b := &MetricsBatch{}
	for _, rm := range data.GetResourceMetrics() {
		r := newResource(rm.GetResource())
		agentMetric := ""
		if r.service == "gemini-cli" {
			agentMetric = MetricGeminiTokens
		}
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if n := m.GetName(); n != MetricGenAITokens && tokenMetrics[n].roles != nil {
					agentMetric = n
				}
			}
		}
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				spec, ok := tokenMetrics[m.GetName()]
				switch {
				case !ok:
					b.res.ignore(r.source, m.GetName())
				case m.GetName() == MetricGenAITokens && agentMetric != "":
					b.res.ignore(r.source, MetricGenAITokens+" (the same calls as "+agentMetric+")")
				default:
					b.addMetric(r, sm.GetScope().GetName(), m, spec)
				}
			}
		}
	}
	return b, nil
}

func (b *MetricsBatch) addMetric(r resource, scope string, m *metricspb.Metric, spec metricSpec) {
	name := m.GetName()
	var temporality metricspb.AggregationTemporality
	type point struct {
		attrs       kvs
		start, time uint64
		flags       uint32
		value       float64
		isInt       bool
		intValue    int64
		hasValue    bool
	}
	var pts []point
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Sum:
		if !d.Sum.GetIsMonotonic() {
			b.res.ignore(r.source, name+" (not a monotonic sum)")
			return
		}
		temporality = d.Sum.GetAggregationTemporality()
		for _, p := range d.Sum.GetDataPoints() {
			pt := point{attrs: p.GetAttributes(), start: p.GetStartTimeUnixNano(), time: p.GetTimeUnixNano(), flags: p.GetFlags(), hasValue: true}
			switch v := p.GetValue().(type) {
			case *metricspb.NumberDataPoint_AsInt:
				pt.isInt, pt.intValue = true, v.AsInt
			case *metricspb.NumberDataPoint_AsDouble:
				pt.value = v.AsDouble
			default:
				pt.hasValue = false
			}
			pts = append(pts, pt)
		}
	case *metricspb.Metric_Histogram:
		temporality = d.Histogram.GetAggregationTemporality()
		for _, p := range d.Histogram.GetDataPoints() {
			pts = append(pts, point{attrs: p.GetAttributes(), start: p.GetStartTimeUnixNano(), time: p.GetTimeUnixNano(),
				flags: p.GetFlags(), value: p.GetSum(), hasValue: p.Sum != nil})
		}
	case *metricspb.Metric_ExponentialHistogram:
		temporality = d.ExponentialHistogram.GetAggregationTemporality()
		for _, p := range d.ExponentialHistogram.GetDataPoints() {
			pts = append(pts, point{attrs: p.GetAttributes(), start: p.GetStartTimeUnixNano(), time: p.GetTimeUnixNano(),
				flags: p.GetFlags(), value: p.GetSum(), hasValue: p.Sum != nil})
		}
	default:
		b.res.ignore(r.source, name+" (not a sum or histogram)")
		return
	}
	if temporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA &&
		temporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		b.res.reject(r.source, name+": aggregation temporality is unspecified")
		return
	}
	for _, p := range pts {
		if p.flags&uint32(metricspb.DataPointFlags_DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK) != 0 {
			continue
		}
		typ := stringAttr(spec.typeAttr, p.attrs)
		rl, ok := spec.roles[typ]
		if !ok {
			b.res.ignore(r.source, name+" "+spec.typeAttr+"="+typ)
			continue
		}
		if rl == roleDerived {
			continue
		}
		value, reason := pointValue(p.isInt, p.intValue, p.value, p.hasValue)
		if reason == "" && (p.time == 0 || p.time >= 1<<63) {
			reason = "point has no time"
		}
		if reason != "" {
			b.res.reject(r.source, name+": "+reason)
			continue
		}
		series := newIdentity()
		series.attrs(r.attrs)
		series.str(scope)
		series.str(name)
		series.attrs(p.attrs)
		group := newIdentity()
		group.attrs(r.attrs)
		group.str(scope)
		group.str(name)
		group.attrs(p.attrs, spec.typeAttr)
		group.u64(p.time)
		b.points = append(b.points, tokenPoint{
			res: r, metric: name, role: rl, series: series.sum(), group: group.sum(),
			cumulative: temporality == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			start:      p.start, time: p.time, value: value,
			model: model(p.attrs, r.attrs), account: account(p.attrs, r.attrs),
		})
	}
}

// pointValue is a point's token count: a non-negative whole number (a double is rounded: SDKs record
// counters as doubles).
func pointValue(isInt bool, i int64, d float64, has bool) (int64, string) {
	switch {
	case !has:
		return 0, "point has no value"
	case isInt:
		d = float64(i)
	case math.IsNaN(d) || math.IsInf(d, 0):
		return 0, "value is not a finite number"
	}
	if d < 0 {
		return 0, "value is negative"
	}
	if d > stats.MaxTokens {
		return 0, "value is too large"
	}
	if isInt {
		return i, ""
	}
	return int64(math.Round(d)), ""
}

// SeriesKeys are the keys of the cumulative series in the batch: the caller loads their states for
// Apply.
func (b *MetricsBatch) SeriesKeys() []string {
	var keys []string
	for _, p := range b.points {
		if p.cumulative {
			keys = append(keys, p.series)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// group collects the token types of one (resource, metric, attributes, time) into one record.
type group struct {
	first tokenPoint
	sums  [roleReasoningIn + 1]int64
}

// Apply counts the batch against the previous states (prev, keyed by SeriesState.Key; missing means
// never seen) and returns the records and the new states. It changes nothing else.
//
// Delta points count whole. A cumulative point counts its increase over the series' last counted point,
// and its whole value when start_time_unix_nano changed or the value dropped (the agent restarted); a
// point no newer than the last counted one counts nothing (a retried batch).
//
// The token types of one series group at one time (input, output, cache reads, … of the same model,
// account and session) become one record whose request id is a hash of the group and its time: a
// record of cache reads alone would break "input includes cached", and a retried batch yields the same
// ids.
//
// eventsFrom reports whether the store holds log events from an agent (service.name); that agent's token
// points then advance their states but make no records, since the events already counted the same calls.
// It should also answer true where SendsEventsWithMetrics does: otherwise an agent's first metrics
// export can reach Token Stats before its first events and count those calls twice.
func (b *MetricsBatch) Apply(prev map[string]SeriesState, now time.Time, eventsFrom func(agent string) bool) MetricsResult {
	out := MetricsResult{Result: b.res.clone()}
	order := make([]int, len(b.points))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		px, py := b.points[x], b.points[y]
		if c := strings.Compare(px.series, py.series); c != 0 {
			return c
		}
		return compareU64(px.time, py.time)
	})
	next := map[string]SeriesState{}
	groups := map[string]*group{}
	for _, i := range order {
		p := b.points[i]
		delta := p.value
		if p.cumulative {
			st, seen := next[p.series]
			if !seen {
				st, seen = prev[p.series]
			}
			switch {
			case seen && p.time <= st.TimeUnixNano:
				continue
			case seen && p.start == st.StartTimeUnixNano && p.value >= st.Value:
				delta = p.value - st.Value
			}
			next[p.series] = SeriesState{Key: p.series, StartTimeUnixNano: p.start, TimeUnixNano: p.time, Value: p.value}
		}
		if delta == 0 {
			continue
		}
		if eventsFrom != nil && eventsFrom(p.res.agent()) {
			out.ignore(p.res.source, p.metric+IgnoredEventsWin)
			continue
		}
		g := groups[p.group]
		if g == nil {
			g = &group{first: p}
			groups[p.group] = g
		}
		g.sums[p.role] += delta
	}
	keys := slices.Collect(maps.Keys(groups))
	slices.SortFunc(keys, func(x, y string) int {
		if c := compareU64(groups[x].first.time, groups[y].first.time); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	for _, k := range keys {
		g := groups[k]
		s := g.sums
		t := tokens{
			input:         s[roleInput] + s[roleCacheReadAdd] + s[roleCacheCreationAdd],
			cached:        s[roleCacheReadAdd] + s[roleCacheReadIn],
			cacheCreation: s[roleCacheCreationAdd] + s[roleCacheCreationIn],
			output:        s[roleOutput] + s[roleReasoningAdd],
			reasoning:     s[roleReasoningAdd] + s[roleReasoningIn],
		}
		// The agents record every type of a call together, so these hold; should a sender split them
		// across exports, the totals are kept and the parts capped rather than the record refused.
		t.cached = min(t.cached, t.input)
		t.cacheCreation = min(t.cacheCreation, t.input)
		t.reasoning = min(t.reasoning, t.output)
		p := g.first
		if reason := t.check(); reason != "" {
			out.reject(p.res.source, p.metric+": "+reason)
			continue
		}
		out.add(t.record(stats.Record{
			Time:      time.Unix(0, int64(p.time)).UTC(),
			Account:   p.account,
			Model:     p.model,
			Source:    p.res.source,
			RequestID: requestID(p.res.agent(), "metric:"+k),
		}), p.metric, now)
	}
	for _, k := range slices.Sorted(maps.Keys(next)) {
		out.States = append(out.States, next[k])
	}
	return out
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
