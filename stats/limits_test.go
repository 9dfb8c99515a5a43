package stats

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestLimitPeriodsResetInTheirZone: a daily limit in Los Angeles, kept by a store whose buckets are in
// Paris, counts from midnight Pacific, and its day is 23 hours long when the clocks go forward; weeks
// start on Monday and months on the 1st, in the limit's zone.
func TestLimitPeriodsResetInTheirZone(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	s := openTest(t, mustLoad(t, "Europe/Paris"))
	// 2026-03-08 is a Sunday, the day Los Angeles moves from PST (−8) to PDT (−7) at 02:00.
	dayStart := time.Date(2026, 3, 8, 0, 0, 0, 0, la)
	now := time.Date(2026, 3, 8, 20, 30, 0, 0, la)
	mustRecord(t, s,
		rec(dayStart.Add(-time.Second), "a@example.com", "gemini-2.5-pro", 1000, 0), // 23:59:59 the day before
		rec(dayStart, "a@example.com", "gemini-2.5-pro", 100, 20),                   // the first second
		rec(now, "a@example.com", "gemini-2.5-pro", 10, 2),
		rec(now, "b@example.com", "gemini-2.5-pro", 7, 0),
		rec(time.Date(2026, 3, 2, 0, 0, 0, 0, la), "a@example.com", "gemini-2.5-pro", 50000, 0), // Monday
		rec(time.Date(2026, 3, 1, 23, 59, 59, 0, la), "a@example.com", "gemini-2.5-pro", 1, 0),  // Sunday before
	)
	add := func(period string) LimitStatus {
		t.Helper()
		l, err := s.AddLimit(ctx, Limit{Scope: "account", Name: "a@example.com", Metric: MetricTokens,
			Period: period, Zone: "America/Los_Angeles", Amount: 1000})
		if err != nil {
			t.Fatal(err)
		}
		sts, err := s.LimitStatuses(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			if st.ID == l.ID {
				return st
			}
		}
		t.Fatalf("limit %d not listed", l.ID)
		return LimitStatus{}
	}
	day := add(PeriodDay)
	if day.Used != 132 || !day.Start.Equal(dayStart) || !day.ResetsAt.Equal(time.Date(2026, 3, 9, 0, 0, 0, 0, la)) {
		t.Errorf("day: used %d from %s to %s", day.Used, day.Start, day.ResetsAt)
	}
	if got := day.ResetsAt.Sub(day.Start); got != 23*time.Hour {
		t.Errorf("the day the clocks go forward lasts %s, want 23h", got)
	}
	if !reflect.DeepEqual(day.Thresholds, []int{80, 100}) || day.Percent() != 13.2 || day.Level() != 0 {
		t.Errorf("day: thresholds %v, percent %v, level %d", day.Thresholds, day.Percent(), day.Level())
	}
	week := add(PeriodWeek)
	if week.Used != 50000+1000+132 || !week.Start.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, la)) ||
		!week.ResetsAt.Equal(time.Date(2026, 3, 9, 0, 0, 0, 0, la)) {
		t.Errorf("week: used %d from %s to %s", week.Used, week.Start, week.ResetsAt)
	}
	if week.Percent() != 100 || week.Level() != 2 || !reflect.DeepEqual(week.Crossed(), []int{80, 100}) {
		t.Errorf("week: percent %v level %d crossed %v", week.Percent(), week.Level(), week.Crossed())
	}
	month := add(PeriodMonth)
	if month.Used != 51133 || !month.Start.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, la)) ||
		!month.ResetsAt.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, la)) {
		t.Errorf("month: used %d from %s to %s", month.Used, month.Start, month.ResetsAt)
	}
}

