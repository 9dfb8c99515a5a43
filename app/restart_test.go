package app

import (
	"os"
	"slices"
	"testing"
)

// The restart runs the same program with the same arguments and environment.
func TestRestartCommand(t *testing.T) {
	cmd := restartCommand("/opt/tokenstats", []string{"--data-dir", "/tmp/x y", "--listen", "127.0.0.1:0"})
	if cmd.Path != "/opt/tokenstats" || !slices.Equal(cmd.Args, []string{"/opt/tokenstats", "--data-dir", "/tmp/x y", "--listen", "127.0.0.1:0"}) {
		t.Errorf("command %q %q", cmd.Path, cmd.Args)
	}
	if !slices.Equal(cmd.Env, os.Environ()) || cmd.Stdout != os.Stdout || cmd.Stderr != os.Stderr {
		t.Error("the restart does not keep the environment and the output")
	}
}
