package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Submit validates a request and stores the job, then rings its pool's
// doorbell. created is false when an idempotency key returned an earlier job.
//
// With an idempotency key it follows Powertools' idempotency record: first
// the record is claimed (in progress, naming the new job's id), then the job
// is written, then the record is completed. A repeat finds the record: a
// different request under the key is refused; the same request gets the
// job, and if the first attempt died before writing it, the repeat writes
// it under the recorded id, so there is still exactly one job.
func (s *Service) Submit(ctx context.Context, req admission.Request) (job *farm.Job, created bool, err error) {
	now := s.jobs.Now()
	job, err = s.admit.NewJob(req, now)
	if err != nil {
		return nil, false, err
	}
	if req.IdempotencyKey == "" {
		if err := s.Create(ctx, job, now); err != nil {
			return nil, false, err
		}
		s.submitted(ctx, job)
		return job, true, nil
	}
	job.IdempotencyKey = req.IdempotencyKey
	rec := &farm.Idempotency{
		Key:         "submit:" + req.IdempotencyScope + ":" + req.IdempotencyKey,
		Status:      farm.IdempotencyInProgress,
		RequestHash: requestHash(job),
		JobID:       job.ID,
		CreatedAt:   now,
		ExpiresAt:   now.Add(s.policy.IdempotencyTTL),
	}
	err = s.store.Commit(ctx, store.Tx{Idempotency: &store.IdempotencyWrite{Next: rec}})
	if errors.Is(err, store.ErrIdempotencyKeyTaken) {
		return s.replay(ctx, job, rec, now)
	}
	if err != nil {
		return nil, false, err
	}
	if err := s.Create(ctx, job, now); err != nil {
		return nil, false, err
	}
	s.completeIdempotency(ctx, rec)
	s.submitted(ctx, job)
	return job, true, nil
}

func (s *Service) submitted(ctx context.Context, job *farm.Job) {
	if job.Status == farm.StatusQueued {
		s.follow.Ring(ctx, job, 0)
	}
	s.log.DebugContext(ctx, "job submitted", "job_id", job.ID, "type", job.Type, "pool", job.Pool, "score", job.Score, "status", job.Status)
}

// completeIdempotency marks a record completed once its job exists. Failing
// to is harmless: a repeat finds the job either way.
func (s *Service) completeIdempotency(ctx context.Context, rec *farm.Idempotency) {
	done := *rec
	done.Status = farm.IdempotencyCompleted
	if err := s.store.Commit(ctx, store.Tx{Idempotency: &store.IdempotencyWrite{Prev: rec, Next: &done}}); err != nil {
		s.log.WarnContext(ctx, "idempotency record not marked completed", "key", rec.Key, "job_id", rec.JobID, "err", err)
	}
}

// replay answers a repeated idempotency key.
func (s *Service) replay(ctx context.Context, job *farm.Job, want *farm.Idempotency, now time.Time) (*farm.Job, bool, error) {
	rec, err := s.store.GetIdempotency(ctx, want.Key, now)
	if farm.IsCode(err, farm.ENotFound) {
		// It expired between the two calls: take the key afresh.
		return nil, false, store.LostRace("idempotency record of %q expired; submit again", want.Key)
	}
	if err != nil {
		return nil, false, err
	}
	if rec.RequestHash != want.RequestHash {
		return nil, false, farm.Errorf(farm.EIdempotencyMismatch, "idempotency key was first used with a different request (job %s)", rec.JobID)
	}
	existing, err := s.store.GetJob(ctx, rec.JobID)
	if err == nil {
		return existing, false, nil
	}
	if !farm.IsCode(err, farm.ENotFound) {
		return nil, false, err
	}
	// The first attempt recorded the key but never wrote its job (or is
	// writing it right now): write it under the recorded id.
	job.ID = rec.JobID
	if err := s.Create(ctx, job, now); errors.Is(err, store.ErrLostRace) {
		existing, err := s.store.GetJob(ctx, rec.JobID)
		return existing, false, err
	} else if err != nil {
		return nil, false, err
	}
	s.completeIdempotency(ctx, rec)
	s.submitted(ctx, job)
	return job, false, nil
}

// requestHash identifies what was asked, independent of when and by whom.
func requestHash(j *farm.Job) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%s\x00%s", j.Type, j.Payload, j.Priority, j.MaxAttempts, j.TimeoutSeconds, strings.Join(j.DependsOn, ","), j.ParentID)
	return hex.EncodeToString(h.Sum(nil))
}
