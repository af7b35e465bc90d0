package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/s3blobs"
)

// MaxErrorText bounds the error a builder reports; longer ones are cut.
const MaxErrorText = 4096

// completeJob records the result of the builder holding the job's claim:
// the named artifacts of this run (each must have been uploaded), and the log — the
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
	if err := checkArtifactRefs(req.Artifacts); err != nil {
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

// uploadedArtifacts describes the named artifacts of the job's current run
// from the bucket (size, and the version to pin on a versioned bucket); a
// name with no object is an EInvalid error naming it. A SHA-256 the builder
// did not give is computed here for objects up to MaxServerHashBytes.
func (s *Server) uploadedArtifacts(r *http.Request, job *farm.Job, refs []apiv1.ArtifactRef) ([]farm.Artifact, error) {
	out := make([]farm.Artifact, len(refs))
	g, ctx := errgroup.WithContext(r.Context())
	g.SetLimit(8)
	for i, ref := range refs {
		g.Go(func() error {
			key := s3blobs.ArtifactKey(job.ID, job.Run, ref.Name)
			o, err := s.blobs.Head(ctx, key)
			if farm.IsCode(err, farm.ENotFound) {
				return farm.FieldError(fmt.Sprintf("artifacts[%d]", i), "%q was not uploaded (no object at %s)", ref.Name, key)
			}
			if err != nil {
				return err
			}
			sum := ref.SHA256
			if sum == "" {
				sum = s.objectSHA256(ctx, key, o.Size)
			}
			out[i] = farm.Artifact{Name: ref.Name, Bucket: s.blobs.Bucket(), Key: key, Size: o.Size, SHA256: sum, Attempt: job.Run, VersionID: o.VersionID}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// MaxServerHashBytes bounds the artifacts whose SHA-256 the API computes
// itself when a builder did not send one (an API request has seconds, not
// minutes).
const MaxServerHashBytes = 64 << 20

// objectSHA256 reads an object and returns its hex SHA-256, or "" when it
// is too large or cannot be read (the artifact is then listed without one).
func (s *Server) objectSHA256(ctx context.Context, key string, size int64) string {
	if size > MaxServerHashBytes {
		return ""
	}
	body, _, err := s.blobs.Get(ctx, key)
	if err != nil {
		s.log.WarnContext(ctx, "artifact not hashed", "key", key, "err", err.Error())
		return ""
	}
	defer body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(body, MaxServerHashBytes+1)); err != nil {
		s.log.WarnContext(ctx, "artifact not hashed", "key", key, "err", err.Error())
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
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
