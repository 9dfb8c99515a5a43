// Package icons holds Token Stats' icons, drawn by ./gen (go generate) and embedded.
package icons

//go:generate go run ../../cmd/icongen .

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

var (
	//go:embed icon.png
	iconPNG []byte
	//go:embed tray.png
	trayPNG []byte
	//go:embed tray-warn.png
	trayWarnPNG []byte
	//go:embed tray-alert.png
	trayAlertPNG []byte
)

// App is the 256×256 application icon (window, launcher, package).
var App = fyne.NewStaticResource("icon.png", iconPNG)

// Tray is the 64×64 tray icon: white bars on a coloured square, legible on light and dark panels.
var Tray = fyne.NewStaticResource("tray.png", trayPNG)

// TrayWarn and TrayAlert are the tray icon in amber and in red: a limit is past its first threshold, or
// at 100 %.
var (
	TrayWarn  = fyne.NewStaticResource("tray-warn.png", trayWarnPNG)
	TrayAlert = fyne.NewStaticResource("tray-alert.png", trayAlertPNG)
)
