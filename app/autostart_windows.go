//go:build windows

package app

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/windows/registry"
)

const runKey = `Software\Microsoft\Windows\CurrentVersion\Run`
const runValue = "Token Stats"

func (a autostart) enabled() (bool, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE)
	if err != nil {
		if errors.Is(err, registry.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("read Run key: %w", err)
	}
	defer k.Close()
	_, _, err = k.GetStringValue(runValue)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read Run key: %w", err)
	}
	return true, nil
}

// set writes or deletes the HKCU Run value that starts the program at login.
func (a autostart) set(on bool) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.SET_VALUE|registry.QUERY_VALUE)
	if err != nil {
		return fmt.Errorf("open Run key: %w", err)
	}
	defer k.Close()
	if !on {
		if err := k.DeleteValue(runValue); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("delete Run value: %w", err)
		}
		return nil
	}
	if err := a.check(); err != nil {
		return err
	}
	parts := []string{}
	for _, s := range append([]string{a.exe}, a.args...) {
		parts = append(parts, `"`+strings.ReplaceAll(s, `"`, `\"`)+`"`)
	}
	if err := k.SetStringValue(runValue, strings.Join(parts, " ")); err != nil {
		return fmt.Errorf("write Run value: %w", err)
	}
	return nil
}
