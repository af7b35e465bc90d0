package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

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
	job, created, err := s.jobs.Submit(r.Context(), admission.Request{
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
	f := store.JobFilter{Status: farm.JobStatus(q["status"]), Type: q["type"], Pool: q["pool"], RequestedBy: q["requested_by"], Limit: limit, Cursor: q["cursor"]}
	page, err := s.jobs.List(r.Context(), principal(r.Context()), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.JobList{Jobs: page.Jobs, NextCursor: page.NextCursor})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	job, err := s.jobs.Get(r.Context(), principal(r.Context()), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, job)
	return nil
}

func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	events, err := s.jobs.Events(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.EventList{Events: events})
	return nil
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	return s.manageJob(w, r, s.jobs.Cancel)
}

func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) error {
	return s.manageJob(w, r, s.jobs.Retry)
}

// manageJob runs cancel or retry (the service checks the caller is the
// job's submitter or an admin).
func (s *Server) manageJob(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, by farm.Principal, id string) (*farm.Job, error)) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	if err := s.noBody(w, r); err != nil {
		return err
	}
	job, err := do(r.Context(), principal(r.Context()), id)
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
	job, err := s.jobs.PinScore(r.Context(), principal(r.Context()), id, *req.Score)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, job)
	return nil
}
