package localeenv

import "testing"

// Fix sets LANGUAGE=en exactly when the locale deciding messages is C or POSIX with a codeset or
// modifier, which Fyne's locale reader cannot parse, and leaves every other environment alone.
func TestFix(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{"LANG": "C.UTF-8"}, true},
		{map[string]string{"LANG": "C.utf8"}, true},
		{map[string]string{"LC_ALL": "POSIX.UTF-8", "LANG": "de_DE.UTF-8"}, true},
		{map[string]string{"LC_MESSAGES": "C@euro"}, true},
		{map[string]string{"LANG": "C"}, false},           // Fyne reads plain C as no locale
		{map[string]string{"LANG": "de_DE.UTF-8"}, false}, // a real locale
		{map[string]string{"LC_ALL": "fr_FR.UTF-8", "LANG": "C.UTF-8"}, false},
		{map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "zh_CN"}, false}, // LANGUAGE already wins
		{map[string]string{}, false},
	} {
		set := map[string]string{}
		got := Fix(func(k string) string { return c.env[k] }, func(k, v string) error { set[k] = v; return nil })
		if got != c.want || got && (len(set) != 1 || set["LANGUAGE"] != "en") || !got && len(set) != 0 {
			t.Errorf("%v: Fix %v, set %v; want %v", c.env, got, set, c.want)
		}
	}
}
