package otlp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/internal/ingest"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

// UnknownAccount and UnknownModel stand in when an agent sends no account or model attribute: both are
// required on a record, and a record without them still counts tokens.
const (
	UnknownAccount = "unknown"
	UnknownModel   = "unknown"
)

type kvs = []*commonpb.KeyValue

// lookup finds key in the first list that has it (record attributes before resource attributes).
func lookup(key string, lists ...kvs) *commonpb.AnyValue {
	for _, l := range lists {
		for _, kv := range l {
			if kv.GetKey() == key {
				return kv.GetValue()
			}
		}
	}
	return nil
}

// stringAttr is a string attribute's value, or "" when absent or not a string.
func stringAttr(key string, lists ...kvs) string {
	if v, ok := lookup(key, lists...).GetValue().(*commonpb.AnyValue_StringValue); ok {
		return v.StringValue
	}
	return ""
}

var errNoValue = errors.New("is missing")

// countValue reads a token count however an agent typed it: intValue (a JSON number or string in
// OTLP/JSON), a whole doubleValue, or a stringValue of decimal digits (Codex records counts with Rust's
// Display formatting, which the log bridge turns into strings).
func countValue(v *commonpb.AnyValue) (int64, error) {
	if v == nil || v.GetValue() == nil {
		return 0, errNoValue
	}
	var n int64
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_IntValue:
		n = x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		d := x.DoubleValue
		if math.IsNaN(d) || math.IsInf(d, 0) || d != math.Trunc(d) {
			return 0, errors.New("must be a whole number")
		}
		if d < 0 {
			return 0, errors.New("must not be negative")
		}
		if d > stats.MaxTokens {
			return 0, errors.New("is too large")
		}
		n = int64(d)
	case *commonpb.AnyValue_StringValue:
		s := strings.TrimSpace(x.StringValue)
		p, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, errors.New("must be a whole number")
		}
		n = p
	default:
		return 0, errors.New("must be a number")
	}
	if n < 0 {
		return 0, errors.New("must not be negative")
	}
	if n > stats.MaxTokens {
		return 0, errors.New("is too large")
	}
	return n, nil
}

// counter reads several counts from one attribute set and keeps the first error, so a mapping reads as
// a list.
type counter struct {
	lists []kvs
	err   error
}

func (c *counter) get(key string, required bool) int64 {
	if c.err != nil {
		return 0
	}
	n, err := countValue(lookup(key, c.lists...))
	if errors.Is(err, errNoValue) && !required {
		return 0
	}
	if err != nil {
		c.err = errors.New(key + ": " + err.Error())
	}
	return n
}

// has reports whether key is present.
func (c *counter) has(key string) bool { return lookup(key, c.lists...) != nil }

// resource is what every item of one ResourceLogs/ResourceMetrics/ResourceSpans shares.
type resource struct {
	attrs   kvs
	service string // service.name as sent ("" when absent)
	source  string // the record's Source: service.name and service.version
}

func newResource(r *resourcepb.Resource) resource {
	attrs := r.GetAttributes()
	svc := stringAttr("service.name", attrs)
	name := svc
	if name == "" {
		name = "unknown_service"
	}
	if v := stringAttr("service.version", attrs); v != "" {
		name += " " + v
	}
	return resource{attrs: attrs, service: svc, source: clean(name, stats.MaxSourceLen)}
}

// agent names the sender in request ids and in the events-win rule.
func (r resource) agent() string {
	if r.service == "" {
		return "unknown_service"
	}
	return r.service
}

// account is who made the request, as the agents name them: e-mail when signed in, else an account id,
// else an anonymous install id.
func account(lists ...kvs) string {
	for _, k := range []string{"user.email", "user.account_uuid", "user.account_id", "user.id", "installation.id"} {
		if s := clean(stringAttr(k, lists...), stats.MaxAccountLen); s != "" {
			return s
		}
	}
	return UnknownAccount
}

func model(lists ...kvs) string {
	for _, k := range []string{"model", "gen_ai.response.model", "gen_ai.request.model"} {
		if s := clean(stringAttr(k, lists...), stats.MaxModelLen); s != "" {
			return s
		}
	}
	return UnknownModel
}

// clean makes a display string storable.
func clean(s string, max int) string { return ingest.Clean(s, max) }

// requestID namespaces an id from an agent so it cannot collide with another ingest path or agent
// ("otlp:claude-code:req_…"); a hash stands in when it is too long.
func requestID(agent, id string) string { return ingest.RequestID("otlp", agent, id) }

// identity hashes attribute sets canonically: keys sorted, values by type. The same items decoded from
// protobuf and from JSON hash the same, which is what makes a retried batch count once whichever
// encoding it came in.
type identity struct{ h hash.Hash }

func newIdentity() identity { return identity{sha256.New()} }

func (id identity) sum() string {
	return hex.EncodeToString(id.h.Sum(nil)[:16])
}

func (id identity) str(s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	id.h.Write(n[:])
	id.h.Write([]byte(s))
}

func (id identity) u64(v uint64) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], v)
	id.h.Write(n[:])
}

func (id identity) attrs(l kvs, skip ...string) {
	sorted := slices.Clone(l)
	slices.SortStableFunc(sorted, func(a, b *commonpb.KeyValue) int { return strings.Compare(a.GetKey(), b.GetKey()) })
	n := 0
	for _, kv := range sorted {
		if !slices.Contains(skip, kv.GetKey()) {
			n++
		}
	}
	id.u64(uint64(n))
	for _, kv := range sorted {
		if slices.Contains(skip, kv.GetKey()) {
			continue
		}
		id.str(kv.GetKey())
		id.value(kv.GetValue())
	}
}

func (id identity) value(v *commonpb.AnyValue) {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		id.str("s")
		id.str(x.StringValue)
	case *commonpb.AnyValue_BoolValue:
		id.str("b")
		if x.BoolValue {
			id.u64(1)
		} else {
			id.u64(0)
		}
	case *commonpb.AnyValue_IntValue:
		id.str("i")
		id.u64(uint64(x.IntValue))
	case *commonpb.AnyValue_DoubleValue:
		id.str("d")
		id.u64(math.Float64bits(x.DoubleValue))
	case *commonpb.AnyValue_BytesValue:
		id.str("y")
		id.str(string(x.BytesValue))
	case *commonpb.AnyValue_ArrayValue:
		id.str("a")
		vals := x.ArrayValue.GetValues()
		id.u64(uint64(len(vals)))
		for _, e := range vals {
			id.value(e)
		}
	case *commonpb.AnyValue_KvlistValue:
		id.str("m")
		id.attrs(x.KvlistValue.GetValues())
	default:
		id.str("-")
	}
}
