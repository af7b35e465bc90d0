package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is a jittered exponential backoff: each wait is drawn from
// [d/2, d) with d doubling from min to max, so that builders that failed
// together do not retry together.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.n++
	return jitter(d)
}

func (b *backoff) reset() { b.n = 0 }

// jitter returns a duration drawn from [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// sleep waits for d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