// TestLimitUsedEqualsTheViews: a limit's used amount is what a filtered summary of its period says, for
// every scope and metric, names shown with their alias; a cost limit leaves unpriced requests out and
// says how many.
func TestLimitUsedEqualsTheViews(t *testing.T) {
	s, _, err := Open(filepath.Join(t.TempDir(), "l.db"), Options{Location: time.UTC, Pricer: testPricer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 5, 20, 15, 0, 0, 0, time.UTC)
	var recs []Record
	for i := 0; i < 60; i++ {
		r := rec(now.Add(-time.Duration(i)*37*time.Minute), []string{"a@example.com", "b@example.com"}[i%2],
			[]string{"model-1", "model-4", "model-2"}[i%3], int64(100+i), int64(i))
		r.Source = []string{"gcli2api", ""}[i%2]
		r.Credential = []string{"key …a1b2", "cred.json", ""}[i%3]
		recs = append(recs, r)
	}
	mustRecord(t, s, recs...)
	if err := s.SetAlias(ctx, ByCredential, "key …a1b2", "work key"); err != nil {
		t.Fatal(err)
	}
	b := &bruteForce{recs: recs, alias: map[string]string{"key …a1b2": "work key"}}
	for _, l := range []Limit{
		{Scope: ScopeAll, Metric: MetricRequests, Amount: 50},
		{Scope: "account", Name: "b@example.com", Metric: MetricTokens, Amount: 5000},
		{Scope: "model", Name: "model-4", Metric: MetricCost, Amount: 20 * NanosPerUSD},
		{Scope: "source", Name: "", Metric: MetricCost, Amount: 1 * NanosPerUSD},
		{Scope: "credential", Name: "work key", Metric: MetricTokens, Amount: 1000},
	} {
		l.Period, l.Zone = PeriodDay, "UTC"
		if _, err := s.AddLimit(ctx, l); err != nil {
			t.Fatalf("%+v: %v", l, err)
		}
	}
	sts, err := s.LimitStatuses(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 5 {
		t.Fatalf("%d limits", len(sts))
	}
	for _, st := range sts {
		want := b.summary(periodWindow(st.Start, st.ResetsAt), st.Filter())
		if st.Used != st.Metric.of(&want.Totals) {
			t.Errorf("%s %q %s: used %d, the views say %d", st.Scope, st.Name, st.Metric, st.Used, st.Metric.of(&want.Totals))
		}
		wantUnpriced := int64(0)
		if st.Metric == MetricCost {
			wantUnpriced = want.Unpriced
		}
		if st.Unpriced != wantUnpriced || want.Requests == 0 {
			t.Errorf("%s %q: unpriced %d, want %d (of %d requests)", st.Scope, st.Name, st.Unpriced, wantUnpriced, want.Requests)
		}
	}
	if sts[2].Unpriced == 0 {
		t.Error("model-4 is unpriced: its cost limit should say how many requests it leaves out")
	}
}

// TestLimitRules: a limit that breaks a rule is refused with the field named, and nothing is stored.
func TestLimitRules(t *testing.T) {
	s := openTest(t, time.UTC)
	ok := Limit{Scope: "model", Name: "gpt-4o", Metric: MetricCost, Period: PeriodMonth, Amount: 20 * NanosPerUSD}
	for _, c := range []struct {
		field string
		edit  func(*Limit)
	}{
		{"scope", func(l *Limit) { l.Scope = "team" }},
		{"name", func(l *Limit) { l.Name = "" }},
		{"name", func(l *Limit) { l.Scope = ScopeAll }},
		{"metric", func(l *Limit) { l.Metric = Metric(7) }},
		{"period", func(l *Limit) { l.Period = "year" }},
		{"zone", func(l *Limit) { l.Zone = "Mars/Olympus_Mons" }},
		{"limit", func(l *Limit) { l.Amount = 0 }},
		{"limit", func(l *Limit) { l.Amount = (maxMoneyUSD + 1) * NanosPerUSD }},
		{"thresholds", func(l *Limit) { l.Thresholds = []int{0, 50} }},
		{"thresholds", func(l *Limit) { l.Thresholds = []int{80, 120} }},
		{"webhook", func(l *Limit) { l.Webhook = "ftp://example.com/hook" }},
		{"webhook", func(l *Limit) { l.Webhook = "http:///nohost" }},
	} {
		l := ok
		c.edit(&l)
		_, err := s.AddLimit(ctx, l)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: error %v, want one about %s", l, err, c.field)
		}
	}
	if ls, _ := s.Limits(ctx); len(ls) != 0 {
		t.Fatalf("refused limits were stored: %+v", ls)
	}
	l, err := s.AddLimit(ctx, Limit{Scope: "model", Name: "gpt-4o", Metric: MetricTokens, Period: PeriodWeek,
		Amount: 10, Thresholds: []int{100, 50, 50, 90}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Zone != "UTC" || !reflect.DeepEqual(l.Thresholds, []int{50, 90, 100}) || l.ID == 0 {
		t.Errorf("stored %+v: want the store's zone and sorted, distinct thresholds", l)
	}
	if _, err := s.UpdateLimit(ctx, Limit{ID: l.ID + 100, Scope: ScopeAll, Metric: MetricTokens, Period: PeriodDay,
		Amount: 5}); !errors.Is(err, ErrNoLimit) {
		t.Errorf("updating a missing limit: %v", err)
	}
	if found, err := s.DeleteLimit(ctx, l.ID+100); found || err != nil {
		t.Errorf("deleting a missing limit: %v %v", found, err)
	}
}

// TestAlertsOncePerThresholdAndPeriod: MarkAlerts answers each threshold once per period, also after a
// reopen; a new period, or a change of what the limit counts, answers them again; a change of only the
// webhook does not; a deleted limit answers nothing.
func TestAlertsOncePerThresholdAndPeriod(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, _, err := Open(path, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.AddLimit(ctx, Limit{Scope: ScopeAll, Metric: MetricTokens, Period: PeriodDay, Amount: 100})
	if err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	mark := func(start time.Time, ths ...int) []int {
		t.Helper()
		got, err := s.MarkAlerts(ctx, l.ID, start, ths)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := mark(day1, 80); !reflect.DeepEqual(got, []int{80}) {
		t.Fatalf("first 80 %%: %v", got)
	}
	if got := mark(day1, 80, 100); !reflect.DeepEqual(got, []int{100}) {
		t.Fatalf("then 100 %%: %v", got)
	}
	s.Close()
	if s, _, err = Open(path, Options{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if got := mark(day1, 80, 100); len(got) != 0 {
		t.Fatalf("after a reopen: %v, want nothing", got)
	}
	if got := mark(day1.AddDate(0, 0, 1), 80, 100); !reflect.DeepEqual(got, []int{80, 100}) {
		t.Fatalf("the next day: %v", got)
	}
	l.Webhook = "http://127.0.0.1:9/hook"
	if _, err := s.UpdateLimit(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got := mark(day1, 80, 100); len(got) != 0 {
		t.Fatalf("after a webhook change: %v, want nothing", got)
	}
	l.Amount = 200
	if _, err := s.UpdateLimit(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got := mark(day1, 80); !reflect.DeepEqual(got, []int{80}) {
		t.Fatalf("after raising the limit: %v, want 80 again", got)
	}
	if ls, _ := s.Limits(ctx); len(ls) != 1 || ls[0].Amount != 200 || ls[0].Webhook != l.Webhook {
		t.Fatalf("stored %+v", ls)
	}
	if found, err := s.DeleteLimit(ctx, l.ID); !found || err != nil {
		t.Fatal(found, err)
	}
	if got := mark(day1.AddDate(0, 0, 5), 80); len(got) != 0 {
		t.Fatalf("a deleted limit: %v", got)
	}
}

// TestReachedIsExact: thresholds compare in integers, so 80 % of 3 tokens is reached at 3, not 2, and
// amounts near the bounds do not overflow.
func TestReachedIsExact(t *testing.T) {
	for _, c := range []struct {
		used, amount int64
		th           int
		want         bool
	}{
		{2, 3, 80, false}, {3, 3, 80, true}, {79, 100, 80, false}, {80, 100, 80, true},
		{maxLimitCount*4/5 - 1, maxLimitCount, 80, false}, {maxLimitCount * 4 / 5, maxLimitCount, 80, true},
		{1 << 62, maxLimitCount, 100, true},
	} {
		st := LimitStatus{Limit: Limit{Amount: c.amount}, Used: c.used}
		if got := st.Reached(c.th); got != c.want {
			t.Errorf("%d of %d reaches %d %%: %v, want %v", c.used, c.amount, c.th, got, c.want)
		}
	}
}

// TestPriceOverridesKept: overrides survive a reopen, a nil cache price stays nil, and a bad one is
// refused with the field named.
func TestPriceOverridesKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s, _, err := Open(path, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	cr := Money(300_000_000)
	want := []PriceOverride{
		{Model: "claude-sonnet-4-5", Input: 3 * NanosPerUSD, Output: 15 * NanosPerUSD, CacheRead: &cr},
		{Model: "models/my-local", Input: 0, Output: 0},
	}
	for _, o := range want {
		if err := s.SetPriceOverride(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	neg := Money(-1)
	var fe *FieldError
	if err := s.SetPriceOverride(ctx, PriceOverride{Model: "x", CacheWrite: &neg}); !errors.As(err, &fe) || fe.Field != "cache_write_per_mtok" {
		t.Errorf("negative price: %v", err)
	}
	s.Close()
	if s, _, err = Open(path, Options{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.PriceOverrides(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("overrides %+v (%v), want %+v", got, err, want)
	}
	if found, err := s.DeletePriceOverride(ctx, "models/my-local"); !found || err != nil {
		t.Fatal(found, err)
	}
	if got, _ := s.PriceOverrides(ctx); len(got) != 1 {
		t.Fatalf("after delete: %+v", got)
	}
}
