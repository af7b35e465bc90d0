package agent

import (
	"fmt"
	"os"
	"sync"
	"unicode/utf8"
)

// jobLog is a running job's log. Everything goes to a file (the full log,
// uploaded at the end); what heartbeats have not carried yet is kept in a
// bounded buffer: when a job writes faster than heartbeats drain, the oldest
// unsent text is dropped and the next chunk says how much was skipped. The
// farm keeps a bounded tail anyway; the full log is the file.
type jobLog struct {
	mu       sync.Mutex
	file     *os.File
	path     string
	size     int64
	fileErr  error
	pending  []byte
	skipped  int64
	maxChunk int
	// total counts every byte written: pending is the end of it.
	total int64
}

// logChunk is text taken for one heartbeat, kept whole so that a failed
// heartbeat can give it back.
type logChunk struct {
	raw     []byte
	skipped int64
	// offset is where raw starts in the log: the heartbeat's log_offset,
	// the same when a failed heartbeat's chunk is sent again.
	offset int64
}

// Text is the chunk as sent: a note of skipped bytes, then the tail.
func (c logChunk) Text() string {
	if c.skipped == 0 {
		return string(c.raw)
	}
	return fmt.Sprintf("[farm-builder] ... %d bytes of log skipped here (the full log is uploaded when the job ends) ...\n", c.skipped) + string(c.raw)
}

func (c logChunk) empty() bool { return len(c.raw) == 0 && c.skipped == 0 }

func newJobLog(path string, maxChunk int) (*jobLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("job log: %w", err)
	}
	return &jobLog{file: f, path: path, maxChunk: maxChunk}, nil
}

// Write appends to the log. It never fails: a full disk must not kill the
// job's output pipe; the error is reported when the log is uploaded.
func (l *jobLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fileErr == nil {
		n, err := l.file.Write(p)
		l.size += int64(n)
		l.fileErr = err
	}
	l.total += int64(len(p))
	l.pending = append(l.pending, p...)
	l.bound()
	return len(p), nil
}

// bound drops the oldest pending bytes beyond maxChunk, starting the kept
// tail on a UTF-8 boundary.
func (l *jobLog) bound() {
	over := len(l.pending) - l.maxChunk
	if over <= 0 {
		return
	}
	for start := over; over < len(l.pending) && over-start < utf8.UTFMax-1 && !utf8.RuneStart(l.pending[over]); {
		over++
	}
	l.skipped += int64(over)
	l.pending = append(l.pending[:0:0], l.pending[over:]...)
}

// Take returns at most limit bytes of the text not sent yet, oldest first
// (the rest waits for the next heartbeat), never cutting a UTF-8 sequence:
// one cut by a write boundary waits until its end arrives.
func (l *jobLog) Take(limit int) logChunk {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.pending) - incompleteTail(l.pending)
	if n > limit {
		n = limit
		for n > 0 && n > limit-utf8.UTFMax && !utf8.RuneStart(l.pending[n]) {
			n--
		}
	}
	c := logChunk{raw: l.pending[:n:n], skipped: l.skipped, offset: l.total - int64(len(l.pending))}
	l.pending = append([]byte(nil), l.pending[n:]...)
	l.skipped = 0
	return c
}

// TakeAll returns everything not sent yet (the job has ended).
func (l *jobLog) TakeAll() logChunk {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := logChunk{raw: l.pending, skipped: l.skipped, offset: l.total - int64(len(l.pending))}
	l.pending, l.skipped = nil, 0
	return c
}

// Drop forgets a chunk the farm refused (too large): only its size is noted.
func (l *jobLog) Drop(c logChunk) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.skipped += c.skipped + int64(len(c.raw))
}

// Restore gives back a chunk whose heartbeat failed, ahead of newer text.
func (l *jobLog) Restore(c logChunk) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(append([]byte(nil), c.raw...), l.pending...)
	l.skipped += c.skipped
	l.bound()
}

// incompleteTail is the length of a trailing, not yet complete UTF-8 sequence.
func incompleteTail(b []byte) int {
	for n := 1; n < utf8.UTFMax && n <= len(b); n++ {
		start := len(b) - n
		if utf8.RuneStart(b[start]) {
			if !utf8.FullRune(b[start:]) {
				return n
			}
			return 0
		}
	}
	return 0
}

// Size is the full log's size so far.
func (l *jobLog) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Close closes the file; Remove deletes it.
func (l *jobLog) Close() error { return l.file.Close() }

func (l *jobLog) Remove() error { return os.Remove(l.path) }
