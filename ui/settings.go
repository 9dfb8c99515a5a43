package ui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"
	"github.com/tokenstats/tokenstats/assets/translations"
)

// languageChoices are the settings' language choices: "" (follow the system, a translated label) and
// every translation, named in its own language, so those names are not translated.
func languageChoices() []translations.Language {
	return append([]translations.Language{{Tag: "", Name: lang.L("System default")}}, translations.Languages()...)
}

// settingsForm builds the settings controls; a nil Settings func hides its control.
func (d *Dashboard) settingsForm() fyne.CanvasObject {
	s := d.deps.Settings
	w := d.win
	fail := func(what string, err error) {
		dialog.ShowError(fmt.Errorf("%s: %w", what, err), w)
	}
	restartNote := d.offerRestart
	form := widget.NewForm()

	if s.ListenAddr != nil && s.SetListenAddr != nil {
		e := newEscEntry(d.closeSettings)
		e.SetText(s.ListenAddr())
		save := widget.NewButton(lang.L("Save"), func() {
			if err := s.SetListenAddr(strings.TrimSpace(e.Text)); err != nil {
				fail(lang.L("Listen address"), err)
				return
			}
			restartNote()
		})
		form.Append(lang.L("Listen address"), container.NewBorder(nil, nil, nil, save, e))
	}
	if s.RegenerateToken != nil {
		form.Append(lang.L("Access token"), widget.NewButton(lang.L("Regenerate token…"), func() {
			dialog.ShowConfirm(lang.L("Regenerate token?"),
				lang.L("Every proxy that posts usage with the current token will be refused until it is given the new one. The new token is in effect at once."),
				func(ok bool) {
					if !ok {
						return
					}
					if _, err := s.RegenerateToken(); err != nil {
						fail(lang.L("Regenerate token"), err)
						return
					}
					d.onboard.refresh()
					dialog.ShowInformation(lang.L("Token regenerated"),
						lang.L("Copy the new token from the first-run panel or the tray menu into your proxies."), w)
				}, w)
		}))
	}
	if s.OpenDataFolder != nil {
		form.Append(lang.L("Data"), widget.NewButton(lang.L("Open data folder"), func() {
			if err := s.OpenDataFolder(); err != nil {
				fail(lang.L("Open data folder"), err)
			}
		}))
	}
	if s.TimeZone != nil && s.SetTimeZone != nil {
		e := newEscEntry(d.closeSettings)
		e.SetPlaceHolder(lang.L("System time zone"))
		e.SetText(s.TimeZone())
		save := widget.NewButton(lang.L("Save"), func() {
			name := strings.TrimSpace(e.Text)
			if name != "" {
				if _, err := time.LoadLocation(name); err != nil {
					fail(lang.L("Time zone"), errors.New(lang.L("not a known IANA time zone such as Europe/Paris")))
					return
				}
			}
			if err := s.SetTimeZone(name); err != nil {
				fail(lang.L("Time zone"), err)
				return
			}
			restartNote()
		})
		form.Append(lang.L("Time zone"), container.NewBorder(nil, nil, nil, save, e))
	}
	if s.StartAtLogin != nil && s.SetStartAtLogin != nil {
		on, err := s.StartAtLogin()
		chk := widget.NewCheck(lang.L("Start Token Stats when I log in"), nil)
		chk.SetChecked(on && err == nil)
		chk.OnChanged = func(v bool) {
			if err := s.SetStartAtLogin(v); err != nil {
				fail(lang.L("Start at login"), err)
			}
		}
		form.Append(lang.L("Start at login"), chk)
	}
	if s.Language != nil && s.SetLanguage != nil {
		choices := languageChoices()
		labels := make([]string, len(choices))
		cur := s.Language()
		sel := 0
		for i, l := range choices {
			labels[i] = l.Name
			if l.Tag == cur {
				sel = i
			}
		}
		pick := widget.NewSelect(labels, nil)
		pick.SetSelectedIndex(sel)
		pick.OnChanged = func(string) {
			if err := s.SetLanguage(choices[pick.SelectedIndex()].Tag); err != nil {
				fail(lang.L("Language"), err)
				return
			}
			restartNote()
		}
		form.Append(lang.L("Language"), pick)
	}
	if s.CLIProxyAPI != nil && s.SetCLIProxyAPI != nil {
		addr, keySet := s.CLIProxyAPI()
		u := widget.NewEntry()
		u.SetPlaceHolder(lang.L("CLIProxyAPI address, e.g. http://127.0.0.1:8317"))
		u.SetText(addr)
		key := widget.NewPasswordEntry()
		key.SetPlaceHolder(lang.L("Management key"))
		if keySet {
			key.SetPlaceHolder(lang.L("Management key (saved; type to replace)"))
		}
		save := widget.NewButton(lang.L("Save"), func() {
			if err := s.SetCLIProxyAPI(strings.TrimSpace(u.Text), strings.TrimSpace(key.Text)); err != nil {
				fail("CLIProxyAPI", err)
				return
			}
			key.SetText("")
			dialog.ShowInformation(lang.L("Saved"), lang.L("Token Stats polls CLIProxyAPI's usage queue from its next poll, within a few seconds."), w)
		})
		form.Append("CLIProxyAPI", container.NewBorder(nil, nil, nil, save, container.NewVBox(u, key)))
	}
	form.Append(lang.L("Import"), d.importButton())
	d.appendCaptureSettings(form)
	countEntry := func(label, hint string, get func() int, set func(int) error) {
		e := widget.NewEntry()
		e.SetText(strconv.Itoa(get()))
		save := widget.NewButton(lang.L("Save"), func() {
			n, err := strconv.Atoi(strings.TrimSpace(e.Text))
			if err != nil || n < 0 {
				fail(label, errors.New(lang.L("want a whole number, 0 or more")))
				return
			}
			if err := set(n); err != nil {
				fail(label, err)
				return
			}
			restartNote()
		})
		form.AppendItem(&widget.FormItem{Text: label, Widget: container.NewBorder(nil, nil, nil, save, e), HintText: hint})
	}
	if s.RetentionDays != nil && s.SetRetentionDays != nil {
		countEntry(lang.L("Keep raw records (days)"), lang.L("0 keeps every record; older records stay as day totals"),
			s.RetentionDays, s.SetRetentionDays)
	}
	if s.Backups != nil && s.SetBackups != nil {
		countEntry(lang.L("Daily backups to keep"), lang.L("0 makes none; they go to the backups folder in the data folder"),
			s.Backups, s.SetBackups)
	}
	if s.UpdatePrices != nil {
		d.moneySettings(form)
	}
	if len(form.Items) == 0 {
		return widget.NewLabel(lang.L("No settings are available."))
	}
	return form
}

