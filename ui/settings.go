package ui

import (
	"errors"
	"fmt"
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
	restartNote := func() {
		dialog.ShowInformation(lang.L("Saved"), lang.L("The change takes effect when Token Stats restarts."), w)
	}
	form := widget.NewForm()

	if s.ListenAddr != nil && s.SetListenAddr != nil {
		e := widget.NewEntry()
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
		form.Append(lang.L("Token"), widget.NewButton(lang.L("Regenerate token…"), func() {
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
		e := widget.NewEntry()
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
	if s.UpdatePrices != nil {
		d.moneySettings(form)
	}
	if len(form.Items) == 0 {
		return widget.NewLabel(lang.L("No settings are available."))
	}
	return form
}

// showSettings opens the settings dialog.
func (d *Dashboard) showSettings() {
	// Scrolls: the prices and limits make the form taller than a small window.
	dlg := dialog.NewCustom(lang.L("Settings"), lang.L("Close"), container.NewVScroll(d.settingsForm()), d.win)
	dlg.Resize(fyne.NewSize(560, 600))
	dlg.Show()
	if d.loadMoney != nil {
		d.loadMoney()
	}
}
