package usage

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// KeyFingerprint names an API key or bearer token without revealing it: "key …" and the first four
// hex digits of its SHA-256, not the key's own last characters. Sixteen bits of a hash cannot give the
// key back, and tell a handful of keys apart. Every ingest path that must name a credential uses it, so
// one key has one name whichever way its usage arrived.
func KeyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return "key …" + hex.EncodeToString(sum[:2])
}
