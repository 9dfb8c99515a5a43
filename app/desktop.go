package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/lang"
	"fyne.io/systray"

	"github.com/tokenstats/tokenstats/assets/icons"
	"github.com/tokenstats/tokenstats/localapi"
	"github.com/tokenstats/tokenstats/ui"
)

// AppID is the application ID; FyneApp.toml carries the same (a test checks they agree).
const AppID = "io.github.tokenstats.tokenstats"

// alreadyRunning is printed by a second launch after the first one was asked to show its window.
const alreadyRunning = "Token Stats is already running; its window was asked to show."

// runDesktop runs the window, the tray and the listener until Quit. A second launch with the same data
// folder asks the first to show its window and exits 0.
func runDesktop(cfg Config, getenv func(string) string, stdout, stderr io.Writer) int {
	log := newLogger(stderr)
	saved, err := loadSettings(cfg.DataDir)
	if err != nil {
		log.Warn("settings not read", "err", err)
	}
	if err := ui.UseLanguage(saved.Language); err != nil {
		log.Warn("translations not loaded; showing English", "err", err)
	}
	core, err := startCore(cfg, getenv, log)
	if errors.Is(err, errLocked) {
		return showRunning(cfg, getenv, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tokenstats:", err)
		return 1
	}
	announce(stdout, core)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := fyneapp.NewWithID(AppID)
	a.SetIcon(icons.App)
	hasTrayHost := watchTrayHost(ctx)
	settings := newSettingsBackend(cfg, getenv, core.API.SetToken)
	settings.setUpstreams, settings.setLookup = core.API.SetUpstreams, core.API.SetLookupEmail
	settings.updatePrices = core.updatePrices

	var dash *ui.Dashboard
	var restart atomic.Bool
	onClose := func() {
		// With a tray to come back from, closing hides the window and the listener keeps recording;
		// without one, a hidden window could not be reopened, so closing quits.
		if hasTrayHost() {
			dash.Window().Hide()
			return
		}
		a.Quit()
	}
	dash = ui.NewDashboard(a, ui.Deps{
		Store:     core.Store,
		IngestURL: core.URL + "/usage",
		BaseURL:   core.URL,
		Token:     core.API.Token,
		Settings:  settings.forUI(),
		OnClose:   onClose,
		// Quit, and start again once the data folder is free (after core.Close below).
		Restart: func() error {
			restart.Store(true)
			fyne.Do(a.Quit)
			return nil
		},
	})
	core.API.SetOnShow(dash.Show)

	trayOn := setupTray(a, trayActions{
		showDashboard: dash.Show,
		connect:       dash.ShowConnect,
		browserURL:    func() string { return localapi.LoginURL(core.URL, core.API.Token()) },
		ingestURL:     func() string { return core.URL + "/usage" },
		token:         core.API.Token,
		quit:          a.Quit,
		logErr:        func(msg string, err error) { log.Error(msg, "err", err) },
	})

	var code atomic.Int32
	alerts := newAlerter(core.Store, func(title, body string) {
		a.SendNotification(fyne.NewNotification(title, body))
	}, log)
	setTrayIcon := trayIconSetter(a)
	a.Lifecycle().SetOnStarted(func() {
		// One loop decides the alerts and then shows the tray, so a tray that shows a limit's state was
		// drawn after its notification went out.
		go watchLiveTotals(ctx, core.Store, time.Now, func(t liveTotals) {
			alerts.check(ctx, t)
			if !trayOn {
				return
			}
			text, level := tooltipText(t), trayLevel(t.Limits)
			// systray's tooltip is safe from any goroutine on Linux; on macOS it touches AppKit,
			// so set it on the main thread everywhere.
			fyne.Do(func() {
				setTrayIcon(level)
				systray.SetTooltip(text)
			})
		}, func(err error) { log.Warn("tray totals", "err", err) })
		go func() {
			select {
			case <-ctx.Done():
			case err := <-core.Served():
				if err != nil { // nil: Close stopped it, at Quit
					log.Error("listener stopped", "err", err)
					code.Store(1)
					fyne.Do(a.Quit)
				}
			}
		}()
	})

	dash.Show()
	a.Run() // returns after Quit (tray menu, window close without a tray, SIGINT/SIGTERM)
	cancel()
	dash.Close()
	alerts.wait()
	if err := core.Close(); err != nil {
		fmt.Fprintln(stderr, "tokenstats:", err)
		code.Store(1)
	}
	log.Info("Token Stats stopped")
	if restart.Load() && code.Load() == 0 {
		if err := restartSelf(); err != nil {
			fmt.Fprintln(stderr, "tokenstats:", err)
			return 1
		}
	}
	return int(code.Load())
}

// showRunning is the second launch: the data folder is held by another instance, so no second listener
// or writer starts; the running one is asked to show its window.
func showRunning(cfg Config, getenv func(string) string, stdout, stderr io.Writer) int {
	err := askToShow(context.Background(), cfg.DataDir, getenv)
	if err == nil {
		fmt.Fprintln(stdout, lang.L(alreadyRunning))
		return 0
	}
	if errors.Is(err, errNoWindow) {
		fmt.Fprintf(stderr, "tokenstats: %v: %v; stop it first or use another --data-dir\n", errLocked, err)
		return 1
	}
	fmt.Fprintf(stderr, "tokenstats: %v, and asking it to show its window failed: %v\n", errLocked, err)
	return 1
}
