package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/scheduler"
)

// MaxActorLength bounds the requested_by filter (actors are short:
// "submitter:<token id>", "builder:<name>").
const MaxActorLength = 200

// IdempotencyKeyHeader may carry a submission's idempotency key.
const IdempotencyKeyHeader = "Idempotency-Key"

func (s *Server) submitJob(w http.ResponseWriter, r *http.Request) error {
	var req apiv1.SubmitJobRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	key, err := idempotencyKey(r, req.IdempotencyKey)
	if err != nil {
		return err
	}
	p := principal(r.Context())
	actor := p.Actor()
	job, created, err := s.sched.Submit(r.Context(), scheduler.SubmitRequest{
		Type:             req.Type,
		Payload:          req.Payload,
		Priority:         req.Priority,
		MaxAttempts:      req.MaxAttempts,
		TimeoutSeconds:   req.TimeoutSeconds,
		DependsOn:        req.DependsOn,
		IdempotencyKey:   key,
		IdempotencyScope: actor,
		RequestedBy:      actor,
		Privileged:       p.Role == farm.RoleAdmin,
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/jobs/"+job.ID)
	writeJSON(w, status, job)
	return nil
}

// idempotencyKey is the key of the header or of the body; both may be
// given only when they agree.
func idempotencyKey(r *http.Request, body string) (string, error) {
	// Values split at commas by a proxy are joined back.
	header := strings.TrimSpace(strings.Join(r.Header.Values(IdempotencyKeyHeader), ","))
	switch {
	case header == "":
		return body, nil
	case body == "" || body == header:
		return header, nil
	}
	return "", farm.FieldError("idempotency_key", "differs from the %s header; give one or make them equal", IdempotencyKeyHeader)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "status", "type", "pool", "requested_by", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit")
	if err != nil {
		return err
	}
	f := scheduler.JobFilter{Status: farm.JobStatus(q["status"]), Type: q["type"], Pool: q["pool"], RequestedBy: q["requested_by"], Limit: limit, Cursor: q["cursor"]}
	if len(f.RequestedBy) > MaxActorLength {
		return farm.FieldError("requested_by", "is longer than %d characters", MaxActorLength)
	}
	if f.Type != "" {
		if _, err := s.sched.Registry().Lookup(f.Type); err != nil {
			return err
		}
	}
	if f.Pool != "" {
		if err := farm.CheckName("pool", f.Pool); err != nil {
			return err
		}
	}
	if f, err = scheduler.NormalizeFilter(f); err != nil {
		return err
	}
	page, err := s.store.ListJobs(r.Context(), f)
	if err != nil {
		return err
	}
	out := apiv1.JobList{Jobs: page.Jobs, NextCursor: page.NextCursor}
	if out.Jobs == nil {
		out.Jobs = []*farm.Job{}
	}
	// Estimates are a courtesy: without them the jobs are still worth showing.
	if err := s.sched.EstimateStarts(r.Context(), out.Jobs); err != nil {
		s.log.WarnContext(r.Context(), "no start estimates", "err", err.Error())
	}
	out.Jobs = s.visibleJobs(principal(r.Context()), out.Jobs)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// job reads the job of the path.
func (s *Server) job(r *http.Request) (*farm.Job, error) {
	id, err := pathJobID(r)
	if err != nil {
		return nil, err
	}
	return s.store.GetJob(r.Context(), id)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	job, err := s.job(r)
	if err != nil {
		return err
	}
	if job.Status == farm.StatusQueued {
		// An estimate is a courtesy: without one the job is still worth showing.
		if err := s.sched.EstimateStart(r.Context(), job); err != nil {
			s.log.WarnContext(r.Context(), "no start estimate", "job_id", job.ID, "err", err.Error())
		}
	}
	writeJSON(w, http.StatusOK, s.visible(principal(r.Context()), job))
	return nil
}

func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	job, err := s.job(r)
	if err != nil {
		return err
	}
	events, err := s.store.JobEvents(r.Context(), job.ID)
	if err != nil {
		return err
	}
	if events == nil {
		events = []farm.JobEvent{}
	}
	writeJSON(w, http.StatusOK, apiv1.EventList{Events: events})
	return nil
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	return s.manageJob(w, r, s.sched.Cancel)
}

func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) error {
	return s.manageJob(w, r, s.sched.Retry)
}

// manageJob runs cancel or retry for the job's submitter or an admin.
func (s *Server) manageJob(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, actor, id string) (*farm.Job, error)) error {
	job, err := s.job(r)
	if err != nil {
		return err
	}
	p := principal(r.Context())
	if err := mayManageJob(p, job); err != nil {
		return err
	}
	if err := s.noBody(w, r); err != nil {
		return err
	}
	job, err = do(r.Context(), p.Actor(), job.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, job)
	return nil
}

func (s *Server) scoreJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	var req apiv1.ScoreRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.Score == nil {
		return farm.FieldError("score", "is required")
	}
	job, err := s.sched.PinScore(r.Context(), principal(r.Context()).Actor(), id, *req.Score)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, job)
	return nil
}
