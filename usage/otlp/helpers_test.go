package otlp_test

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/otlp"
	"github.com/tokenstats/tokenstats/usage/otlp/otlptest"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// now is the server clock of every test; payload times lie before it.
var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// kv builds an attribute (otlptest.KV).
func kv(k string, v any) *commonpb.KeyValue { return otlptest.KV(k, v) }

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func res(attrs ...*commonpb.KeyValue) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: attrs}
}

// encode marshals a data message the way an exporter would: protobuf, or OTLP/JSON (protojson writes
// int64 as strings and enums as names; OTLP/JSON readers accept both).
func encode(t *testing.T, m proto.Message, enc otlp.Encoding) []byte {
	t.Helper()
	var b []byte
	var err error
	if enc == otlp.JSON {
		b, err = protojson.Marshal(m)
	} else {
		b, err = proto.Marshal(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logsData(r *resourcepb.Resource, scope string, records ...*logspb.LogRecord) *logspb.LogsData {
	return &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  r,
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: scope}, LogRecords: records}},
	}}}
}

func metricsData(r *resourcepb.Resource, scope string, metrics ...*metricspb.Metric) *metricspb.MetricsData {
	return &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource:     r,
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: scope}, Metrics: metrics}},
	}}}
}

func ns(t time.Time) uint64 { return uint64(t.UnixNano()) }

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkRecords asserts every record is valid and of the OTLP kind.
func checkRecords(t *testing.T, recs []stats.Record) {
	t.Helper()
	for i, r := range recs {
		if err := r.Validate(now); err != nil {
			t.Errorf("record %d does not validate: %v (%+v)", i, err, r)
		}
		if r.Kind != stats.KindOTLP {
			t.Errorf("record %d: Kind = %q, want %q", i, r.Kind, stats.KindOTLP)
		}
	}
}

// checkBySource asserts that the per-source tallies add up to the totals, and that source (when not "")
// holds all of them.
func checkBySource(t *testing.T, r otlp.Result, source string) {
	t.Helper()
	ignored, rejected := map[string]int{}, map[string]int{}
	for _, tally := range r.BySource {
		for k, n := range tally.Ignored {
			ignored[k] += n
		}
		for k, n := range tally.Rejected {
			rejected[k] += n
		}
	}
	if !maps.Equal(ignored, r.Ignored) || !maps.Equal(rejected, r.Rejected) {
		t.Errorf("by source %v does not add up to ignored %v, rejected %v", r.BySource, r.Ignored, r.Rejected)
	}
	if source != "" && len(r.BySource) != 1 {
		t.Errorf("by source has %d sources, want only %q", len(r.BySource), source)
	} else if source != "" && r.BySource[source] == nil {
		t.Errorf("by source = %v, want everything under %q", r.BySource, source)
	}
}

type counts struct{ in, out, cached, reasoning, creation int64 }

func countsOf(r stats.Record) counts {
	return counts{r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens, r.CacheCreationTokens}
}
