package app

import "io"

// runDesktop starts the desktop app. Until the window and tray exist it runs headless.
func runDesktop(cfg Config, getenv func(string) string, stdout, stderr io.Writer) int {
	return runHeadless(cfg, getenv, stdout, stderr)
}
