package farm

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// The process's id source: crypto-random entropy, monotonic within one
// millisecond so that ids made in the same millisecond keep their order
// (oldest first among equal scores). It is the one piece of state the
// domain keeps, by design: two sources in one process could repeat
// orderings across each other.
var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new ULID: unique and ordered by creation time, so that
// sorting ids sorts jobs oldest first.
func NewID(now time.Time) string {
	idMu.Lock()
	defer idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(now), idEntropy).String()
}

// ValidID reports whether s is a well-formed ULID.
func ValidID(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil
}

// NewSecret returns n random bytes, hex encoded: for claim tokens, lease
// tokens and API tokens.
func NewSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// DerivedID returns a ULID fixed by its inputs: the time part from t, the
// random part from seed. Work that may run twice (follow-on jobs created by
// whichever of the API and the dispatcher gets there first) derives its ids,
// so the second run finds the first one's items instead of making more.
func DerivedID(t time.Time, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	var entropy [10]byte
	copy(entropy[:], sum[:10])
	return ulid.MustNew(ulid.Timestamp(t), bytes.NewReader(entropy[:])).String()
}
