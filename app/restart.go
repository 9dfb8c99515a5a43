package app

import (
	"fmt"
	"os"
	"os/exec"
)

// restartCommand is the command that starts this program again as it was started: the same
// executable, arguments and environment, the same standard output and error.
func restartCommand(exe string, args []string) *exec.Cmd {
	cmd := exec.Command(exe, args...)
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd
}

// restartSelf starts a new instance after this one has let go of the data folder (the settings window's
// "Restart now"). The new instance takes the lock the old one released; the old one then exits.
func restartSelf() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: find the program: %w", err)
	}
	if err := restartCommand(exe, os.Args[1:]).Start(); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return nil
}
