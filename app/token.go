package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tokenFile is where the generated token is kept, mode 0600.
func tokenFile(dataDir string) string { return filepath.Join(dataDir, "token") }

// loadToken returns TOKENSTATS_TOKEN if set, else the token kept in the data folder, generating it (256
// random bits) on first use.
func loadToken(dataDir string, getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(getenv("TOKENSTATS_TOKEN")); t != "" {
		return t, nil
	}
	b, err := os.ReadFile(tokenFile(dataDir))
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read token: %w", err)
	}
	return RegenerateToken(dataDir)
}

// RegenerateToken writes a new random token to the data folder and returns it.
func RegenerateToken(dataDir string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	t := hex.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data folder: %w", err)
	}
	if err := writeFileAtomic(tokenFile(dataDir), []byte(t+"\n"), 0o600); err != nil {
		return "", err
	}
	return t, nil
}
