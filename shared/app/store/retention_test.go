package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The transition that ends a job sets its expiry from the policy's
// retention (its history, in its item, goes with it); a retry clears it.
func TestTheEndOfAJobSetsItsExpiryFromThePolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC)
	for _, tc := range []struct {
		name      string
		retention time.Duration
		want      time.Duration
	}{
		{"default", 0, 90 * 24 * time.Hour},
		{"configured", 7 * 24 * time.Hour, 7 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memstore.New()
			w := store.JobWriter{Store: mem, Policy: farm.Policy{JobRetention: tc.retention}.WithDefaults(), Clock: func() time.Time { return now }}
			j := &farm.Job{ID: farm.NewID(now), Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", CreatedAt: now, MaxAttempts: 3, Version: 1}
			created := &farm.JobEvent{JobID: j.ID, Seq: farm.SeqFor(1), At: now, To: farm.StatusQueued}
			if err := w.Write(ctx, nil, j, created); err != nil {
				t.Fatal(err)
			}
			if j.ExpiresAt != nil {
				t.Fatalf("a queued job expires at %v", j.ExpiresAt)
			}
			ended, ev, err := j.Cancel("admin", now)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, j, ended, ev); err != nil {
				t.Fatal(err)
			}
			stored, err := mem.GetJob(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			// Whole seconds, never before the retention's end.
			want := now.Add(tc.want).Truncate(time.Second).Add(time.Second)
			if stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(want) {
				t.Fatalf("cancelled job expires at %v, want %v", stored.ExpiresAt, want)
			}
			// The history lives in the job's item, so it expires with it.
			if h := stored.History; len(h) != 2 || h[len(h)-1].To != farm.StatusCancelled {
				t.Fatalf("the expiring job's history is %+v, want its creation and its end", h)
			}
			again, rev, err := stored.Retry("admin", now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, stored, again, rev); err != nil {
				t.Fatal(err)
			}
			if got, _ := mem.GetJob(ctx, j.ID); got.ExpiresAt != nil {
				t.Fatalf("a retried job still expires at %v", got.ExpiresAt)
			}
		})
	}
}
