package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func newTestLog(t *testing.T, max int) *jobLog {
	t.Helper()
	l, err := newJobLog(filepath.Join(t.TempDir(), "job.log"), max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestJobLogKeepsTheTailAndCountsWhatItSkips(t *testing.T) {
	t.Parallel()
	l := newTestLog(t, 10)
	l.Write([]byte("0123456789"))
	l.Write([]byte("abcde"))
	c := l.Take(1 << 20)
	if string(c.raw) != "56789abcde" || c.skipped != 5 {
		t.Fatalf("chunk %q skipped %d", c.raw, c.skipped)
	}
	if !strings.HasPrefix(c.Text(), "[farm-builder] ... 5 bytes of log skipped") || !strings.HasSuffix(c.Text(), "\n56789abcde") {
		t.Fatalf("text %q", c.Text())
	}
	if c := l.Take(1 << 20); !c.empty() {
		t.Fatalf("second take %+v", c)
	}
	// The full log has everything.
	if b, _ := os.ReadFile(l.path); string(b) != "0123456789abcde" || l.Size() != 15 {
		t.Fatalf("file %q size %d", b, l.Size())
	}
}

func TestJobLogRestoreKeepsOrderAndBound(t *testing.T) {
	t.Parallel()
	l := newTestLog(t, 8)
	l.Write([]byte("abcd"))
	c := l.Take(1 << 20)
	l.Write([]byte("efgh"))
	l.Restore(c) // the heartbeat failed
	if got := l.Take(1 << 20); string(got.raw) != "abcdefgh" || got.skipped != 0 {
		t.Fatalf("after restore %q skipped %d", got.raw, got.skipped)
	}
	l.Write([]byte("1234"))
	c = l.Take(1 << 20)
	l.Write([]byte("56789"))
	l.Restore(c)
	if got := l.Take(1 << 20); string(got.raw) != "23456789" || got.skipped != 1 {
		t.Fatalf("restore over the bound %q skipped %d", got.raw, got.skipped)
	}
}

func TestJobLogNeverSplitsUTF8(t *testing.T) {
	t.Parallel()
	l := newTestLog(t, 5)
	euro := "€" // 3 bytes
	l.Write([]byte("ab" + euro[:1]))
	c := l.Take(1 << 20)
	if string(c.raw) != "ab" {
		t.Fatalf("a cut sequence was sent: %q", c.raw)
	}
	l.Write([]byte(euro[1:] + "c"))
	if c := l.Take(1 << 20); string(c.raw) != euro+"c" {
		t.Fatalf("completed sequence %q", c.raw)
	}
	// Dropping the front never starts the tail inside a sequence.
	l.Write([]byte("x" + euro + euro))
	c = l.Take(1 << 20)
	if !utf8.Valid(c.raw) || string(c.raw) != euro {
		t.Fatalf("tail %q (valid %v) skipped %d", c.raw, utf8.Valid(c.raw), c.skipped)
	}
	if c.skipped != 4 {
		t.Fatalf("skipped %d, want 4", c.skipped)
	}
}

func TestJobLogTakeIsBoundedOldestFirst(t *testing.T) {
	t.Parallel()
	l := newTestLog(t, 100)
	l.Write([]byte("abcdefghij"))
	if c := l.Take(4); string(c.raw) != "abcd" {
		t.Fatalf("first %q", c.raw)
	}
	if c := l.Take(4); string(c.raw) != "efgh" {
		t.Fatalf("second %q", c.raw)
	}
	l.Write([]byte("€€")) // 6 bytes after "ij"
	if c := l.Take(4); string(c.raw) != "ij" {
		t.Fatalf("a limit inside a rune must stop before it: %q", c.raw)
	}
	if c := l.Take(4); string(c.raw) != "€" {
		t.Fatalf("fourth %q", c.raw)
	}
	// A refused chunk is dropped but counted.
	c := l.Take(100)
	l.Drop(c)
	if c := l.Take(100); c.skipped != 3 || len(c.raw) != 0 {
		t.Fatalf("after drop: %+v", c)
	}
}
