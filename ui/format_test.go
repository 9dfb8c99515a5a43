package ui

import "testing"

func TestShort(t *testing.T) {
	cases := map[int64]string{
		0: "0", 999: "999", 1000: "1K", 1234: "1.2K", 999949: "999.9K", 999950: "1M", 3_400_000: "3.4M",
		5_600_000_000: "5.6B", 7_800_000_000_000: "7.8T", -1500: "-1.5K",
	}
	for n, want := range cases {
		if got := Short(n); got != want {
			t.Errorf("Short(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestExact(t *testing.T) {
	cases := map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"}
	for n, want := range cases {
		if got := Exact(n); got != want {
			t.Errorf("Exact(%d) = %q, want %q", n, got, want)
		}
	}
}
