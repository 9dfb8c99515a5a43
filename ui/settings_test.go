package ui

import (
	"errors"
	"slices"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

func TestSettingsCallTheAppAndHideMissingControls(t *testing.T) {
	st := openStore(t)
	var addr, tz, langTag string
	var login bool
	token := testToken
	regenerated := 0
	s := Settings{
		ListenAddr:    func() string { return "127.0.0.1:8788" },
		SetListenAddr: func(a string) error { addr = a; return nil },
		RegenerateToken: func() (string, error) {
			regenerated++
			token = "tok-new-9999"
			return token, nil
		},
		TimeZone:        func() string { return "" },
		SetTimeZone:     func(n string) error { tz = n; return nil },
		StartAtLogin:    func() (bool, error) { return false, nil },
		SetStartAtLogin: func(on bool) error { login = on; return nil },
		Language:        func() string { return "" },
		SetLanguage:     func(tag string) error { langTag = tag; return nil },
		// OpenDataFolder is nil: its button must not appear.
	}
	a := test.NewTempApp(t)
	d := NewDashboard(a, Deps{Store: st, IngestURL: testURL, Token: func() string { return token }, Settings: s})
	t.Cleanup(d.Close)
	hold(t, d)
	d.Show()
	idle(d)

	test.Tap(button(t, d.win.Content(), "Settings"))
	dlg := top(t, d)
	form := findForm(t, dlg)
	var items []string
	for _, it := range form.Items {
		items = append(items, it.Text)
	}
	if want := []string{"Listen address", "Access token", "Time zone", "Start at login", "Language", "Import", "Connect", "Names"}; !slices.Equal(items, want) {
		t.Errorf("settings show %v, want %v", items, want)
	}

	entries := entriesOf(form)
	entries[0].SetText("127.0.0.1:9999")
	test.Tap(button(t, form.Items[0].Widget, "Save"))
	if addr != "127.0.0.1:9999" {
		t.Errorf("listen address saved as %q", addr)
	}
	closeTop(t, d)

	entries[1].SetText("Not/AZone")
	test.Tap(button(t, form.Items[2].Widget, "Save"))
	if tz != "" {
		t.Errorf("an unknown zone was saved: %q", tz)
	}
	closeTop(t, d)
	entries[1].SetText("Asia/Shanghai")
	test.Tap(button(t, form.Items[2].Widget, "Save"))
	if tz != "Asia/Shanghai" {
		t.Errorf("zone saved as %q", tz)
	}
	closeTop(t, d)

	form.Items[3].Widget.(*widget.Check).SetChecked(true)
	if !login {
		t.Error("start at login not set")
	}
	form.Items[4].Widget.(*widget.Select).SetSelectedIndex(2)
	if langTag != "zh-Hans" {
		t.Errorf("language saved as %q", langTag)
	}
	closeTop(t, d)

	// Regenerating warns first; cancelling keeps the token.
	test.Tap(button(t, form.Items[1].Widget, "Regenerate token…"))
	warn := top(t, d)
	if msg := labels(warn); !contains(msg, "will be refused") {
		t.Errorf("no warning: %v", msg)
	}
	test.Tap(button(t, warn, "No"))
	if regenerated != 0 {
		t.Fatal("token regenerated without confirmation")
	}
	test.Tap(button(t, form.Items[1].Widget, "Regenerate token…"))
	test.Tap(button(t, top(t, d), "Yes"))
	if regenerated != 1 {
		t.Fatal("token not regenerated")
	}
	if !contains([]string{d.onboard.tokenL.Text}, "9999") {
		t.Errorf("onboarding still shows the old token: %q", d.onboard.tokenL.Text)
	}

	// With no settings at all, the dialog says so.
	d2 := NewDashboard(a, Deps{Store: st, Settings: Settings{OpenDataFolder: func() error { return errors.New("x") }}})
	t.Cleanup(d2.Close)
	hold(t, d2)
	f2 := d2.settingsForm().(*widget.Form)
	var items2 []string
	for _, it := range f2.Items {
		items2 = append(items2, it.Text)
	}
	if want := []string{"Data", "Import", "Connect", "Names"}; !slices.Equal(items2, want) {
		t.Errorf("only the data folder control and the ones that need no app function expected, got %v", items2)
	}
}

func findForm(t *testing.T, o fyne.CanvasObject) *widget.Form {
	t.Helper()
	var f *widget.Form
	walk(o, func(c fyne.CanvasObject) {
		if x, ok := c.(*widget.Form); ok && f == nil {
			f = x
		}
	})
	if f == nil {
		t.Fatal("no form")
	}
	return f
}

func entriesOf(f *widget.Form) []*widget.Entry {
	var out []*widget.Entry
	for _, it := range f.Items {
		walk(it.Widget, func(c fyne.CanvasObject) {
			switch e := c.(type) {
			case *widget.Entry:
				out = append(out, e)
			case *escEntry:
				out = append(out, &e.Entry)
			}
		})
	}
	return out
}

// closeTop dismisses the topmost information dialog (its only button).
func closeTop(t *testing.T, d *Dashboard) {
	t.Helper()
	test.Tap(button(t, top(t, d), "OK"))
}

// The retention and backup counts are entered as whole numbers: a bad one is refused with a message and
// nothing saved; a good one is saved and the dialog says it applies after a restart.
func TestSettingsRetentionAndBackups(t *testing.T) {
	st := openStore(t)
	retention, backups := 0, 3
	s := Settings{
		RetentionDays:    func() int { return retention },
		SetRetentionDays: func(n int) error { retention = n; return nil },
		Backups:          func() int { return backups },
		SetBackups:       func(n int) error { backups = n; return nil },
	}
	d := newTestDashboard(t, st, s)
	test.Tap(button(t, d.win.Content(), "Settings"))
	full := findForm(t, top(t, d))
	form := &widget.Form{}
	for _, it := range full.Items {
		if it.Text == "Keep raw records (days)" || it.Text == "Daily backups to keep" {
			form.Items = append(form.Items, it)
		}
	}
	if len(form.Items) != 2 || form.Items[0].Text != "Keep raw records (days)" {
		t.Fatalf("settings show %d of the retention and backup rows, want both, retention first", len(form.Items))
	}
	entries := entriesOf(form)
	if entries[0].Text != "0" || entries[1].Text != "3" {
		t.Fatalf("entries show %q and %q, want the current 0 and 3", entries[0].Text, entries[1].Text)
	}
	entries[0].SetText("-5")
	test.Tap(button(t, form.Items[0].Widget, "Save"))
	if msg := labels(top(t, d)); retention != 0 || !contains(msg, "whole number") {
		t.Fatalf("-5 days: saved %d, dialog %v", retention, msg)
	}
	closeTop(t, d)
	entries[0].SetText(" 90 ")
	test.Tap(button(t, form.Items[0].Widget, "Save"))
	if msg := labels(top(t, d)); retention != 90 || !contains(msg, "restarts") {
		t.Fatalf("90 days: saved %d, dialog %v", retention, msg)
	}
	closeTop(t, d)
	entries[1].SetText("0")
	test.Tap(button(t, form.Items[1].Widget, "Save"))
	if backups != 0 {
		t.Fatalf("backups saved as %d, want 0", backups)
	}
	closeTop(t, d)
}
