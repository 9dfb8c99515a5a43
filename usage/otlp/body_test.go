package otlp_test

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/tokenstats/tokenstats/usage/otlp"
	"github.com/tokenstats/tokenstats/usage/otlp/otlptest"
)

func TestEncodingOf(t *testing.T) {
	for ct, want := range map[string]otlp.Encoding{
		"application/x-protobuf":          otlp.Protobuf,
		"application/json":                otlp.JSON,
		"application/json; charset=utf-8": otlp.JSON,
	} {
		got, err := otlp.EncodingOf(ct)
		if err != nil || got != want {
			t.Errorf("EncodingOf(%q) = %v, %v; want %v", ct, got, err, want)
		}
	}
	for _, ct := range []string{"", "text/plain", "application/grpc", "application/x-ndjson"} {
		if _, err := otlp.EncodingOf(ct); !errors.Is(err, otlp.ErrUnsupported) {
			t.Errorf("EncodingOf(%q) err = %v, want ErrUnsupported", ct, err)
		}
	}
}

func gzipped(t *testing.T, b []byte) []byte { return otlptest.Gzip(t, b) }

func TestReadBodyGzip(t *testing.T) {
	body := []byte(`{"resourceLogs":[]}`)
	got, err := otlp.ReadBody(bytes.NewReader(gzipped(t, body)), "gzip")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("ReadBody(gzip) = %q, %v; want %q", got, err, body)
	}
	got, err = otlp.ReadBody(bytes.NewReader(body), "")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("ReadBody(identity) = %q, %v", got, err)
	}
	if _, err := otlp.ReadBody(bytes.NewReader(body), "br"); !errors.Is(err, otlp.ErrUnsupported) {
		t.Errorf("Content-Encoding br: err = %v, want ErrUnsupported", err)
	}
	if _, err := otlp.ReadBody(bytes.NewReader(body), "gzip"); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("a body that is not gzip, sent as gzip: err = %v, want a gzip error", err)
	}
}

func TestReadBodyRefusesLargeBodies(t *testing.T) {
	big := bytes.Repeat([]byte{'a'}, 21<<20)
	if _, err := otlp.ReadBody(bytes.NewReader(big), ""); !errors.Is(err, otlp.ErrTooLarge) {
		t.Fatalf("21 MiB body: err = %v, want ErrTooLarge", err)
	}
	exact := big[:otlp.MaxBodyBytes]
	if got, err := otlp.ReadBody(bytes.NewReader(exact), ""); err != nil || len(got) != otlp.MaxBodyBytes {
		t.Fatalf("20 MiB body: len %d, err %v; want it accepted", len(got), err)
	}
}

