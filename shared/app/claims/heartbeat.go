package claims

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// HeartbeatJob is one running job a builder reports.
type HeartbeatJob struct {
	ID         string
	ClaimToken string
	// Log is the job's log output since the last heartbeat, starting at
	// byte LogOffset of the run's log as the builder counts it (nil: the
	// builder does not count; the farm orders its chunks by arrival).
	Log       string
	LogOffset *int64
	Progress  string
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
	// Heartbeat and Lease are the farm's timings, for the builder to follow.
	Heartbeat, Lease time.Duration
	// Renewed are the jobs whose lease was renewed, at their new version
	// (what the builder's completion presumes: Report.Version).
	Renewed []Renewed
}

// Renewed is a job whose lease a heartbeat renewed, at its new version.
type Renewed struct {
	JobID   string
	Version int64
}

// Heartbeat limits.
const (
	// MaxHeartbeatJobs bounds the jobs one heartbeat reports: a builder's
	// running jobs and those it ran whose completion is on its way (its
	// slot takes the next job before the completion is answered; the
	// agent holds at most one such job per slot).
	MaxHeartbeatJobs = 2 * farm.MaxSlots
	// MaxProgress bounds a job's progress note.
	MaxProgress = 1000
	// MaxCompletedPerBeat bounds the jobs one heartbeat reports finished.
	MaxCompletedPerBeat = 1 << 20
)

// Heartbeat renews the leases of a builder's running jobs, appends their
// logs, records the builder as alive and tells it what to do.
func (s *Service) Heartbeat(ctx context.Context, builder string, jobs []HeartbeatJob, draining bool) (*HeartbeatResult, error) {
	return s.Beat(ctx, builder, Beat{Jobs: jobs, Draining: draining})
}

// Beat is one heartbeat as a builder sends it.
type Beat struct {
	Jobs []HeartbeatJob
	// Completed counts the jobs the builder finished since its last
	// answered heartbeat (its record's jobs_completed grows by it).
	Completed int
	Draining  bool
}

// Beat handles heartbeat hb of builder (see Heartbeat).
func (s *Service) Beat(ctx context.Context, builder string, hb Beat) (*HeartbeatResult, error) {
	if hb.Completed < 0 || hb.Completed > MaxCompletedPerBeat {
		return nil, farm.FieldError("jobs_completed", "must be between 0 and %d", MaxCompletedPerBeat)
	}
	jobs, err := checkHeartbeatJobs(hb.Jobs)
	if err != nil {
		return nil, err
	}
	now := s.jobs.Now()
	res := &HeartbeatResult{LeaseExpiresAt: now.Add(s.policy.Lease), Directives: []Directive{}, Heartbeat: s.policy.Heartbeat, Lease: s.policy.Lease}
	if _, err := s.store.GetBuilder(ctx, builder); farm.IsCode(err, farm.ENotFound) {
		res.Directives = append(res.Directives, Directive{Action: DirectiveReregister, Reason: "this farm does not know builder " + builder})
		return res, nil
	} else if err != nil {
		return nil, err
	}
	for _, hj := range jobs {
		d, version, err := s.renew(ctx, builder, hj, now)
		if err != nil {
			return nil, err
		}
		if version > 0 {
			res.Renewed = append(res.Renewed, Renewed{JobID: hj.ID, Version: version})
		}
		if d != nil {
			res.Directives = append(res.Directives, *d)
			res.Stale = res.Stale || (d.ClaimLost && d.Reason != reasonTimedOut)
		}
	}
	if res.Drain, err = s.builders.Beat(ctx, builder, hb.Completed, hb.Draining, now); err != nil {
		return nil, err
	}
	return res, nil
}

// checkHeartbeatJobs validates the reported jobs (ids case-insensitive).
func checkHeartbeatJobs(in []HeartbeatJob) ([]HeartbeatJob, error) {
	if len(in) > MaxHeartbeatJobs {
		return nil, farm.FieldError("jobs", "at most %d jobs", MaxHeartbeatJobs)
	}
	out := make([]HeartbeatJob, 0, len(in))
	seen := map[string]bool{}
	for i, j := range in {
		j.ID = strings.ToUpper(j.ID)
		if !farm.ValidID(j.ID) {
			return nil, farm.FieldError(fmt.Sprintf("jobs[%d].id", i), "%q is not a job id", farm.Clip(j.ID))
		}
		if seen[j.ID] {
			return nil, farm.FieldError(fmt.Sprintf("jobs[%d].id", i), "job %s is listed twice", j.ID)
		}
		seen[j.ID] = true
		if len(j.Progress) > MaxProgress {
			return nil, farm.FieldError(fmt.Sprintf("jobs[%d].progress", i), "is longer than %d characters", MaxProgress)
		}
		out = append(out, j)
	}
	return out, nil
}

const (
	reasonCancelRequested = "cancel requested"
	reasonTimedOut        = "the job exceeded its timeout"
)

// renew extends one job's lease and returns the job's version after it
// (0: not renewed); a directive comes back when the builder must stop the
// job.
func (s *Service) renew(ctx context.Context, builder string, hj HeartbeatJob, now time.Time) (*Directive, int64, error) {
	var directive *Directive
	run := 0 // the run whose lease was renewed
	var version int64
	err := store.RetryOnConflict(ctx, func() error {
		directive, run, version = nil, 0, 0
		job, err := s.store.GetJob(ctx, hj.ID)
		if farm.IsCode(err, farm.ENotFound) {
			directive = &Directive{JobID: hj.ID, Action: DirectiveCancel, Reason: "no such job", ClaimLost: true}
			return nil
		}
		if err != nil {
			return err
		}
		if job.Builder != builder || job.CheckClaim(hj.ClaimToken) != nil {
			reason := "claim is no longer valid: the job is " + string(job.Status)
			if job.Status == farm.StatusTimedOut && job.Builder == builder {
				reason = reasonTimedOut
			}
			directive = &Directive{JobID: hj.ID, Action: DirectiveCancel, Reason: reason, ClaimLost: true}
			return nil
		}
		next, err := job.Renew(hj.ClaimToken, now, s.policy.Lease, "", hj.Progress)
		if err != nil {
			return err
		}
		if job.Status == farm.StatusCancelling {
			directive = &Directive{JobID: hj.ID, Action: DirectiveCancel, Reason: reasonCancelRequested}
		}
		run = job.Run
		if err := s.jobs.Write(ctx, job, next, nil); err != nil {
			return err
		}
		s.written.remember(next)
		version = next.Version
		return nil
	})
	if err == nil && run > 0 {
		s.appendLog(ctx, hj, run, now)
	}
	return directive, version, err
}
