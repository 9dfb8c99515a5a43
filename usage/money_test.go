package usage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// TestAgentCostIsReadExactly: agent_cost_usd comes in as the nano-dollars its decimal text says, and
// anything that is not a plain non-negative number with at most nine decimals is refused by name.
func TestAgentCostIsReadExactly(t *testing.T) {
	now := time.Unix(1_770_000_000, 0)
	body := func(v string) []byte {
		return []byte(fmt.Sprintf(`{"account_email":"a","model":"m","input_tokens":1,"output_tokens":1,"agent_cost_usd":%s}`, v))
	}
	for v, want := range map[string]stats.Money{
		"0.0125": 12_500_000, "3": 3 * stats.NanosPerUSD, "0.000000001": 1, "0": 0,
		"123.456789012": 123_456_789_012, "1000000": 1_000_000 * stats.NanosPerUSD, "0.1": 100_000_000,
	} {
		recs, err := DecodeRecords(body(v), now)
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if r := recs[0]; !r.HasAgentCost || r.AgentCost != want {
			t.Errorf("%s: agent cost %d (given %v), want %d", v, r.AgentCost, r.HasAgentCost, want)
		}
	}
	for _, v := range []string{"-1", "1e3", `"0.1"`, "0.1234567891", "1000000.5", "99999999", "true"} {
		_, err := DecodeRecords(body(v), now)
		if err == nil || !strings.Contains(err.Error(), "agent_cost_usd") {
			t.Errorf("%s: error %v, want one naming agent_cost_usd", v, err)
		}
	}
	recs, err := DecodeRecords(body("null"), now)
	if err != nil || recs[0].HasAgentCost {
		t.Errorf("null: %v, %+v: want no agent cost", err, recs)
	}
}
