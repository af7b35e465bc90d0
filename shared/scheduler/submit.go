package scheduler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Submission limits.
const (
	MaxPriority          = 1_000_000
	MaxMaxAttempts       = 20
	MaxTimeoutSeconds    = 7 * 24 * 3600
	MaxDependsOn         = 20
	MaxIdempotencyKeyLen = 255
	MaxPayloadBytes      = 256 << 10
)

// SubmitRequest is a job to create.
type SubmitRequest struct {
	Type           string
	Payload        json.RawMessage
	Priority       *int64
	MaxAttempts    *int
	TimeoutSeconds *int
	DependsOn      []string
	// IdempotencyKey makes a repeat of the same request return the first job.
	IdempotencyKey string
	// IdempotencyScope keeps keys of different callers apart (the submitter's identity).
	IdempotencyScope string
	RequestedBy      string
	ParentID         string
	// Internal allows internal job types (the farm's own jobs).
	Internal bool
}

// Submit validates a request and stores the job, then rings its pool's
// doorbell. created is false when an idempotency key returned an earlier job.
func (s *Scheduler) Submit(ctx context.Context, req SubmitRequest) (job *farm.Job, created bool, err error) {
	now := s.clock()
	job, err = s.newJob(req, now)
	if err != nil {
		return nil, false, err
	}
	var idem *farm.Idempotency
	if req.IdempotencyKey != "" {
		idem = &farm.Idempotency{
			Key:         "submit:" + req.IdempotencyScope + ":" + req.IdempotencyKey,
			Status:      farm.IdempotencyCompleted,
			RequestHash: requestHash(job),
			JobID:       job.ID,
			CreatedAt:   now,
			ExpiresAt:   now.Add(s.cfg.IdempotencyTTL),
		}
		job.IdempotencyKey = req.IdempotencyKey
	}
	err = retryOnConflict(ctx, func() error { return s.create(ctx, job, idem, now) })
	if errors.Is(err, ErrIdempotencyKeyTaken) {
		return s.replay(ctx, idem, now)
	}
	if err != nil {
		return nil, false, err
	}
	if job.Status == farm.StatusQueued {
		s.ring(ctx, job, 0)
	}
	s.log.InfoContext(ctx, "job submitted", "job_id", job.ID, "type", job.Type, "pool", job.Pool, "score", job.Score, "status", job.Status)
	return job, true, nil
}

// replay answers a repeated idempotency key with the first job, or refuses a
// different request under the same key.
func (s *Scheduler) replay(ctx context.Context, idem *farm.Idempotency, now time.Time) (*farm.Job, bool, error) {
	rec, err := s.store.GetIdempotency(ctx, idem.Key, now)
	if err != nil {
		return nil, false, err
	}
	if rec.RequestHash != idem.RequestHash {
		return nil, false, farm.Errorf(farm.EIdempotencyMismatch, "idempotency key was first used with a different request (job %s)", rec.JobID)
	}
	job, err := s.store.GetJob(ctx, rec.JobID)
	if err != nil {
		return nil, false, err
	}
	return job, false, nil
}

// requestHash identifies what was asked, independent of when and by whom.
func requestHash(j *farm.Job) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%s\x00%s", j.Type, j.Payload, j.Priority, j.MaxAttempts, j.TimeoutSeconds, strings.Join(j.DependsOn, ","), j.ParentID)
	return hex.EncodeToString(h.Sum(nil))
}

