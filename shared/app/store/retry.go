package store

import (
	"context"
	"errors"
	"time"
)

// RetryOnConflict runs fn again (it re-reads what it needs) while it loses
// write races, a bounded number of times, its short waits ended by ctx. Conflicts the domain raises (a
// transition that is not allowed) are returned at once: re-reading would
// not change them.
func RetryOnConflict(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if err = fn(); !errors.Is(err, ErrLostRace) {
			return err
		}
		t := time.NewTimer(time.Duration(attempt+1) * 5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return err
}

// Now is the time clock says, as the stores keep times: UTC, to the
// millisecond.
func Now(clock func() time.Time) time.Time { return clock().UTC().Truncate(time.Millisecond) }
