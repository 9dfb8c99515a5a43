//go:build linux || freebsd || openbsd || netbsd

package app

import (
	"context"
	"sync/atomic"

	"github.com/godbus/dbus/v5"
)

const watcherName = "org.kde.StatusNotifierWatcher"

// watchTrayHost reports whether a tray host is there: on these systems the tray is a D-Bus
// StatusNotifierItem, shown only when a panel owns org.kde.StatusNotifierWatcher on the session bus. The
// answer follows the panel coming and going (NameOwnerChanged) until ctx ends. No session bus = no tray.
func watchTrayHost(ctx context.Context) func() bool {
	var ok atomic.Bool
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return ok.Load
	}
	if err := conn.AddMatchSignal(
		dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, watcherName),
	); err != nil {
		conn.Close()
		return ok.Load
	}
	sig := make(chan *dbus.Signal, 8)
	conn.Signal(sig)
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, watcherName).Store(&has); err == nil {
		ok.Store(has)
	}
	go func() {
		defer conn.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case s, open := <-sig:
				if !open {
					return
				}
				if len(s.Body) == 3 {
					if owner, isStr := s.Body[2].(string); isStr {
						ok.Store(owner != "")
					}
				}
			}
		}
	}()
	return ok.Load
}
