package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// Temporary until package ui lands: a plain window with the ingest URL.

func loadTranslations() error { return nil }

type placeholderDashboard struct{ w fyne.Window }

func newDashboard(a fyne.App, core *Core, _ *settingsBackend, onClose func()) dashboard {
	w := a.NewWindow("Token Stats")
	w.SetContent(container.NewPadded(widget.NewLabel("Token Stats is recording at " + core.URL + "/usage")))
	w.Resize(fyne.NewSize(900, 600))
	w.SetCloseIntercept(onClose)
	return &placeholderDashboard{w: w}
}

func (d *placeholderDashboard) Window() fyne.Window { return d.w }
func (d *placeholderDashboard) Show() {
	fyne.Do(func() { d.w.Show(); d.w.RequestFocus() })
}
func (d *placeholderDashboard) Close() {}
