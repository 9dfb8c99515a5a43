package ui

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"

	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/test"

	"github.com/tokenstats/tokenstats/assets/translations"
)

func loadJSON(t *testing.T, name string) map[string]string {
	t.Helper()
	data, err := fs.ReadFile(translations.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// Every string the window shows has a Chinese translation, with the same template fields as the English.
func TestEveryStringIsTranslated(t *testing.T) {
	en, zh := loadJSON(t, "en.json"), loadJSON(t, "zh-Hans.json")
	keys := func(m map[string]string) []string {
		var k []string
		for s := range m {
			k = append(k, s)
		}
		sort.Strings(k)
		return k
	}
	if !slices.Equal(keys(en), keys(zh)) {
		t.Errorf("en.json and zh-Hans.json have different keys")
	}
	var used []string
	files, _ := filepath.Glob("*.go")
	lit := regexp.MustCompile(`lang\.L\("((?:[^"\\]|\\.)*)"`)
	plurals := regexp.MustCompile(`Plural\([^,]+, "((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(f) == ".go" && !regexp.MustCompile(`_test\.go$`).MatchString(f) {
			for _, m := range lit.FindAllStringSubmatch(string(src), -1) {
				used = append(used, m[1])
			}
			for _, m := range plurals.FindAllStringSubmatch(string(src), -1) {
				used = append(used, m[1], m[2])
			}
		}
	}
	for _, r := range ranges {
		used = append(used, r.Label)
	}
	for _, c := range columnInfo {
		used = append(used, c.title)
		if c.note != "" {
			used = append(used, c.note)
		}
	}
	for _, d := range dims {
		used = append(used, dimTitle[d], dimTable[d])
	}
	for _, m := range metrics {
		used = append(used, m.title, m.choice)
	}
	for _, g := range granularities {
		used = append(used, g.choice)
	}
	for _, c := range newCards(newTipLayer()).all {
		used = append(used, c.caption)
	}
	used = append(used, sourceColumns[:]...)
	for _, a := range aliasDims {
		used = append(used, a.label)
	}
	used = append(used, "System default", "Open dashboard", "Open in browser", "Copy ingest URL", "Copy token", "Quit", "Connect a tool…",
		"Token Stats is already running; its window was asked to show.",
		"Token Stats — today {{.Today}} tokens ({{.Cost}}) · {{.Requests}} · last hour {{.LastHour}} tokens", "1 request", "{{.Count}} requests",
		"unpriced", "{{.Cost}} + {{.Count}} unpriced")
	used = append(append(append(used, scopeLabels...), metricLabels...), periods...)
	if len(used) < 60 {
		t.Fatalf("found only %d strings: the scan is broken", len(used))
	}
	field := regexp.MustCompile(`\{\{\.[A-Za-z]+\}\}`)
	for _, k := range used {
		z, ok := zh[k]
		if !ok || z == "" {
			t.Errorf("no Chinese for %q", k)
			continue
		}
		if en[k] != k {
			t.Errorf("en.json: %q maps to %q", k, en[k])
		}
		a, b := field.FindAllString(k, -1), field.FindAllString(z, -1)
		sort.Strings(a)
		sort.Strings(b)
		if !slices.Equal(a, b) {
			t.Errorf("%q: fields %v in English, %v in Chinese", k, a, b)
		}
	}
}

// The language follows the system, and the setting forces one whatever the system says.
func TestLanguageFollowsSystemOrSetting(t *testing.T) {
	t.Cleanup(func() {
		if err := UseLanguage("en"); err != nil {
			t.Error(err)
		}
	})
	t.Setenv("LANGUAGE", "")
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_MESSAGES", "")

	t.Setenv("LANG", "zh_CN.UTF-8")
	if err := LoadTranslations(); err != nil {
		t.Fatal(err)
	}
	if got := lang.L("Refresh"); got != "刷新" {
		t.Errorf("Chinese system: %q", got)
	}
	if err := UseLanguage("en"); err != nil {
		t.Fatal(err)
	}
	if got := lang.L("Refresh"); got != "Refresh" {
		t.Errorf("Chinese system, English chosen: %q", got)
	}

	t.Setenv("LANG", "de_DE.UTF-8")
	if err := UseLanguage("zh-Hans"); err != nil {
		t.Fatal(err)
	}
	if got, cancel := lang.L("Refresh"), lang.L("Cancel"); got != "刷新" || cancel != "取消" {
		t.Errorf("German system, Chinese chosen: %q, %q", got, cancel)
	}

	// The window in Chinese.
	st := openStore(t)
	d := newTestDashboard(t, st, Settings{})
	if d.win.Title() != "Token Stats" || d.rangeSel.Selected != "最近 24 小时" {
		t.Errorf("title %q, range %q", d.win.Title(), d.rangeSel.Selected)
	}
	test.Tap(button(t, d.win.Content(), "刷新"))
	idle(d)
	if !slices.Contains(labels(d.onboard.obj), "尚未记录任何用量") {
		t.Errorf("onboarding in Chinese: %q", labels(d.onboard.obj))
	}
	if err := UseLanguage("xx"); err == nil {
		t.Error("an unknown language is accepted")
	}
}
