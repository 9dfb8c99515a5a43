package localapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"time"
)

const (
	// SessionCookie is the browser tab's session cookie: a random id, never the token.
	SessionCookie = "tokenstats_session"
	// SessionLifetime is how long a browser login lasts.
	SessionLifetime = 7 * 24 * time.Hour
	// maxSessions bounds the map; the oldest session goes when a new one would exceed it.
	maxSessions = 256
)

// sessions are the browser logins of one Server, in memory: a restart or a new token logs browsers out.
// Keys are SHA-256 hashes of the cookie values, so a lookup's timing says nothing about a valid id.
type sessions struct {
	mu     sync.Mutex
	expiry map[[32]byte]time.Time
}

// create starts a session and returns the cookie value.
func (ss *sessions) create(now time.Time) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.expiry == nil {
		ss.expiry = map[[32]byte]time.Time{}
	}
	for k, exp := range ss.expiry {
		if !now.Before(exp) {
			delete(ss.expiry, k)
		}
	}
	if len(ss.expiry) >= maxSessions {
		var oldest [32]byte
		first := true
		for k, exp := range ss.expiry {
			if first || exp.Before(ss.expiry[oldest]) {
				oldest, first = k, false
			}
		}
		delete(ss.expiry, oldest)
	}
	ss.expiry[sha256.Sum256([]byte(id))] = now.Add(SessionLifetime)
	return id, nil
}

// valid reports whether the request carries a live session cookie.
func (ss *sessions) valid(r *http.Request, now time.Time) bool {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return false
	}
	k := sha256.Sum256([]byte(c.Value))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.expiry[k]
	if ok && !now.Before(exp) {
		delete(ss.expiry, k)
		return false
	}
	return ok
}

// reset ends every session, for a new token.
func (ss *sessions) reset() {
	ss.mu.Lock()
	ss.expiry = nil
	ss.mu.Unlock()
}

func sessionCookie(id string) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		MaxAge: int(SessionLifetime / time.Second)}
}
