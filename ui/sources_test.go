package ui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// sourceCells are the texts of the Sources table's rendered cells, row by row.
func sourceCells(v *sourcesView) []string {
	var out []string
	walk(v.table, func(c fyne.CanvasObject) {
		if h, ok := c.(*hoverText); ok && h.Text() != "" {
			out = append(out, h.Text())
		}
	})
	return out
}

// waitSources waits (at most 10 s) until the Sources view holds what cond wants.
func waitSources(t *testing.T, d *Dashboard, cond func([]stats.Source) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		idle(d)
		if cond(d.sources.list) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Sources view shows %v", d.sources.list)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func has(name string) func([]stats.Source) bool {
	return func(l []stats.Source) bool {
		return slices.ContainsFunc(l, func(s stats.Source) bool { return s.Name == name })
	}
}

// The Sources tab lists each source once its first record is committed, with what it sent today, and
// the error a source last met, without any action of the user's.
func TestSourcesTabFollowsTheStore(t *testing.T) {
	st := openStore(t)
	d := newTestDashboard(t, st, Settings{})
	d.sources.tabs.SelectIndex(1)
	idle(d)
	if !d.sources.empty.Visible() || len(d.sources.list) != 0 {
		t.Fatal("an empty store shows sources")
	}
	record(t, st, stats.Record{Time: time.Now(), Account: "proj-cli-42", Model: "gemini-2.5-pro", InputTokens: 1500,
		OutputTokens: 200, Source: "gemini-code-assist", Kind: stats.KindProxy})
	waitSources(t, d, has("gemini-code-assist"))
	cells := sourceCells(d.sources)
	for _, want := range []string{"gemini-code-assist", "proxy", "1", "1.7K", time.Now().In(time.UTC).Format("15:04")} {
		if !slices.ContainsFunc(cells, func(c string) bool { return strings.Contains(c, want) }) {
			t.Errorf("no cell shows %q: %q", want, cells)
		}
	}
	if d.sources.empty.Visible() {
		t.Error("the empty-state text stays over the list")
	}
	if err := st.NoteSource(context.Background(), stats.SourceNote{Name: "openai", Kind: stats.KindProxy,
		Error: "upstream openai answered 401 Unauthorized to POST /v1/chat/completions"}); err != nil {
		t.Fatal(err)
	}
	waitSources(t, d, has("openai"))
	if cells := sourceCells(d.sources); !slices.ContainsFunc(cells, func(c string) bool { return strings.Contains(c, "answered 401") }) {
		t.Errorf("the error is not shown: %q", cells)
	}
	// A path's note shows, and the items it ignored are in its tooltip.
	if err := st.NoteSource(context.Background(), stats.SourceNote{Name: "gemini-cli 0.56.0", Kind: stats.KindOTLP,
		Ignored: 3, Note: "token metrics ignored: events win"}); err != nil {
		t.Fatal(err)
	}
	waitSources(t, d, has("gemini-cli 0.56.0"))
	var tip string
	walk(d.sources.table, func(c fyne.CanvasObject) {
		if h, ok := c.(*hoverText); ok && h.Text() == "token metrics ignored: events win" {
			tip = h.Tip()
		}
	})
	if !strings.Contains(tip, "3 items that are not usage were ignored") {
		t.Errorf("note tooltip %q", tip)
	}
}

// "Connect a tool…" gives each client the exact line with this instance's address; Copy copies it and
// says so. The telemetry lines show the token masked and copy it whole.
func TestConnectDialog(t *testing.T) {
	st := openStore(t)
	d := newTestDashboard(t, st, Settings{})
	d.ShowConnect()
	dlg := top(t, d)
	var tabs *container.AppTabs
	walk(dlg, func(c fyne.CanvasObject) {
		if x, ok := c.(*container.AppTabs); ok {
			tabs = x
		}
	})
	if tabs == nil || len(tabs.Items) != 7 {
		t.Fatalf("tabs %v", tabs)
	}
	var names []string
	for _, it := range tabs.Items {
		names = append(names, it.Text)
	}
	if want := []string{"gcli2api", "Gemini CLI", "Claude Code", "Codex / OpenAI SDK", "LiteLLM", "CLIProxyAPI", "Telemetry"}; !slices.Equal(names, want) {
		t.Fatalf("clients %v", names)
	}
	const line = "CODE_ASSIST_ENDPOINT=http://127.0.0.1:8788/proxy/gemini-code-assist"
	if !slices.Contains(labels(tabs.Items[0].Content), line) {
		t.Fatalf("gcli2api shows %q", labels(tabs.Items[0].Content))
	}
	var copyBtn *widget.Button
	walk(tabs.Items[0].Content, func(c fyne.CanvasObject) {
		if b, ok := c.(*widget.Button); ok && b.Text == "Copy" && copyBtn == nil {
			copyBtn = b
		}
	})
	test.Tap(copyBtn)
	if got := fyne.CurrentApp().Clipboard().Content(); got != line || copyBtn.Text != "Copied" {
		t.Fatalf("clipboard %q, button %q", got, copyBtn.Text)
	}
	tabs.SelectIndex(6)
	shown := labels(tabs.Items[6].Content)
	if slices.ContainsFunc(shown, func(s string) bool { return strings.Contains(s, testToken) }) ||
		!slices.Contains(shown, "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer "+maskToken(testToken)) {
		t.Fatalf("telemetry shows %q", shown)
	}
	var headerCopy *widget.Button
	var copies int
	walk(tabs.Items[6].Content, func(c fyne.CanvasObject) {
		if b, ok := c.(*widget.Button); ok && b.Text == "Copy" {
			copies++
			if copies == 3 {
				headerCopy = b
			}
		}
	})
	test.Tap(headerCopy)
	if got := fyne.CurrentApp().Clipboard().Content(); got != "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer "+testToken {
		t.Fatalf("copied %q", got)
	}
}

