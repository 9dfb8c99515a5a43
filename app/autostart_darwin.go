//go:build darwin

package app

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const launchAgentLabel = "io.github.tokenstats.tokenstats"

func (a autostart) file() (string, error) {
	home := a.getenv("HOME")
	if home == "" {
		return "", errors.New("start at login: no HOME to find ~/Library/LaunchAgents in")
	}
	return filepath.Join(home, "Library", "LaunchAgents", launchAgentLabel+".plist"), nil
}

func (a autostart) enabled() (bool, error) {
	path, err := a.file()
	if err != nil {
		return false, err
	}
	_, err = os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read launch agent: %w", err)
	}
	return true, nil
}

// set writes or removes a LaunchAgent that runs the program at login (RunAtLoad); launchd reads the
// folder when the user logs in.
func (a autostart) set(on bool) error {
	path, err := a.file()
	if err != nil {
		return err
	}
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove launch agent: %w", err)
		}
		return nil
	}
	if err := a.check(); err != nil {
		return err
	}
	var args strings.Builder
	for _, s := range append([]string{a.exe}, a.args...) {
		args.WriteString("\t\t<string>")
		xml.EscapeText(&args, []byte(s))
		args.WriteString("</string>\n")
	}
	plist := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + launchAgentLabel + `</string>
	<key>ProgramArguments</key>
	<array>
` + args.String() + `	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>ProcessType</key>
	<string>Interactive</string>
</dict>
</plist>
`
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create LaunchAgents folder: %w", err)
	}
	if err := os.WriteFile(path, []byte(plist), 0o644); err != nil {
		return fmt.Errorf("write launch agent: %w", err)
	}
	return nil
}
