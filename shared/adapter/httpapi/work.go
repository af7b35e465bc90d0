package httpapi

import (
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func (s *Server) claim(w http.ResponseWriter, r *http.Request) error {
	name, err := pathBuilder(r)
	if err != nil {
		return err
	}
	var req apiv1.ClaimRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	held := claims.HeldUnknown
	if req.JobsHeld != nil {
		if held = *req.JobsHeld; held < 0 {
			return farm.FieldError("jobs_held", "must not be negative")
		}
	}
	c, err := s.claims.ClaimFor(r.Context(), principal(r.Context()), name, req.Pool, held)
	if err != nil {
		return err
	}
	if c == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	resp := apiv1.ClaimResponse{Job: c.Job, ClaimToken: c.Job.ClaimToken, SourceURL: c.SourceURL, MoreQueued: &c.MoreQueued}
	if p := c.LogUpload; p != nil {
		resp.LogUpload = &apiv1.ArtifactURL{Name: p.Name, Key: p.Key, URL: p.URL, Method: p.Method, Headers: p.Headers, ExpiresAt: p.ExpiresAt}
	}
	if c.Job.LeaseExpiresAt != nil {
		resp.LeaseExpiresAt = *c.Job.LeaseExpiresAt
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) error {
	name, err := pathBuilder(r)
	if err != nil {
		return err
	}
	var req apiv1.HeartbeatRequest
	if err := s.decodeOptional(w, r, &req); err != nil {
		return err
	}
	jobs := make([]claims.HeartbeatJob, 0, len(req.Jobs))
	for _, j := range req.Jobs {
		jobs = append(jobs, claims.HeartbeatJob{ID: j.ID, ClaimToken: j.ClaimToken, Log: j.Log, LogOffset: j.LogOffset, Progress: j.Progress})
	}
	res, err := s.claims.Beat(r.Context(), name, claims.Beat{Jobs: jobs, Completed: req.JobsCompleted, Draining: req.Draining})
	if err != nil {
		return err
	}
	resp := apiv1.HeartbeatResponse{
		LeaseExpiresAt:   res.LeaseExpiresAt,
		Directives:       make([]apiv1.Directive, 0, len(res.Directives)),
		Drain:            res.Drain,
		HeartbeatSeconds: seconds(res.Heartbeat),
		LeaseSeconds:     seconds(res.Lease),
	}
	for _, d := range res.Directives {
		resp.Directives = append(resp.Directives, apiv1.Directive{JobID: d.JobID, Action: d.Action, Reason: d.Reason, ClaimLost: d.ClaimLost})
	}
	for _, rj := range res.Renewed {
		resp.Renewed = append(resp.Renewed, apiv1.RenewedJob{JobID: rj.JobID, Version: rj.Version})
	}
	if res.Stale {
		writeJSON(w, http.StatusConflict, apiv1.HeartbeatConflict{
			ErrorBody: apiv1.ErrorBody{Error: apiv1.ErrorDetail{
				Code:      farm.EConflict,
				Message:   "a reported claim is stale or foreign: stop the jobs the cancel directives name; the other leases were renewed",
				RequestID: RequestID(r.Context()),
			}},
			HeartbeatResponse: resp,
		})
		return nil
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// artifactURL presigns an upload for the builder holding the job's claim:
// an artifact under artifacts/<id>/<run>/<name>, or the job's full log.
func (s *Server) artifactURL(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	var req apiv1.ArtifactURLRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	up, err := s.claims.UploadURL(r.Context(), principal(r.Context()), id, claims.UploadRequest{ClaimToken: req.ClaimToken, Kind: req.Kind, Name: req.Name})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.ArtifactURL{Name: up.Name, Key: up.Key, URL: up.URL, Method: up.Method, Headers: up.Headers, ExpiresAt: up.ExpiresAt})
	return nil
}

// completeJob records the result of the builder holding the job's claim.
func (s *Server) completeJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	var req apiv1.CompleteRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	refs := make([]claims.ArtifactRef, 0, len(req.Artifacts))
	for _, a := range req.Artifacts {
		refs = append(refs, claims.ArtifactRef{Name: a.Name, SHA256: a.SHA256, Size: a.Size, VersionID: a.VersionID})
	}
	done, err := s.claims.Complete(r.Context(), principal(r.Context()), id, claims.Report{
		ClaimToken:  req.ClaimToken,
		Result:      req.Result,
		Error:       req.Error,
		ExitCode:    req.ExitCode,
		Artifacts:   refs,
		Log:         req.Log,
		LogComplete: req.LogComplete,
		LogUploaded: req.LogUploaded,
		LogSize:     req.LogSize,
		Version:     req.Version,
		Run:         req.Run,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, done)
	return nil
}
