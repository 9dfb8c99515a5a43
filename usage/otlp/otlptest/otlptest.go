// Package otlptest builds the pieces of OTLP exports that the tests of the OTLP decoder and of the
// listener's OTLP routes both need, so the two build their payloads alike.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
)

// KV builds an attribute typed as Go types map onto OTLP: string (stringValue), int and int64
// (intValue), float64 (doubleValue), bool (boolValue). Another type is a test's mistake: it panics.
func KV(k string, v any) *commonpb.KeyValue {
	var av *commonpb.AnyValue
	switch x := v.(type) {
	case string:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: x}}
	case int:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(x)}}
	case int64:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: x}}
	case float64:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: x}}
	case bool:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: x}}
	default:
		panic(fmt.Sprintf("otlptest.KV: unsupported type %T", v))
	}
	return &commonpb.KeyValue{Key: k, Value: av}
}

// Gzip compresses b as an exporter with gzip compression sends it.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
