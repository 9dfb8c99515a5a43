package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
)

func TestPricesnap(t *testing.T) {
	out := filepath.Join(t.TempDir(), "prices.json.gz")
	var stdout strings.Builder
	err := run([]string{"-in", "../../pricing/testdata/litellm-small.json", "-commit", "abc123",
		"-date", "2026-01-25T10:51:28+05:30", "-out", out}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := pricing.Parse(f)
	if err != nil {
		t.Fatalf("the snapshot pricesnap wrote does not parse: %v", err)
	}
	src := s.Source()
	if src.Commit != "abc123" || src.URL != "https://github.com/BerriAI/litellm/blob/abc123/model_prices_and_context_window.json" ||
		!src.Date.Equal(time.Date(2026, 1, 25, 5, 21, 28, 0, time.UTC)) {
		t.Errorf("source = %+v", src)
	}
	if r, ok := s.Entry("acme-old-flash"); !ok || r.Base.Input != 4_687_500 {
		t.Errorf("acme-old-flash = %+v, %v", r, ok)
	}
	for _, want := range []string{
		"kept:               10 entries\n",
		"tiered entries:     1 (1 with more than one input tier)\n",
		"smallest non-zero:  0.000000004687500 USD/token (acme-old-flash input_cost_per_token)\n",
		"largest:            0.000015000000000 USD/token (acme-tiered output_cost_per_token_above_200k_tokens)\n",
		"not whole pico-USD per token:  3,",
		"not whole femto-USD per token: 2,",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestPricesnapNeedsCommitAndDate(t *testing.T) {
	err := run([]string{"-in", "../../pricing/testdata/litellm-small.json", "-out", filepath.Join(t.TempDir(), "x")}, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "-commit and -date are required") {
		t.Errorf("run without -commit: %v", err)
	}
}
