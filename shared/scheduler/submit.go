package scheduler

import (
	"bytes"
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
	// MaxPriority bounds an admin's priority (±); MaxSubmitterPriority a
	// submitter's, kept below what the admin-only score inputs (a private
	// archive's bonus, a pinned score) give, so that no payload or priority
	// a submitter chooses buys a place above them.
	MaxPriority          = 1_000_000
	MaxSubmitterPriority = 1000
	MaxMaxAttempts       = 20
	MaxTimeoutSeconds    = 7 * 24 * 3600
	MaxDependsOn         = 20
	// DefaultMaxDependents bounds the jobs that may wait for one job
	// (Config.MaxDependents).
	DefaultMaxDependents = 1000
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
	// Privileged (an admin's request) may set the payload fields a type
	// keeps for admins and priorities up to ±MaxPriority.
	Privileged bool
}

// Submit validates a request and stores the job, then rings its pool's
// doorbell. created is false when an idempotency key returned an earlier job.
//
// With an idempotency key it follows Powertools' idempotency record: first
// the record is claimed (in progress, naming the new job's id), then the job
// is written, then the record is completed. A repeat finds the record: a
// different request under the key is refused; the same request gets the
// job, and if the first attempt died before writing it, the repeat writes
// it under the recorded id, so there is still exactly one job.
func (s *Scheduler) Submit(ctx context.Context, req SubmitRequest) (job *farm.Job, created bool, err error) {
	now := s.clock()
	job, err = s.newJob(req, now)
	if err != nil {
		return nil, false, err
	}
	if req.IdempotencyKey == "" {
		if err := s.create(ctx, job, now); err != nil {
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
		ExpiresAt:   now.Add(s.cfg.IdempotencyTTL),
	}
	err = s.store.Commit(ctx, Tx{Idempotency: &IdempotencyWrite{Next: rec}})
	if errors.Is(err, ErrIdempotencyKeyTaken) {
		return s.replay(ctx, job, rec, now)
	}
	if err != nil {
		return nil, false, err
	}
	if err := s.create(ctx, job, now); err != nil {
		return nil, false, err
	}
	s.completeIdempotency(ctx, rec)
	s.submitted(ctx, job)
	return job, true, nil
}

func (s *Scheduler) submitted(ctx context.Context, job *farm.Job) {
	if job.Status == farm.StatusQueued {
		s.ring(ctx, job, 0)
	}
	s.log.InfoContext(ctx, "job submitted", "job_id", job.ID, "type", job.Type, "pool", job.Pool, "score", job.Score, "status", job.Status)
}

// completeIdempotency marks a record completed once its job exists. Failing
// to is harmless: a repeat finds the job either way.
func (s *Scheduler) completeIdempotency(ctx context.Context, rec *farm.Idempotency) {
	done := *rec
	done.Status = farm.IdempotencyCompleted
	if err := s.store.Commit(ctx, Tx{Idempotency: &IdempotencyWrite{Prev: rec, Next: &done}}); err != nil {
		s.log.WarnContext(ctx, "idempotency record not marked completed", "key", rec.Key, "job_id", rec.JobID, "err", err)
	}
}

// replay answers a repeated idempotency key.
func (s *Scheduler) replay(ctx context.Context, job *farm.Job, want *farm.Idempotency, now time.Time) (*farm.Job, bool, error) {
	rec, err := s.store.GetIdempotency(ctx, want.Key, now)
	if farm.IsCode(err, farm.ENotFound) {
		// It expired between the two calls: take the key afresh.
		return nil, false, LostRace("idempotency record of %q expired; submit again", want.Key)
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
	if err := s.create(ctx, job, now); errors.Is(err, ErrLostRace) {
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
	if src, ok := args.(farm.ObjectSource); ok && !req.Internal {
		// The farm's own jobs (follow-ons) may name what it made; a
		// submitter only what was uploaded under incoming/.
		if err := s.sources.Check(src.ObjectSource().Source); err != nil {
			var fe *farm.Error
			if errors.As(err, &fe) {
				return nil, farm.FieldError("payload."+fe.Field, "%s", strings.TrimPrefix(fe.Message, fe.Field+": "))
			}
			return nil, err
		}
	}
	payload, err := storedPayload(args)
	if err != nil {
		return nil, err
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
	if err := checkPrivileges(req, typ, args); err != nil {
		return nil, err
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
			if _, err := s.newJob(SubmitRequest{Type: f.Type, Payload: f.Payload, Priority: &prio, Privileged: req.Privileged}, now); err != nil {
				var fe *farm.Error
				if errors.As(err, &fe) && (fe.Code == farm.EInvalid || fe.Code == farm.EForbidden) {
					field := fmt.Sprintf("payload.then[%d]", i)
					return nil, &farm.Error{Code: fe.Code, Field: field, Message: field + ": " + fe.Message}
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

// checkPrivileges refuses what only an admin may ask for: payload fields
// the type keeps for admins, and priorities beyond ±MaxSubmitterPriority.
// The farm's own jobs (follow-ons) were checked when their parent was
// submitted.
func checkPrivileges(req SubmitRequest, typ farm.JobType, args farm.Args) error {
	if req.Privileged || req.Internal {
		return nil
	}
	if fields := typ.Privileged(args); len(fields) > 0 {
		field := "payload." + fields[0]
		return &farm.Error{Code: farm.EForbidden, Field: field, Message: fmt.Sprintf("%s: only an admin may set %s (it raises the job's score above other submitters' jobs)", field, strings.Join(fields, ", "))}
	}
	if req.Priority != nil && (*req.Priority < -MaxSubmitterPriority || *req.Priority > MaxSubmitterPriority) {
		return &farm.Error{Code: farm.EForbidden, Field: "priority", Message: fmt.Sprintf("priority: must be between %d and %d (admins: ±%d)", -MaxSubmitterPriority, MaxSubmitterPriority, MaxPriority)}
	}
	return nil
}

// storedPayload is the payload as the job keeps it: the parsed args
// encoded again (defaults filled in), without HTML escaping ('<' stays one
// byte, not six), and within MaxPayloadBytes in that form, which is what
// the store and every reader see.
func storedPayload(args farm.Args) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(args); err != nil {
		return nil, farm.Internal(err)
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(payload) > MaxPayloadBytes {
		return nil, farm.FieldError("payload", "is %d bytes once stored (characters such as U+2028 take six bytes in JSON), more than the %d allowed", len(payload), MaxPayloadBytes)
	}
	return payload, nil
}
