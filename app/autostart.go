package app

import (
	"fmt"
	"os"
	"path/filepath"
)

// autostart starts the app when the user logs in: an XDG autostart entry on Linux and the BSDs, a
// LaunchAgent on macOS, the HKCU Run key on Windows (autostart_<os>.go).
type autostart struct {
	getenv func(string) string
	exe    string   // absolute path of this program
	args   []string // arguments to start it with: --data-dir when the user chose one
}

func newAutostart(cfg Config, getenv func(string) string) autostart {
	exe, err := os.Executable()
	if err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
	}
	a := autostart{getenv: getenv, exe: exe}
	if cfg.Given["data-dir"] {
		a.args = []string{"--data-dir", cfg.DataDir}
	}
	return a
}

func (a autostart) check() error {
	if a.exe == "" || !filepath.IsAbs(a.exe) {
		return fmt.Errorf("start at login: cannot find this program's path")
	}
	return nil
}
