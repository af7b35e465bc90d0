package scheduler

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// HeartbeatJob is one running job a builder reports.
type HeartbeatJob struct {
	ID         string
	ClaimToken string
	Log        string
	Progress   string
}

// Directive actions.
const (
	DirectiveCancel     = "cancel"
	DirectiveReregister = "reregister"
)

// Directive tells a builder what to do.
type Directive struct {
	JobID  string
	Action string
	Reason string
	// ClaimLost marks a cancel for a job the builder no longer owns: it stops
	// the job, and its result would be refused.
	ClaimLost bool
}

// HeartbeatResult is what a heartbeat answers.
type HeartbeatResult struct {
	LeaseExpiresAt time.Time
	Directives     []Directive
	Drain          bool
	// Stale is set when a reported claim was no longer valid: the builder must
	// stop that job (a cancel directive names it); the API answers 409.
	Stale bool
}

// Heartbeat renews the leases of a builder's running jobs, appends their
// logs, records the builder as alive and tells it what to do.
func (s *Scheduler) Heartbeat(ctx context.Context, builderName string, jobs []HeartbeatJob, draining bool) (*HeartbeatResult, error) {
	now := s.clock()
	res := &HeartbeatResult{LeaseExpiresAt: now.Add(s.cfg.Lease), Directives: []Directive{}}
	if _, err := s.store.GetBuilder(ctx, builderName); farm.IsCode(err, farm.ENotFound) {
		res.Directives = append(res.Directives, Directive{Action: DirectiveReregister, Reason: "this farm does not know builder " + builderName})
		return res, nil
	} else if err != nil {
		return nil, err
	}
	for _, hj := range jobs {
		d, err := s.renew(ctx, builderName, hj, now)
		if err != nil {
			return nil, err
		}
		if d != nil {
			res.Directives = append(res.Directives, *d)
			res.Stale = res.Stale || (d.ClaimLost && d.Reason != reasonTimedOut)
		}
	}
	err := retryOnConflict(ctx, func() error {
		b, err := s.store.GetBuilder(ctx, builderName)
		if err != nil {
			return err
		}
		nb := b.Clone()
		nb.LastHeartbeat = farm.TimePtr(now)
		if nb.State == farm.BuilderLost {
			nb.State = farm.BuilderIdle
		}
		nb.Draining = draining
		// Forget jobs the builder no longer holds (finished or taken away).
		nb.CurrentJobs = s.heldJobs(ctx, b)
		nb.Refresh()
		nb.UpdatedAt = now
		nb.Version++
		res.Drain = nb.Disabled || nb.Draining || nb.DrainRequested
		return s.store.Commit(ctx, Tx{Builders: []BuilderWrite{{Prev: b, Next: nb}}})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

const (
	reasonCancelRequested = "cancel requested"
	reasonTimedOut        = "the job exceeded its timeout"
)

// renew extends one job's lease; a directive comes back when the builder
// must stop the job.
func (s *Scheduler) renew(ctx context.Context, builderName string, hj HeartbeatJob, now time.Time) (*Directive, error) {
	var directive *Directive
	err := retryOnConflict(ctx, func() error {
		directive = nil
		job, err := s.store.GetJob(ctx, hj.ID)
		if farm.IsCode(err, farm.ENotFound) {
			directive = &Directive{JobID: hj.ID, Action: DirectiveCancel, Reason: "no such job", ClaimLost: true}
			return nil
		}
		if err != nil {
			return err
		}
		if job.Builder != builderName || job.CheckClaim(hj.ClaimToken) != nil {
			reason := "claim is no longer valid: the job is " + string(job.Status)
			if job.Status == farm.StatusTimedOut && job.Builder == builderName {
				reason = reasonTimedOut
			}
			directive = &Directive{JobID: hj.ID, Action: DirectiveCancel, Reason: reason, ClaimLost: true}
			return nil
		}
		next, err := job.Renew(hj.ClaimToken, now, s.cfg.Lease, hj.Log, hj.Progress)
		if err != nil {
			return err
		}
		if job.Status == farm.StatusCancelling {
			directive = &Directive{JobID: hj.ID, Action: DirectiveCancel, Reason: reasonCancelRequested}
		}
		return s.write(ctx, job, next, nil)
	})
	return directive, err
}

// heldJobs returns the jobs on b's record that b still holds (active, its
// claim): a job finished or taken away is dropped.
func (s *Scheduler) heldJobs(ctx context.Context, b *farm.Builder) []string {
	held := make([]string, 0, len(b.CurrentJobs))
	for _, id := range b.CurrentJobs {
		if j, err := s.store.GetJob(ctx, id); err == nil && j.Status.Active() && j.Builder == b.Name {
			held = append(held, id)
		}
	}
	return held
}
