package passthrough

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tokenstats/tokenstats/stats"
)

// emailCacheSize bounds the tokens remembered: access tokens last about an hour, so a long-running
// instance meets new ones all day.
const emailCacheSize = 512

// emailCache remembers, per bearer token, the Google account it belongs to ("" when the lookup failed,
// so a failing token is not asked about again). Keys are SHA-256 hashes: the cache holds no token.
type emailCache struct {
	mu    sync.Mutex
	m     map[[32]byte]*emailEntry
	order [][32]byte
}

type emailEntry struct {
	ready chan struct{}
	email string
}

// emailOf is the account e-mail of the exchange's bearer token, looked up once per token; "" when
// Google did not say.
func (h *Handler) emailOf(ctx context.Context, ex *exchange) string {
	key := sha256.Sum256([]byte(ex.secret))
	c := &h.emails
	c.mu.Lock()
	if c.m == nil {
		c.m = map[[32]byte]*emailEntry{}
	}
	e, found := c.m[key]
	if !found {
		e = &emailEntry{ready: make(chan struct{})}
		c.m[key] = e
		c.order = append(c.order, key)
		if len(c.order) > emailCacheSize {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.mu.Unlock()
	if found {
		select {
		case <-e.ready:
			return e.email
		case <-ctx.Done():
			return ""
		}
	}
	email, err := h.fetchEmail(ctx, ex.secret)
	if err != nil {
		h.log.Info("Google account lookup failed", "source", ex.source, "err", err)
		h.note(ex.source, "looking up the Google account of a Code Assist token failed: "+err.Error())
	}
	e.email = email
	close(e.ready)
	return email
}

func (h *Handler) fetchEmail(ctx context.Context, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.UserInfoURL, nil)
	if err != nil {
		return "", fmt.Errorf("userinfo request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.client.Do(req)
	if err != nil {
		return "", errors.New("userinfo endpoint could not be reached")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("userinfo endpoint answered %d (does the token carry the userinfo.email scope?)", resp.StatusCode)
	}
	var info struct {
		Email string `json:"email"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info); err != nil {
		return "", fmt.Errorf("userinfo answer is not JSON: %w", err)
	}
	e := strings.TrimSpace(info.Email)
	if e == "" || len(e) > stats.MaxAccountLen || !utf8.ValidString(e) || strings.ContainsAny(e, "\x00\r\n\t") {
		return "", errors.New("userinfo answer holds no usable e-mail")
	}
	return e, nil
}
