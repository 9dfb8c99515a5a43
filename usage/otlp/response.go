package otlp

import (
	"encoding/json"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Signal is one of the three OTLP/HTTP export kinds.
type Signal int

const (
	Logs    Signal = iota // POST /v1/logs
	Metrics               // POST /v1/metrics
	Traces                // POST /v1/traces
)

// EncodeResponse is the body of a 200 answer to an export, in the request's own encoding: an
// Export{Logs,Metrics,Trace}ServiceResponse. With nothing rejected and no message it is the empty
// message, which is zero bytes in protobuf and {} in JSON, as the specification asks for a full success.
// Otherwise partial_success carries the count of rejected items and the message.
//
// Written by hand so the collector packages (and gRPC with them) are not linked. The field numbers and
// JSON names are those of go.opentelemetry.io/proto/otlp v1.11.1, collector/*/v1/*_service.pb.go:
// partial_success = 1 in the response; rejected_log_records / rejected_data_points / rejected_spans = 1
// (int64) and error_message = 2 in the partial success message.
func EncodeResponse(sig Signal, enc Encoding, rejected int64, message string) []byte {
	if enc == JSON {
		if rejected == 0 && message == "" {
			return []byte("{}")
		}
		ps := map[string]string{}
		if rejected != 0 {
			// proto3 JSON writes int64 as a decimal string; OTLP/JSON readers accept it.
			ps[rejectedJSONName(sig)] = strconv.FormatInt(rejected, 10)
		}
		if message != "" {
			ps["errorMessage"] = message
		}
		b, _ := json.Marshal(map[string]map[string]string{"partialSuccess": ps})
		return b
	}
	if rejected == 0 && message == "" {
		return []byte{}
	}
	var inner []byte
	if rejected != 0 {
		inner = protowire.AppendTag(inner, 1, protowire.VarintType)
		inner = protowire.AppendVarint(inner, uint64(rejected))
	}
	if message != "" {
		inner = protowire.AppendTag(inner, 2, protowire.BytesType)
		inner = protowire.AppendString(inner, message)
	}
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(out, inner)
}

func rejectedJSONName(sig Signal) string {
	switch sig {
	case Metrics:
		return "rejectedDataPoints"
	case Traces:
		return "rejectedSpans"
	}
	return "rejectedLogRecords"
}

// gRPC status codes an OTLP/HTTP failure answer carries (google.rpc.Code).
const (
	CodeInvalidArgument   = 3  // 400, 415: the body cannot be read; do not retry
	CodeResourceExhausted = 8  // 413: the body is too large; do not retry
	CodeUnavailable       = 14 // 503: try again later
)

// EncodeStatus is the body of a failure answer: a google.rpc.Status with code and message, in the
// request's encoding, as OTLP/HTTP asks. Written by hand for the same reason as EncodeResponse; its
// field numbers are those of google/rpc/status.proto (code = 1, message = 2).
func EncodeStatus(enc Encoding, code int32, message string) []byte {
	if enc == JSON {
		b, _ := json.Marshal(struct {
			Code    int32  `json:"code"`
			Message string `json:"message"`
		}{code, message})
		return b
	}
	out := protowire.AppendTag(nil, 1, protowire.VarintType)
	out = protowire.AppendVarint(out, uint64(code))
	out = protowire.AppendTag(out, 2, protowire.BytesType)
	return protowire.AppendString(out, message)
}
