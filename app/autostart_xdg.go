//go:build !windows && !darwin

package app

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// file is the XDG autostart entry: $XDG_CONFIG_HOME/autostart/tokenstats.desktop.
func (a autostart) file() (string, error) {
	dir := a.getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home := a.getenv("HOME")
		if home == "" {
			return "", errors.New("start at login: no HOME to find ~/.config/autostart in")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "autostart", "tokenstats.desktop"), nil
}

// enabled is true when the entry exists and is not hidden or disabled (desktops disable an entry by
// writing Hidden=true or X-GNOME-Autostart-enabled=false into it).
func (a autostart) enabled() (bool, error) {
	path, err := a.file()
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read autostart entry: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if (k == "Hidden" && v == "true") || (k == "X-GNOME-Autostart-enabled" && v == "false") {
			return false, nil
		}
	}
	return true, nil
}

func (a autostart) set(on bool) error {
	path, err := a.file()
	if err != nil {
		return err
	}
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove autostart entry: %w", err)
		}
		return nil
	}
	if err := a.check(); err != nil {
		return err
	}
	exec := []string{desktopQuote(a.exe)}
	for _, arg := range a.args {
		exec = append(exec, desktopQuote(arg))
	}
	entry := "[Desktop Entry]\n" +
		"Type=Application\n" +
		"Name=Token Stats\n" +
		"Comment=Local LLM token usage statistics\n" +
		"Exec=" + strings.Join(exec, " ") + "\n" +
		"Icon=io.github.tokenstats.tokenstats\n" +
		"Terminal=false\n" +
		"X-GNOME-Autostart-enabled=true\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create autostart folder: %w", err)
	}
	return writeFileAtomic(path, []byte(entry), 0o644)
}

// desktopQuote quotes an Exec argument as the Desktop Entry spec asks: inside double quotes, with ", `,
// $ and \ escaped by a backslash; "%" doubled, as field codes start with it. The file format then escapes
// every backslash once more.
func desktopQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\><~|&;$*?#()`%=") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '`', '$', '\\':
			b.WriteByte('\\')
		case '%':
			b.WriteByte('%')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return strings.ReplaceAll(b.String(), `\`, `\\`)
}
