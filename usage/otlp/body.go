// Package otlp turns OpenTelemetry OTLP/HTTP export bodies (logs, metrics, traces; protobuf or OTLP/JSON)
// from coding agents and GenAI-instrumented apps into stats.Records. It is a pure decoder: bytes in,
// records out. The HTTP routes, the store and the per-series metric state live elsewhere; metrics are
// a state machine here (MetricsBatch.Apply) whose states the caller persists with the records.
//
// Bodies are decoded into the data messages LogsData, MetricsData and TracesData, which are
// wire-identical to the Export…ServiceRequest messages (field 1 holds the resources in both), so the
// collector packages, and with them gRPC, are not linked.
package otlp

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Limits on one export body. The OTLP specification recommends refusing bodies above 20 MiB; the depth
// bound keeps a hostile body from costing deep recursion (an OTLP body needs about 12 levels plus 4 per
// nested attribute map).
const (
	MaxBodyBytes = 20 << 20
	MaxDepth     = 100
)

// Encoding is how an OTLP/HTTP body is encoded; the answer must use the same.
type Encoding int

const (
	Protobuf Encoding = iota // application/x-protobuf
	JSON                     // application/json (OTLP/JSON)
)

// ContentType is the media type of the encoding, for the Content-Type of the answer.
func (e Encoding) ContentType() string {
	if e == JSON {
		return "application/json"
	}
	return "application/x-protobuf"
}

// Errors the HTTP layer maps to status codes: ErrTooLarge to 413, ErrUnsupported to 415, anything else
// from this package to 400.
var (
	ErrTooLarge    = errors.New("otlp: body is larger than 20 MiB")
	ErrUnsupported = errors.New("otlp: unsupported")
)

// EncodingOf reads a Content-Type header. Parameters such as charset are allowed.
func EncodingOf(contentType string) (Encoding, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, fmt.Errorf("%w Content-Type %q: use application/x-protobuf or application/json", ErrUnsupported, contentType)
	}
	switch mt {
	case "application/x-protobuf":
		return Protobuf, nil
	case "application/json":
		return JSON, nil
	}
	return 0, fmt.Errorf("%w Content-Type %q: use application/x-protobuf or application/json", ErrUnsupported, mt)
}

// ReadBody reads an export body, inflating it when contentEncoding is gzip. Both the bytes on the wire
// and the inflated bytes are read through a limit, so a body or a gzip bomb above MaxBodyBytes is
// refused with ErrTooLarge after reading at most MaxBodyBytes+1 bytes of either.
func ReadBody(r io.Reader, contentEncoding string) ([]byte, error) {
	raw, err := readLimited(r)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("otlp: gzip body: %w", err)
		}
		body, err := readLimited(zr)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return nil, fmt.Errorf("%w once decompressed", ErrTooLarge)
			}
			return nil, fmt.Errorf("otlp: gzip body: %w", err)
		}
		return body, nil
	}
	return nil, fmt.Errorf("%w Content-Encoding %q: use gzip or none", ErrUnsupported, contentEncoding)
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBodyBytes {
		return nil, ErrTooLarge
	}
	return b, nil
}

// unmarshal decodes body into m, a LogsData, MetricsData or TracesData.
func unmarshal(body []byte, enc Encoding, m proto.Message) error {
	if len(body) > MaxBodyBytes {
		return ErrTooLarge
	}
	switch enc {
	case Protobuf:
		if err := (proto.UnmarshalOptions{RecursionLimit: MaxDepth}).Unmarshal(body, m); err != nil {
			return fmt.Errorf("otlp: malformed protobuf body (truncated or not an OTLP export): %w", err)
		}
	case JSON:
		fixed, err := prepareJSON(body)
		if err != nil {
			return err
		}
		// OTLP/JSON: unknown fields must be ignored.
		opts := protojson.UnmarshalOptions{DiscardUnknown: true, RecursionLimit: MaxDepth}
		if err := opts.Unmarshal(fixed, m); err != nil {
			return fmt.Errorf("otlp: malformed OTLP/JSON body: %w", err)
		}
	default:
		return fmt.Errorf("%w encoding %d", ErrUnsupported, enc)
	}
	return nil
}
