package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/assets/icons"
)

// Temporary until package ui lands: a plain window with the ingest URL.

func loadTranslations() error { return nil }

type placeholderDashboard struct{ w fyne.Window }

func newDashboard(a fyne.App, core *Core, _ *settingsBackend, onClose func()) dashboard {
	w := a.NewWindow("Token Stats")
	logo := canvas.NewImageFromResource(icons.App)
	logo.SetMinSize(fyne.NewSize(128, 128))
	logo.FillMode = canvas.ImageFillContain
	w.SetContent(container.NewCenter(container.NewVBox(logo,
		widget.NewLabelWithStyle("Token Stats", fyne.TextAlignCenter, fyne.TextStyle{Bold: true}),
		widget.NewLabel("Recording at "+core.URL+"/usage"))))
	w.Resize(fyne.NewSize(900, 600))
	w.SetCloseIntercept(onClose)
	return &placeholderDashboard{w: w}
}

func (d *placeholderDashboard) Window() fyne.Window { return d.w }
func (d *placeholderDashboard) Show() {
	fyne.Do(func() { d.w.Show(); d.w.RequestFocus() })
}
func (d *placeholderDashboard) Close() {}
