package store

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// JobStore is what writing job transitions needs of a Store.
type JobStore interface {
	Commit(ctx context.Context, tx Tx) error
	GetJob(ctx context.Context, id string) (*farm.Job, error)
}

// JobWriter writes job transitions the way every service does: one
// conditional write of the job as read, its history event in the same
// item. A transition that ends the job sets its expiry from the policy's
// JobRetention; one that starts it again (a retry) clears it.
type JobWriter struct {
	Store  JobStore
	Policy farm.Policy
	// Clock is time.Now unless a test sets it.
	Clock func() time.Time
}

// Now is the writer's clock as the store keeps times (see Now).
func (w JobWriter) Now() time.Time {
	if w.Clock == nil {
		return Now(time.Now)
	}
	return Now(w.Clock)
}

// Write commits one job transition with its event (nil: none).
func (w JobWriter) Write(ctx context.Context, prev, next *farm.Job, ev *farm.JobEvent) error {
	next.ExpiresAt = w.Policy.JobExpiry(next)
	next.Record(ev)
	return w.Store.Commit(ctx, Tx{Jobs: []JobWrite{{Prev: prev, Next: next, Event: ev}}})
}

// CompletionStore is what writing a completion patch needs of a Store.
type CompletionStore interface {
	CompleteJob(ctx context.Context, p *farm.CompletionPatch) (*farm.Job, error)
}

// Complete writes completion patch p to s, with the expiry the policy
// gives the job it finishes (as Write gives a finished job's image).
func (w JobWriter) Complete(ctx context.Context, s CompletionStore, p *farm.CompletionPatch) (*farm.Job, error) {
	p.ExpiresAt = w.Policy.JobExpiry(&farm.Job{Status: p.Status, FinishedAt: &p.FinishedAt})
	return s.CompleteJob(ctx, p)
}

// Transition applies one domain transition to job id with a conditional
// write, re-reading and re-deciding while it loses races. apply returns the
// next job and its event, or a nil job when there is nothing to change (the
// job is returned as read). Callers run the follow-up work of the result.
func (w JobWriter) Transition(ctx context.Context, id string, apply func(*farm.Job, time.Time) (*farm.Job, *farm.JobEvent, error)) (*farm.Job, error) {
	var result *farm.Job
	err := RetryOnConflict(ctx, func() error {
		now := w.Now()
		job, err := w.Store.GetJob(ctx, id)
		if err != nil {
			return err
		}
		next, ev, err := apply(job, now)
		if err != nil {
			return err
		}
		if next == nil {
			result = job
			return nil
		}
		if err := w.Write(ctx, job, next, ev); err != nil {
			return err
		}
		result = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}