// A gzip bomb (1 GiB of zeros in about 1 MiB: one small gzip member repeated, which gzip readers
// inflate one after the other) is refused, and refusing it allocates a fraction of what inflating it
// would: the body is read through a limit, never inflated whole.
func TestReadBodyRefusesGzipBomb(t *testing.T) {
	member := gzipped(t, make([]byte, 1<<20))
	bomb := bytes.Repeat(member, 1024)
	if len(bomb) > otlp.MaxBodyBytes {
		t.Fatalf("bomb is %d bytes compressed; the test needs it under the limit", len(bomb))
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := otlp.ReadBody(bytes.NewReader(bomb), "gzip")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, otlp.ErrTooLarge) || !strings.Contains(err.Error(), "decompressed") {
		t.Fatalf("gzip bomb: err = %v, want ErrTooLarge once decompressed", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("refusing the bomb allocated %d MiB; inflating was not bounded", alloc>>20)
	}
}

// Hostile bodies get clear errors and no records, in every decoder.
func TestHostileBodies(t *testing.T) {
	valid := encode(t, logsData(res(kv("service.name", "claude-code")), "com.anthropic.claude_code.events",
		claudeRequest("req_1", 10, 5, 0, 0)), otlp.Protobuf)
	deep := strings.Repeat(`{"resourceLogs":[`, 60) + strings.Repeat(`]}`, 60)
	cases := []struct {
		name string
		body []byte
		enc  otlp.Encoding
		want string
	}{
		{"truncated protobuf", valid[:len(valid)-3], otlp.Protobuf, "malformed protobuf body"},
		{"not protobuf", []byte("hello, this is text"), otlp.Protobuf, "malformed protobuf body"},
		{"21 MiB", bytes.Repeat([]byte{' '}, 21<<20), otlp.JSON, "larger than 20 MiB"},
		{"deep JSON", []byte(deep), otlp.JSON, "nested more than 100 levels"},
		{"malformed JSON", []byte(`{"resourceLogs":[{"scopeLogs":[`), otlp.JSON, "malformed OTLP/JSON body"},
		{"JSON of the wrong shape", []byte(`{"resourceLogs":"no","resourceSpans":1,"resourceMetrics":{}}`), otlp.JSON, "malformed OTLP/JSON body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for name, decode := range map[string]func() (int, error){
				"logs": func() (int, error) {
					r, err := otlp.DecodeLogs(c.body, c.enc, now)
					return len(r.Records), err
				},
				"traces": func() (int, error) {
					r, err := otlp.DecodeTraces(c.body, c.enc, now)
					return len(r.Records), err
				},
				"metrics": func() (int, error) {
					b, err := otlp.DecodeMetrics(c.body, c.enc)
					if b != nil {
						return len(b.Apply(nil, now, nil).Records), err
					}
					return 0, err
				},
			} {
				n, err := decode()
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: err = %v, want it to say %q", name, err, c.want)
				}
				if n != 0 {
					t.Errorf("%s: %d records from a refused body", name, n)
				}
			}
		})
	}
}

// The answers: the empty message in the request's encoding on full success, partial_success otherwise.
func TestEncodeResponse(t *testing.T) {
	if b := otlp.EncodeResponse(otlp.Logs, otlp.Protobuf, 0, ""); len(b) != 0 {
		t.Errorf("protobuf success = %x, want zero bytes", b)
	}
	for _, sig := range []otlp.Signal{otlp.Logs, otlp.Metrics, otlp.Traces} {
		if b := otlp.EncodeResponse(sig, otlp.JSON, 0, ""); string(b) != "{}" {
			t.Errorf("JSON success = %s, want {}", b)
		}
	}
	// partial_success (1) { rejected_… (1) = 3, error_message (2) = "bad" }
	want := []byte{0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'}
	if b := otlp.EncodeResponse(otlp.Metrics, otlp.Protobuf, 3, "bad"); !bytes.Equal(b, want) {
		t.Errorf("protobuf partial success = %x, want %x", b, want)
	}
	for sig, field := range map[otlp.Signal]string{otlp.Logs: "rejectedLogRecords", otlp.Metrics: "rejectedDataPoints", otlp.Traces: "rejectedSpans"} {
		got := string(otlp.EncodeResponse(sig, otlp.JSON, 2, `say "why"`))
		want := `{"partialSuccess":{"errorMessage":"say \"why\"","` + field + `":"2"}}`
		if got != want {
			t.Errorf("JSON partial success = %s, want %s", got, want)
		}
	}
	if otlp.JSON.ContentType() != "application/json" || otlp.Protobuf.ContentType() != "application/x-protobuf" {
		t.Error("ContentType does not name the encoding")
	}
}

func TestEncodeStatus(t *testing.T) {
	// google.rpc.Status { code (1) = 3, message (2) = "bad" }
	want := []byte{0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'}
	if b := otlp.EncodeStatus(otlp.Protobuf, otlp.CodeInvalidArgument, "bad"); !bytes.Equal(b, want) {
		t.Errorf("protobuf status = %x, want %x", b, want)
	}
	if got, want := string(otlp.EncodeStatus(otlp.JSON, otlp.CodeUnavailable, `no "disk"`)), `{"code":14,"message":"no \"disk\""}`; got != want {
		t.Errorf("JSON status = %s, want %s", got, want)
	}
}
