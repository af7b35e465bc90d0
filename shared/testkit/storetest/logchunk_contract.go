package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunLogChunkContract checks the log chunks heartbeats append: listed per
// run in log order whatever order they arrived in, the same chunk written
// again kept once, the last chunks of a long log when a limit is given,
// and chunks past their expiry not listed.
func RunLogChunkContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()

	t.Run("ChunksListInLogOrderPerRun", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		id := farm.NewID(time.Now())
		live := time.Now().Add(time.Hour)
		for _, c := range []farm.LogChunk{
			{Run: 1, Offset: 10, Text: "second\n"},
			{Run: 1, Offset: 0, Text: "first\n"},
			{Run: 2, Offset: 0, Text: "another run\n"},
			{Run: 1, Offset: 10, Text: "second\n"}, // a heartbeat sent again
			{Run: 1, Offset: 1 << 40, Text: "third\n"},
			{Run: 1, Offset: 5, Text: "expired\n", ExpiresAt: time.Now().Add(-time.Minute)},
			{Run: 10, Offset: 0, Text: "run ten\n"},
		} {
			c.JobID = id
			if c.ExpiresAt.IsZero() {
				c.ExpiresAt = live
			}
			must(t, s.AppendLogChunk(ctx, c))
		}
		text := func(run, limit int) string {
			chunks, err := s.LogChunks(ctx, id, run, limit)
			must(t, err)
			var b strings.Builder
			for _, c := range chunks {
				if c.JobID != id || c.Run != run {
					t.Fatalf("chunk %+v listed for run %d", c, run)
				}
				b.WriteString(c.Text)
			}
			return b.String()
		}
		if got := text(1, 0); got != "first\nsecond\nthird\n" {
			t.Fatalf("run 1: %q", got)
		}
		if got := text(1, 2); got != "second\nthird\n" {
			t.Fatalf("run 1, last 2: %q", got)
		}
		if got := text(2, 0); got != "another run\n" {
			t.Fatalf("run 2: %q", got)
		}
		if got := text(10, 0); got != "run ten\n" {
			t.Fatalf("run 10: %q", got)
		}
		if got := text(3, 0); got != "" {
			t.Fatalf("run 3: %q", got)
		}
	})
}
