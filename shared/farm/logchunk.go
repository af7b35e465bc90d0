package farm

import (
	"time"
	"unicode/utf8"
)

// MaxInlineLog is the largest log a completion carries whole: it is stored
// in the job's own item by the completion's write (no object storage call).
// A builder uploads a larger log once, through the presigned URL its claim
// answer carried, and the completion says so.
const MaxInlineLog = 8 << 10

// LogChunkRetention is how long the store keeps a running job's log chunks
// (its TTL): the live log reads them while the job runs; a finished job's
// log is its stored one (inline or uploaded), unless the builder stored
// none, when the chunks are all there is until they expire.
const LogChunkRetention = 14 * 24 * time.Hour

// LogChunk is a piece of one run's log as a heartbeat carried it. Chunks
// are appended, never rewritten: a heartbeat costs one small item write
// whatever the length of the log so far. Offset is where the piece starts
// in the run's log as the builder counts its bytes, so chunks sort in log
// order and a heartbeat sent again writes the same chunk again, not a
// second copy.
type LogChunk struct {
	JobID  string
	Run    int
	Offset int64
	Text   string
	// ExpiresAt is when the store may drop the chunk.
	ExpiresAt time.Time
}

// LogEnd returns at most max bytes of the end of log text s, starting on
// a rune (a cut never splits a character).
func LogEnd(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	for i := 0; i < len(s) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(s[i]) {
			return s[i:]
		}
	}
	return s
}