// Every client's lines name this instance's address, followed by a route that exists: a built-in
// upstream of the pass-through, or the OTLP and LiteLLM ingest routes.
func TestConnectLinesUseTheListener(t *testing.T) {
	const base = "http://127.0.0.1:9999"
	routes := []string{"/proxy/gemini-code-assist", "/proxy/antigravity", "/proxy/gemini", "/proxy/anthropic", "/proxy/openai/v1", "/ingest/litellm"}
	n := 0
	for _, c := range connectClients(base, "tok") {
		for _, l := range c.Lines {
			i := strings.Index(l.Text, "http://")
			if i < 0 {
				continue
			}
			n++
			rest, ok := strings.CutPrefix(l.Text[i:], base)
			if !ok || rest != "" && !slices.ContainsFunc(routes, func(r string) bool { return strings.HasPrefix(rest, r) }) {
				t.Errorf("%s: %q is not the listener's address and a route", c.Name, l.Text)
			}
		}
	}
	if n < 12 {
		t.Fatalf("only %d lines name an address", n)
	}
}

// The first-run panel opens "Connect a tool…" too.
func TestOnboardingOffersConnect(t *testing.T) {
	st := openStore(t)
	d := newTestDashboard(t, st, Settings{})
	test.Tap(button(t, d.onboard.obj, "Connect a tool…"))
	if !slices.Contains(labels(top(t, d)), "CODE_ASSIST_ENDPOINT=http://127.0.0.1:8788/proxy/gemini-code-assist") {
		t.Fatalf("the dialog shows %q", labels(top(t, d)))
	}
}

// Names given in the settings apply to the views, past records included.
func TestNamesForAccountsAndKeys(t *testing.T) {
	st := openStore(t)
	record(t, st, stats.Record{Time: time.Now().Add(-48 * time.Hour), Account: "key …a1b2", Model: "gpt-4o", InputTokens: 10,
		OutputTokens: 1, Credential: "key …a1b2"})
	d := newTestDashboard(t, st, Settings{})
	d.showAliases()
	idle(d)
	dlg := top(t, d)
	var name *widget.SelectEntry
	var entries []*widget.Entry
	walk(dlg, func(c fyne.CanvasObject) {
		switch x := c.(type) {
		case *widget.SelectEntry:
			name = x
		case *widget.Entry:
			entries = append(entries, x)
		}
	})
	if name == nil || len(entries) < 1 {
		t.Fatalf("no name and alias boxes in %q", labels(dlg))
	}
	name.SetText("key …a1b2")
	entries[len(entries)-1].SetText("work")
	test.Tap(button(t, dlg, "Save"))
	idle(d)
	rows, err := st.Breakdown(context.Background(), stats.ByAccount, stats.LastHours(time.Now(), 24*7), stats.Filter{})
	if err != nil || len(rows) != 1 || rows[0].Name != "work" {
		t.Fatalf("by account %v %v", rows, err)
	}
	if !slices.Contains(labels(dlg), "key …a1b2 = work") {
		t.Fatalf("the dialog lists %q", labels(dlg))
	}
}

// The upstreams dialog shows the table and saves an edit through the app.
func TestUpstreamsDialog(t *testing.T) {
	st := openStore(t)
	table := []Upstream{{Name: "openai", URL: "https://api.openai.com", Builtin: true},
		{Name: "local", URL: "http://127.0.0.1:4000", Fixed: true}}
	s := Settings{
		Upstreams: func() []Upstream { return table },
		SetUpstream: func(name, url string) error {
			table = append(table, Upstream{Name: name, URL: url, Saved: true})
			return nil
		},
		RemoveUpstream: func(string) error { return nil },
	}
	d := newTestDashboard(t, st, s)
	d.showUpstreams()
	dlg := top(t, d)
	shown := strings.Join(labels(dlg), "\n")
	if !strings.Contains(shown, "/proxy/openai/ → https://api.openai.com  (built in)") ||
		!strings.Contains(shown, "/proxy/local/ → http://127.0.0.1:4000  (set on the command line)") {
		t.Fatalf("dialog shows %s", shown)
	}
	var entries []*widget.Entry
	walk(dlg, func(c fyne.CanvasObject) {
		if e, ok := c.(*widget.Entry); ok {
			entries = append(entries, e)
		}
	})
	entries[0].SetText("mine")
	entries[1].SetText("https://gw.example/v1")
	test.Tap(button(t, dlg, "Save"))
	if len(table) != 3 || table[2].Name != "mine" || !strings.Contains(strings.Join(labels(dlg), "\n"), "/proxy/mine/ → https://gw.example/v1  (added in settings)") {
		t.Fatalf("after save: %v %q", table, labels(dlg))
	}
}
