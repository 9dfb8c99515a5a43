package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// urlFile holds the running instance's listener URL (with the real port, as port 0 picks a free one), so
// a second launch with the same data folder can find it. Written at start, removed at a clean stop.
func urlFile(dataDir string) string { return filepath.Join(dataDir, "listen-url") }

func writeURLFile(dataDir, url string) error {
	return writeFileAtomic(urlFile(dataDir), []byte(url+"\n"), 0o600)
}

func readURLFile(dataDir string) (string, error) {
	b, err := os.ReadFile(urlFile(dataDir))
	if err != nil {
		return "", fmt.Errorf("find the running instance: %w", err)
	}
	u := strings.TrimSpace(string(b))
	if !strings.HasPrefix(u, "http://") {
		return "", fmt.Errorf("find the running instance: %s holds %q, not a URL", urlFile(dataDir), u)
	}
	return u, nil
}

// errNoWindow means the running instance is headless: it has no window to show.
var errNoWindow = errors.New("the running Token Stats has no window (it runs headless)")

// askToShow asks the instance that holds the data folder to show its window (POST /app/show).
func askToShow(ctx context.Context, dataDir string, getenv func(string) string) error {
	base, err := readURLFile(dataDir)
	if err != nil {
		return err
	}
	token, err := loadToken(dataDir, getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/app/show", nil)
	if err != nil {
		return fmt.Errorf("ask the running instance: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask the running instance at %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return errNoWindow
	}
	return fmt.Errorf("ask the running instance at %s: %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
}
