package stats

import (
	"fmt"
	"testing"
	"time"
)

// Counters bound their labels to the first names and label sets seen, fold the rest into "other",
// never move a name between series (so no series goes down), keep what clears removed, and ignore
// aliases.
func TestCountersBoundedAndNeverDown(t *testing.T) {
	s := openTest(t, time.UTC)
	now := time.Now().Truncate(time.Second)
	r := func(acct, model, source string, in int64) Record {
		x := rec(now.Add(-time.Hour), acct, model, in, 1)
		x.Source = source
		return x
	}
	// Names in the order first seen: models m0, m1, m2, m3; accounts a0, a1, a2; sources s0, s1, s2.
	mustRecord(t, s, r("a0", "m0", "s0", 10), r("a1", "m1", "s0", 20), r("a0", "m2", "", 30),
		r("a2", "m3", "s1", 40), r("a1", "m0", "s0", 50), r("a0", "m1", "s2", 60))
	get := func() map[[3]string]Totals {
		cs, err := s.Counters(ctx, 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		out := map[[3]string]Totals{}
		for _, c := range cs {
			k := [3]string{c.Model, c.Account, c.Source}
			if _, dup := out[k]; dup {
				t.Fatalf("series %v twice", k)
			}
			out[k] = c.Totals
		}
		return out
	}
	got := get()
	// Two names of each kind keep theirs, so the label sets in the order first seen are (m0,a0,s0)
	// (m1,a1,s0) (other,a0,"") (other,other,s1) (m0,a1,s0) (m1,a0,other): the first three keep their
	// series, the others are past the limit of three and are summed as other,other,other.
	want := map[[3]string]int64{
		{"m0", "a0", "s0"}:          10,
		{"m1", "a1", "s0"}:          20,
		{"other", "a0", ""}:         30,
		{"other", "other", "other"}: 40 + 50 + 60,
	}
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k].InputTokens != v {
			t.Fatalf("%v: input %d, want %d (all: %v)", k, got[k].InputTokens, v, got)
		}
	}
	sum, err := s.Summary(ctx, LastHours(now, MaxHours), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var total Totals
	for _, c := range got {
		total.Add(c)
	}
	if total != sum.Totals {
		t.Fatalf("counters sum to %+v, summary for all time %+v", total, sum.Totals)
	}

	// An alias changes no label; a clear takes nothing away; a model named "other" and names first
	// seen now fold into existing series, which only grow.
	if err := s.SetAlias(ctx, ByModel, "m0", "renamed"); err != nil {
		t.Fatal(err)
	}
	cut := now.Add(-30 * time.Minute)
	if _, err := s.Clear(ctx, &cut); err != nil {
		t.Fatal(err)
	}
	if after := get(); fmt.Sprint(after) != fmt.Sprint(got) {
		t.Fatalf("after an alias and a clear: %v, before %v", after, got)
	}
	mustRecord(t, s, r("a0", "other", "s0", 1000), r("a9", "m9", "s9", 2000), r("a0", "m0", "s0", 4000))
	if _, err := s.Clear(ctx, nil); err != nil {
		t.Fatal(err)
	}
	after := get()
	if len(after) != len(got) {
		t.Fatalf("series after new names: %v", after)
	}
	for k, v := range got {
		if after[k].InputTokens < v.InputTokens {
			t.Fatalf("%v went down: %d → %d", k, v.InputTokens, after[k].InputTokens)
		}
	}
	if d := after[[3]string{"other", "other", "other"}].InputTokens - got[[3]string{"other", "other", "other"}].InputTokens; d != 3000 {
		t.Fatalf("other grew by %d, want 3000", d)
	}
	if d := after[[3]string{"m0", "a0", "s0"}].InputTokens - got[[3]string{"m0", "a0", "s0"}].InputTokens; d != 4000 {
		t.Fatalf("m0/a0/s0 grew by %d, want 4000", d)
	}
}
