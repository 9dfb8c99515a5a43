package app

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokenstats/tokenstats/localapi/passthrough"
	"github.com/tokenstats/tokenstats/ui"
)

func TestUpstreamFlagsAndEnvironment(t *testing.T) {
	var stderr bytes.Buffer
	c, err := parseConfig([]string{"--upstream", "local=http://127.0.0.1:4000/v1", "--upstream", "openai=https://gw.example/openai"},
		env("HOME", "/h", "TOKENSTATS_UPSTREAMS", "team=https://team.example, openai=https://env.example"), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	want := []passthrough.Upstream{{Name: "team", URL: "https://team.example"}, {Name: "openai", URL: "https://gw.example/openai"},
		{Name: "local", URL: "http://127.0.0.1:4000/v1"}}
	if !slices.Equal(c.Upstreams, want) || !c.Given["upstream"] {
		t.Fatalf("flags over the environment: %v", c.Upstreams)
	}
	table := c.UpstreamTable()
	if len(table) != 7 || table[3] != (passthrough.Upstream{Name: "openai", URL: "https://gw.example/openai"}) {
		t.Fatalf("table %v", table)
	}
	for _, bad := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"--upstream", "openai"}, env("HOME", "/h"), "NAME=URL"},
		{[]string{"--upstream", "x=ftp://h"}, env("HOME", "/h"), "http"},
		{nil, env("HOME", "/h", "TOKENSTATS_UPSTREAMS", "a=https://a,b"), "TOKENSTATS_UPSTREAMS"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(bad.args, bad.env, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), bad.want) {
			t.Errorf("%v: exit %d, %q; want 2 mentioning %q", bad.args, code, stderr.String(), bad.want)
		}
	}
}

// The settings window's upstream edits are saved, put in effect at once, and yield to the flags.
func TestUpstreamSettings(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	cfg, err := parseConfig([]string{"--data-dir", dir, "--upstream", "fixed=http://127.0.0.1:1"}, env("HOME", "/h"), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	b := newSettingsBackend(cfg, env(), func(string) {})
	var applied []passthrough.Upstream
	var lookup bool
	b.setUpstreams = func(l []passthrough.Upstream) error { applied = l; return nil }
	b.setLookup = func(on bool) { lookup = on }

	if err := b.SetUpstream("mine", "https://mine.example/api"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetUpstream("openai", "https://gw.example"); err != nil {
		t.Fatal(err)
	}
	if len(applied) != 7 || !slices.Contains(applied, passthrough.Upstream{Name: "mine", URL: "https://mine.example/api"}) ||
		!slices.Contains(applied, passthrough.Upstream{Name: "openai", URL: "https://gw.example"}) {
		t.Fatalf("applied %v", applied)
	}
	list := b.Upstreams()
	find := func(name string) ui.Upstream {
		i := slices.IndexFunc(list, func(u ui.Upstream) bool { return u.Name == name })
		if i < 0 {
			t.Fatalf("%s not listed in %v", name, list)
		}
		return list[i]
	}
	if u := find("openai"); !u.Builtin || !u.Saved || u.Fixed || u.URL != "https://gw.example" {
		t.Errorf("openai %+v", u)
	}
	if u := find("fixed"); !u.Fixed || u.Saved || u.Builtin {
		t.Errorf("fixed %+v", u)
	}
	if u := find("gemini"); !u.Builtin || u.Saved {
		t.Errorf("gemini %+v", u)
	}
	for _, err := range []error{b.SetUpstream("fixed", "https://x.example"), b.RemoveUpstream("fixed"),
		b.SetUpstream("Bad Name", "https://x.example"), b.SetUpstream("x", "https://u:p@x.example")} {
		if err == nil {
			t.Error("a change the settings may not make was accepted")
		}
	}
	// Back to the built-in URL, and a removal: nothing of either stays in the file.
	if err := b.SetUpstream("openai", "https://api.openai.com"); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveUpstream("mine"); err != nil {
		t.Fatal(err)
	}
	if s := b.saved(); len(s.Upstreams) != 0 || !slices.Equal(applied, cfg.UpstreamTable()) {
		t.Fatalf("saved %v, applied %v", s.Upstreams, applied)
	}

	if err := b.SetLookupEmail(true); err != nil || !lookup || !b.LookupEmail() {
		t.Fatalf("lookup: %v %v %v", err, lookup, b.LookupEmail())
	}
	if err := b.SetUpstream("mine", "https://mine.example/api"); err != nil {
		t.Fatal(err)
	}
	// The next start reads them back; a saved entry that does not check out is reported and skipped.
	raw, _ := os.ReadFile(filepath.Join(dir, "settings.json"))
	raw = bytes.Replace(raw, []byte(`"upstreams": [`), []byte(`"upstreams": [{"name": "bad", "url": "ftp://x"}, `), 1)
	os.WriteFile(filepath.Join(dir, "settings.json"), raw, 0o600)
	stderr.Reset()
	next := withSavedSettings(cfg, &stderr)
	if !slices.Equal(next.SavedUpstreams, []passthrough.Upstream{{Name: "mine", URL: "https://mine.example/api"}}) ||
		!next.LookupEmail || !strings.Contains(stderr.String(), "ignoring saved upstream") {
		t.Fatalf("next start: %v %v %q", next.SavedUpstreams, next.LookupEmail, stderr.String())
	}
}