// newJob validates a request into a job (not yet stored).
func (s *Scheduler) newJob(req SubmitRequest, now time.Time) (*farm.Job, error) {
	typ, err := s.registry.Lookup(req.Type)
	if err != nil {
		return nil, err
	}
	if typ.Internal() && !req.Internal {
		return nil, farm.FieldError("type", "%s jobs are created by the farm itself, not submitted", req.Type)
	}
	if len(req.Payload) > MaxPayloadBytes {
		return nil, farm.FieldError("payload", "is larger than %d bytes", MaxPayloadBytes)
	}
	args, err := typ.Parse(req.Payload)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(args)
	if err != nil {
		return nil, farm.Internal(err)
	}
	pool := typ.Pool(args)
	if !s.pools[pool] {
		return nil, farm.FieldError("payload", "jobs of this payload run in builder pool %q, which this farm does not serve (pools: %s)", pool, strings.Join(s.poolList, ", "))
	}
	var priority int64
	if req.Priority != nil {
		priority = *req.Priority
		if priority < -MaxPriority || priority > MaxPriority {
			return nil, farm.FieldError("priority", "must be between %d and %d", -MaxPriority, MaxPriority)
		}
	}
	d := typ.Defaults()
	maxAttempts, timeout := d.MaxAttempts, d.TimeoutSeconds
	if req.MaxAttempts != nil {
		if maxAttempts = *req.MaxAttempts; maxAttempts < 1 || maxAttempts > MaxMaxAttempts {
			return nil, farm.FieldError("max_attempts", "must be between 1 and %d", MaxMaxAttempts)
		}
	}
	if req.TimeoutSeconds != nil {
		if timeout = *req.TimeoutSeconds; timeout < 1 || timeout > MaxTimeoutSeconds {
			return nil, farm.FieldError("timeout_seconds", "must be between 1 and %d", MaxTimeoutSeconds)
		}
	}
	if len(req.IdempotencyKey) > MaxIdempotencyKeyLen {
		return nil, farm.FieldError("idempotency_key", "is longer than %d characters", MaxIdempotencyKeyLen)
	}
	if len(req.DependsOn) > MaxDependsOn {
		return nil, farm.FieldError("depends_on", "at most %d dependencies", MaxDependsOn)
	}
	for i, id := range req.DependsOn {
		if !farm.ValidID(id) {
			return nil, farm.FieldError(fmt.Sprintf("depends_on[%d]", i), "%q is not a job id", id)
		}
		if slices.Index(req.DependsOn, id) != i {
			return nil, farm.FieldError(fmt.Sprintf("depends_on[%d]", i), "job %s is listed twice", id)
		}
	}
	// Follow-on jobs a payload declares are validated now, not when the job succeeds.
	if specs, err := typ.FollowOns(args, &farm.Job{}); err == nil {
		for i, f := range specs {
			prio := f.Priority
			if _, err := s.newJob(SubmitRequest{Type: f.Type, Payload: f.Payload, Priority: &prio}, now); err != nil {
				var fe *farm.Error
				if errors.As(err, &fe) && fe.Code == farm.EInvalid {
					return nil, farm.FieldError(fmt.Sprintf("payload.then[%d]", i), "%s", fe.Message)
				}
				return nil, err
			}
		}
	}
	return &farm.Job{
		ID:             farm.NewID(now),
		Type:           typ.Kind(),
		Status:         farm.StatusQueued,
		Pool:           pool,
		Score:          typ.Score(args, priority),
		Priority:       priority,
		Payload:        payload,
		RequestedBy:    req.RequestedBy,
		CreatedAt:      now,
		MaxAttempts:    maxAttempts,
		TimeoutSeconds: timeout,
		ParentID:       req.ParentID,
		DependsOn:      slices.Clone(req.DependsOn),
		Version:        1,
	}, nil
}

// create writes the job with its first event. A job with dependencies waits,
// and is registered on each unfinished dependency in the same transaction
// (conditional on the dependency not having changed), so a dependency that
// finishes concurrently can never miss it.
func (s *Scheduler) create(ctx context.Context, job *farm.Job, idem *farm.Idempotency, now time.Time) error {
	tx := Tx{Idempotency: idem}
	job.Status, job.Error, job.Result, job.QueuedAt, job.FinishedAt = farm.StatusQueued, "", "", nil, nil
	detail := "submitted by " + job.RequestedBy
	for i, id := range job.DependsOn {
		dep, err := s.store.GetJob(ctx, id)
		if farm.IsCode(err, farm.ENotFound) {
			return farm.FieldError(fmt.Sprintf("depends_on[%d]", i), "job %s does not exist", id)
		}
		if err != nil {
			return err
		}
		switch {
		case dep.Status == farm.StatusSucceeded:
			continue
		case dep.Status.Terminal():
			job.Status = farm.StatusFailed
			job.Result = string(farm.StatusFailed)
			job.Error = fmt.Sprintf("dependency %s %s", dep.ID, dep.Status)
			job.FinishedAt = farm.TimePtr(now)
			detail = job.Error
		default:
			if job.Status != farm.StatusFailed {
				job.Status = farm.StatusWaiting
			}
			next := dep.Touched()
			next.Dependents = append(next.Dependents, job.ID)
			tx.Jobs = append(tx.Jobs, JobWrite{Prev: dep, Next: next})
		}
	}
	if job.Status == farm.StatusFailed {
		tx.Jobs = nil // nothing to wait for
	}
	if job.Status == farm.StatusQueued {
		job.QueuedAt = farm.TimePtr(now)
	}
	ev := &farm.JobEvent{JobID: job.ID, Seq: farm.SeqFor(job.Version), At: now, To: job.Status, Actor: job.RequestedBy, Detail: detail, ExpiresAt: s.eventExpiry(now)}
	tx.Jobs = append(tx.Jobs, JobWrite{Next: job, Event: ev})
	return s.store.Commit(ctx, tx)
}