// showSettings opens the settings dialog; Escape closes it.
func (d *Dashboard) showSettings() {
	// Scrolls: the prices and limits make the form taller than a small window.
	dlg := dialog.NewCustom(lang.L("Settings"), lang.L("Close"), container.NewVScroll(d.settingsForm()), d.win)
	dlg.Resize(fyne.NewSize(560, 600))
	cv := d.win.Canvas()
	prev := cv.OnTypedKey()
	d.settings = dlg
	dlg.SetOnClosed(func() {
		cv.SetOnTypedKey(prev)
		d.settings = nil
	})
	// Keys reach the canvas when no widget has the focus; the settings' text boxes pass Escape on.
	cv.SetOnTypedKey(func(e *fyne.KeyEvent) {
		if e.Name == fyne.KeyEscape {
			d.closeSettings()
		} else if prev != nil {
			prev(e)
		}
	})
	cv.Unfocus()
	dlg.Show()
	if d.loadMoney != nil {
		d.loadMoney()
	}
}

// closeSettings closes the settings dialog if it is open.
func (d *Dashboard) closeSettings() {
	if d.settings != nil {
		d.settings.Hide()
	}
}

// offerRestart says a saved setting applies on restart, and offers to restart now when the app can.
func (d *Dashboard) offerRestart() {
	msg := widget.NewLabel(lang.L("The change takes effect when Token Stats restarts."))
	if d.deps.Restart == nil {
		dialog.ShowInformation(lang.L("Saved"), msg.Text, d.win)
		return
	}
	dialog.ShowCustomConfirm(lang.L("Saved"), lang.L("Restart now"), lang.L("Later"), msg, func(now bool) {
		if !now {
			return
		}
		if err := d.deps.Restart(); err != nil {
			dialog.ShowError(fmt.Errorf("%s: %w", lang.L("Restart"), err), d.win)
		}
	}, d.win)
}

// escEntry is a text box that closes its dialog on Escape (an entry with the focus takes every key).
type escEntry struct {
	widget.Entry
	onEscape func()
}

func newEscEntry(onEscape func()) *escEntry {
	e := &escEntry{onEscape: onEscape}
	e.ExtendBaseWidget(e)
	return e
}

func (e *escEntry) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape {
		e.onEscape()
		return
	}
	e.Entry.TypedKey(k)
}
