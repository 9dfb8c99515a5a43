package app

import (
	"fmt"
	"net/url"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"

	"github.com/tokenstats/tokenstats/assets/icons"
)

// trayActions are what the tray menu does.
type trayActions struct {
	showDashboard func()
	connect       func()        // "Connect a tool…"
	browserURL    func() string // the browser tab, logged in with the token
	ingestURL     func() string
	token         func() string
	quit          func()
	logErr        func(msg string, err error)
}

// setupTray installs the tray icon and menu. It returns false when the driver has no tray (mobile, or
// the software test driver).
func setupTray(a fyne.App, act trayActions) bool {
	desk, ok := a.(desktop.App)
	if !ok {
		return false
	}
	copyText := func(s string) { a.Clipboard().SetContent(s) }
	quit := fyne.NewMenuItem(lang.L("Quit"), act.quit)
	quit.IsQuit = true
	menu := fyne.NewMenu("Token Stats",
		fyne.NewMenuItem(lang.L("Open dashboard"), act.showDashboard),
		fyne.NewMenuItem(lang.L("Open in browser"), func() {
			u, err := url.Parse(act.browserURL())
			if err == nil {
				err = a.OpenURL(u)
			}
			if err != nil {
				act.logErr("open the browser tab", fmt.Errorf("open browser: %w", err))
			}
		}),
		fyne.NewMenuItem(lang.L("Connect a tool…"), act.connect),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem(lang.L("Copy ingest URL"), func() { copyText(act.ingestURL()) }),
		fyne.NewMenuItem(lang.L("Copy token"), func() { copyText(act.token()) }),
		fyne.NewMenuItemSeparator(),
		quit,
	)
	desk.SetSystemTrayIcon(icons.Tray)
	desk.SetSystemTrayMenu(menu)
	return true
}

// trayIcons are the tray icon of each state (trayLevel): normal, a limit past its first threshold, a
// limit at 100 %.
var trayIcons = [...]fyne.Resource{icons.Tray, icons.TrayWarn, icons.TrayAlert}

// trayIconSetter returns the function that shows a state in the tray icon, changing the icon only when
// the state changes. UI thread only.
func trayIconSetter(a fyne.App) func(level int) {
	desk, ok := a.(desktop.App)
	shown := 0
	return func(level int) {
		if !ok || level == shown || level < 0 || level >= len(trayIcons) {
			return
		}
		shown = level
		desk.SetSystemTrayIcon(trayIcons[level])
	}
}
