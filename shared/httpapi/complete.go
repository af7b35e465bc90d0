package httpapi

import (
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/s3blobs"
)

// MaxErrorText bounds the error a builder reports; longer ones are cut.
const MaxErrorText = 4096

// completeJob records the result of the builder holding the job's claim:
// the named artifacts (each must have been uploaded), and the log — the
// builder's own upload of this attempt, or else the tail the API has, stored
// now so that a finished job always has a stored log.
func (s *Server) completeJob(w http.ResponseWriter, r *http.Request) error {
	job, err := s.job(r)
	if err != nil {
		return err
	}
	var req apiv1.CompleteRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	switch farm.JobStatus(req.Result) {
	case farm.StatusSucceeded, farm.StatusFailed, farm.StatusCancelled:
	case "":
		return farm.FieldError("result", "is required (succeeded or failed)")
	default:
		return farm.FieldError("result", "must be succeeded or failed, not %q", clip(req.Result))
	}
	if err := checkArtifactNames(req.Artifacts); err != nil {
		return err
	}
	builder, err := claimHolder(r, job, req.ClaimToken)
	if err != nil {
		return err
	}
	artifacts, err := s.uploadedArtifacts(r, job, req.Artifacts)
	if err != nil {
		return err
	}
	logKey := s.storeLog(r, job, req.Log)
	done, err := s.sched.Complete(r.Context(), builder, job.ID, farm.Completion{
		ClaimToken: req.ClaimToken,
		Result:     farm.JobStatus(req.Result),
		Error:      truncate(req.Error, MaxErrorText),
		ExitCode:   req.ExitCode,
		Artifacts:  artifacts,
		LogKey:     logKey,
		LogAppend:  req.Log,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.visible(principal(r.Context()), done))
	return nil
}

// uploadedArtifacts describes the named artifacts from the bucket; a name
// with no object is an EInvalid error naming it.
func (s *Server) uploadedArtifacts(r *http.Request, job *farm.Job, names []string) ([]farm.Artifact, error) {
	out := []farm.Artifact{}
	if len(names) == 0 {
		return out, nil
	}
	objects, err := s.blobs.List(r.Context(), s3blobs.ArtifactPrefix(job.ID))
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]s3blobs.Object, len(objects))
	for _, o := range objects {
		byKey[o.Key] = o
	}
	for i, n := range names {
		key := s3blobs.ArtifactKey(job.ID, n)
		o, ok := byKey[key]
		if !ok {
			return nil, farm.FieldError(fmt.Sprintf("artifacts[%d]", i), "%q was not uploaded (no object at %s)", n, key)
		}
		out = append(out, farm.Artifact{Name: n, Bucket: s.blobs.Bucket(), Key: key, Size: o.Size})
	}
	return out, nil
}

// logClockSlack tolerates clock skew between the API and S3 when telling a
// log uploaded in this attempt from one left by an earlier attempt (which
// ended at least a lease before this one started).
const logClockSlack = 15 * time.Second

// storeLog returns the key of the job's stored log: the builder's upload
// when it made one in this attempt, else the tail (and final text) the API
// has, written now. It returns "" when storage fails: the job still
// completes and its log is then the tail kept on the job.
func (s *Server) storeLog(r *http.Request, job *farm.Job, final string) string {
	ctx := r.Context()
	key := s3blobs.LogKey(job.ID)
	obj, err := s.blobs.Head(ctx, key)
	switch {
	case err == nil && job.StartedAt != nil && obj.LastModified.After(job.StartedAt.Add(-logClockSlack)):
		return key
	case err != nil && !farm.IsCode(err, farm.ENotFound):
		s.log.WarnContext(ctx, "cannot check for an uploaded log", "job_id", job.ID, "err", err.Error())
	}
	text := tail(job.LogTail+final, farm.MaxLogTail)
	if err := s.blobs.Put(ctx, key, "text/plain; charset=utf-8", []byte(text)); err != nil {
		s.log.WarnContext(ctx, "cannot store the log; the job keeps its tail", "job_id", job.ID, "err", err.Error())
		return ""
	}
	return key
}

// tail returns at most max bytes of the end of s, starting on a rune.
func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	for i := 0; i < len(s) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(s[i]) {
			return s[i:]
		}
	}
	return s
}

// truncate cuts s to at most max bytes, on a rune boundary.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}
