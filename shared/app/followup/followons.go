package followup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// createFollowOns creates the follow-on jobs of a succeeded job, once, from
// the job as its caller has it (just written, or a stream record's image).
// Their ids derive from the parent's, so when the API and the dispatcher
// both get here, the second finds the first's jobs; the parent's
// follow_ons_created flag is set last.
func (s *Service) createFollowOns(ctx context.Context, parent *farm.Job) error {
	parentID := parent.ID
	now := s.jobs.Now()
	children, err := s.followOnJobs(parent, now)
	if err != nil {
		s.log.ErrorContext(ctx, "follow-on jobs refused; none created", "job_id", parent.ID, "err", err)
	}
	for _, c := range children {
		ev := &farm.JobEvent{JobID: c.ID, Seq: farm.SeqFor(c.Version), At: now, To: c.Status, Actor: "dispatcher", Detail: "follow-on of " + parent.ID}
		err := s.jobs.Write(ctx, nil, c, ev)
		if errors.Is(err, store.ErrLostRace) {
			continue // created already
		}
		if err != nil {
			return err
		}
		s.Ring(ctx, c, 0)
	}
	first := true
	return store.RetryOnConflict(ctx, func() error {
		if !first {
			var err error
			if parent, err = s.store.GetJob(ctx, parentID); err != nil || parent.FollowOnsCreated {
				return err
			}
		}
		first = false
		next := parent.Touched()
		next.FollowOnsCreated = true
		return s.store.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: parent, Next: next}}})
	})
}

// declaresFollowOns reports whether a job's type and payload ask for
// follow-on jobs (most jobs do not, and are then never read or written again).
func (s *Service) declaresFollowOns(job *farm.Job) bool {
	specs, err := s.followOnSpecs(job)
	return err != nil || len(specs) > 0
}

// followOnSpecs are the follow-on jobs job's type declares for its payload.
func (s *Service) followOnSpecs(job *farm.Job) ([]farm.FollowOn, error) {
	typ, err := s.admit.Registry().Lookup(job.Type)
	if err != nil {
		return nil, err
	}
	args, err := typ.Parse(job.Payload)
	if err != nil {
		return nil, err
	}
	return typ.FollowOns(args, job)
}

// followOnJobs builds (without storing) the follow-on jobs of parent.
func (s *Service) followOnJobs(parent *farm.Job, now time.Time) ([]*farm.Job, error) {
	specs, err := s.followOnSpecs(parent)
	if err != nil {
		return nil, err
	}
	var out []*farm.Job
	for i, f := range specs {
		prio := f.Priority
		j, err := s.admit.NewJob(admission.Request{Type: f.Type, Payload: f.Payload, Priority: &prio, RequestedBy: parent.RequestedBy, ParentID: parent.ID, Internal: true}, now)
		if err != nil {
			return nil, fmt.Errorf("follow-on %d: %w", i, err)
		}
		finished := now
		if parent.FinishedAt != nil {
			finished = *parent.FinishedAt
		}
		j.ID = farm.DerivedID(finished, fmt.Sprintf("%s/follow-on/%d", parent.ID, i))
		j.QueuedAt = farm.TimePtr(now)
		out = append(out, j)
	}
	return out, nil
}
