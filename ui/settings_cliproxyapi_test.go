package ui

import (
	"errors"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// The CLIProxyAPI row shows the address and whether a key is saved, hands both to the app, clears the
// key it typed, and shows the app's refusal.
func TestSettingsCLIProxyAPI(t *testing.T) {
	st := openStore(t)
	var gotURL, gotKey string
	refuse := false
	s := Settings{
		CLIProxyAPI: func() (string, bool) { return "http://127.0.0.1:8317", true },
		SetCLIProxyAPI: func(url, key string) error {
			if refuse {
				return errors.New("the management key is set by TOKENSTATS_CLIPROXYAPI_KEY")
			}
			gotURL, gotKey = url, key
			return nil
		},
	}
	d := newTestDashboard(t, st, s)

	test.Tap(button(t, d.win.Content(), "Settings"))
	form := findForm(t, top(t, d))
	var row *widget.FormItem
	for _, it := range form.Items {
		if it.Text == "CLIProxyAPI" {
			row = it
		}
	}
	if row == nil {
		t.Fatalf("settings show no CLIProxyAPI row among %d items", len(form.Items))
	}
	entries := entriesOf(&widget.Form{Items: []*widget.FormItem{row}})
	if len(entries) != 2 || entries[0].Text != "http://127.0.0.1:8317" || !entries[1].Password || entries[1].PlaceHolder != "Management key (saved; type to replace)" {
		t.Fatalf("entries: %d, address %q, key hidden %v, placeholder %q", len(entries), entries[0].Text, entries[1].Password, entries[1].PlaceHolder)
	}
	entries[0].SetText(" http://127.0.0.1:9000 ")
	entries[1].SetText("new-key")
	test.Tap(button(t, row.Widget, "Save"))
	if gotURL != "http://127.0.0.1:9000" || gotKey != "new-key" {
		t.Errorf("saved %q, %q", gotURL, gotKey)
	}
	if entries[1].Text != "" {
		t.Error("the key stays in the entry after saving")
	}
	closeTop(t, d)

	refuse = true
	entries[1].SetText("other")
	test.Tap(button(t, row.Widget, "Save"))
	if msg := labels(top(t, d)); !contains(msg, "TOKENSTATS_CLIPROXYAPI_KEY") {
		t.Errorf("the refusal is not shown: %v", msg)
	}
}
