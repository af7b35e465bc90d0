package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/s3blobs"
	"github.com/buildfarm/buildfarm/shared/scheduler"
)

// sourceURLTTL is how long a claimed job's presigned source download lives.
const sourceURLTTL = time.Hour

func (s *Server) claim(w http.ResponseWriter, r *http.Request) error {
	name, err := pathBuilder(r)
	if err != nil {
		return err
	}
	var req apiv1.ClaimRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.Pool == "" {
		return farm.FieldError("pool", "is required")
	}
	if err := farm.CheckName("pool", req.Pool); err != nil {
		return err
	}
	if p := principal(r.Context()); !p.MayUsePool(req.Pool) {
		return forbidden("this token is bound to pools %s; it may not claim from pool %q", strings.Join(p.Pools, ", "), req.Pool)
	}
	job, err := s.sched.Claim(r.Context(), name, req.Pool)
	if err != nil {
		return err
	}
	if job == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	resp := apiv1.ClaimResponse{Job: job, ClaimToken: job.ClaimToken, SourceURL: s.sourceURL(r, job)}
	if job.LeaseExpiresAt != nil {
		resp.LeaseExpiresAt = *job.LeaseExpiresAt
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// sourceURL presigns a download of the job's source: an upload under the
// farm's incoming/ prefix (the only source a submitter may name), or for a
// follow-on job an artifact of its parent; pinned to the object version the
// payload names. Anything else gets no URL (the submit-time check refuses
// such sources; this holds for jobs stored before it). The claim stands
// without one: a failure is logged.
func (s *Server) sourceURL(r *http.Request, job *farm.Job) string {
	var p farm.Source
	if json.Unmarshal(job.Payload, &p) != nil {
		return ""
	}
	bucket, key, ok := s3blobs.ParseURL(p.Source)
	if !ok || bucket != s.blobs.Bucket() {
		return ""
	}
	fromParent := job.ParentID != "" && strings.HasPrefix(key, s3blobs.ArtifactPrefix(job.ParentID))
	if (farm.SourcePolicy{Bucket: bucket, Prefix: s3blobs.IncomingPrefix}).Check(p.Source) != nil && !fromParent {
		s.log.WarnContext(r.Context(), "job source outside incoming/ not presigned", "job_id", job.ID)
		return ""
	}
	pre, err := s.blobs.PresignDownload(r.Context(), s3blobs.Download{Key: key, VersionID: p.SourceVersion}, sourceURLTTL)
	if err != nil {
		s.log.ErrorContext(r.Context(), "cannot presign the job source", "job_id", job.ID, "err", err.Error())
		return ""
	}
	return pre.URL
}

// maxHeartbeatJobs bounds the jobs one heartbeat reports.
const maxHeartbeatJobs = farm.MaxSlots

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) error {
	name, err := pathBuilder(r)
	if err != nil {
		return err
	}
	var req apiv1.HeartbeatRequest
	if err := s.decodeOptional(w, r, &req); err != nil {
		return err
	}
	jobs, err := heartbeatJobs(req.Jobs)
	if err != nil {
		return err
	}
	res, err := s.sched.Heartbeat(r.Context(), name, jobs, req.Draining)
	if err != nil {
		return err
	}
	cfg := s.sched.Config()
	resp := apiv1.HeartbeatResponse{
		LeaseExpiresAt:   res.LeaseExpiresAt,
		Directives:       make([]apiv1.Directive, 0, len(res.Directives)),
		Drain:            res.Drain,
		HeartbeatSeconds: seconds(cfg.Heartbeat),
		LeaseSeconds:     seconds(cfg.Lease),
	}
	for _, d := range res.Directives {
		resp.Directives = append(resp.Directives, apiv1.Directive{JobID: d.JobID, Action: d.Action, Reason: d.Reason, ClaimLost: d.ClaimLost})
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

// heartbeatJobs validates the reported jobs.
func heartbeatJobs(in []apiv1.HeartbeatJob) ([]scheduler.HeartbeatJob, error) {
	if len(in) > maxHeartbeatJobs {
		return nil, farm.FieldError("jobs", "at most %d jobs", maxHeartbeatJobs)
	}
	out := make([]scheduler.HeartbeatJob, 0, len(in))
	seen := map[string]bool{}
	for i, j := range in {
		j.ID = strings.ToUpper(j.ID)
		if !farm.ValidID(j.ID) {
			return nil, farm.FieldError(fmt.Sprintf("jobs[%d].id", i), "%q is not a job id", clip(j.ID))
		}
		if seen[j.ID] {
			return nil, farm.FieldError(fmt.Sprintf("jobs[%d].id", i), "job %s is listed twice", j.ID)
		}
		seen[j.ID] = true
		if len(j.Progress) > maxProgress {
			return nil, farm.FieldError(fmt.Sprintf("jobs[%d].progress", i), "is longer than %d characters", maxProgress)
		}
		out = append(out, scheduler.HeartbeatJob{ID: j.ID, ClaimToken: j.ClaimToken, Log: j.Log, Progress: j.Progress})
	}
	return out, nil
}

// maxProgress bounds a job's progress note.
const maxProgress = 1000
