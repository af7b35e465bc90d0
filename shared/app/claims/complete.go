package claims

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Report is a builder's result for a job it ran, as it reports it.
type Report struct {
	ClaimToken string
	// Result is succeeded or failed (cancelled for a job being cancelled).
	Result   string
	Error    string
	ExitCode *int
	// Artifacts name what the run uploaded (artifacts/<id>/<run>/<name>).
	Artifacts []ArtifactRef
	// Log is the end of the log, not yet sent with a heartbeat.
	Log string
}

// ArtifactRef names an uploaded artifact, with its SHA-256 when the
// builder computed it.
type ArtifactRef struct {
	Name   string
	SHA256 string
}

// Completion limits.
const (
	// MaxErrorText bounds the error a builder reports; longer ones are cut.
	MaxErrorText = 4096
	// MaxArtifacts bounds the artifacts one run records.
	MaxArtifacts = 100
	// MaxServerHashBytes bounds the artifacts whose SHA-256 the farm
	// computes itself when a builder did not send one (an API request has
	// seconds, not minutes).
	MaxServerHashBytes = 64 << 20
)

// Complete records the result of the run by holds the claim of: the named
// artifacts of this run (each must have been uploaded), and the log — the
// builder's own upload of this attempt, or else the tail the farm has,
// stored now so that a finished job always has a stored log. The job comes
// back as by may see it.
func (s *Service) Complete(ctx context.Context, by farm.Principal, id string, r Report) (*farm.Job, error) {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	switch farm.JobStatus(r.Result) {
	case farm.StatusSucceeded, farm.StatusFailed, farm.StatusCancelled:
	case "":
		return nil, farm.FieldError("result", "is required (succeeded or failed)")
	default:
		return nil, farm.FieldError("result", "must be succeeded or failed, not %q", farm.Clip(r.Result))
	}
	if err := checkArtifactRefs(r.Artifacts); err != nil {
		return nil, err
	}
	if done, ok := s.recorded(by, job, r); ok {
		return s.registry.AsSeenBy(by, done), nil
	}
	builder, err := claimHolder(by, job, r.ClaimToken)
	if err != nil {
		return nil, err
	}
	artifacts, err := s.uploadedArtifacts(ctx, job, r.Artifacts)
	if err != nil {
		return nil, err
	}
	logKey := s.storeLog(ctx, job, r.Log)
	done, err := s.Record(ctx, builder, job.ID, farm.Completion{
		ClaimToken: r.ClaimToken,
		Result:     farm.JobStatus(r.Result),
		Error:      truncate(r.Error, MaxErrorText),
		ExitCode:   r.ExitCode,
		Artifacts:  artifacts,
		LogKey:     logKey,
		LogAppend:  r.Log,
	})
	if err != nil {
		return nil, err
	}
	return s.registry.AsSeenBy(by, done), nil
}

// recorded returns the job when it already holds the result r reports, by
// the builder by acts as: a retried completion whose first answer was lost.
func (s *Service) recorded(by farm.Principal, job *farm.Job, r Report) (*farm.Job, bool) {
	builder := by.Builder
	if by.Role == farm.RoleAdmin {
		builder = job.Builder
	}
	c := farm.Completion{ClaimToken: r.ClaimToken, Result: farm.JobStatus(r.Result), Error: truncate(r.Error, MaxErrorText)}
	return job, builder != "" && job.Recorded(builder, c)
}

// Record records builder's result for a job it holds, fenced by the claim
// token: a stale or foreign token is a conflict and changes nothing.
func (s *Service) Record(ctx context.Context, builder, id string, c farm.Completion) (*farm.Job, error) {
	var done *farm.Job
	err := store.RetryOnConflict(ctx, func() error {
		now := s.jobs.Now()
		job, err := s.store.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if job.Builder != builder && job.Status.Active() {
			return farm.Errorf(farm.EConflict, "job %s is held by another builder", id)
		}
		if job.Recorded(builder, c) {
			done = job // recorded already: this is a retry
			return nil
		}
		next, ev, err := job.Complete(builder, c, now)
		if err != nil {
			return err
		}
		if err := s.jobs.Write(ctx, job, next, ev); err != nil {
			return err
		}
		done = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	dirties := false
	if typ, err := s.registry.Lookup(done.Type); err == nil {
		dirties = typ.RequiresCleanBuilder()
	}
	// A builder that finishes work is healthy again; one that ran a job
	// that needs a clean machine is not clean any more until it is reset
	// and registers again. (Its count of jobs done comes with its next
	// heartbeat: most completions write no builder item.)
	s.builders.AfterRun(ctx, builder, done, dirties)
	s.log.InfoContext(ctx, "job completed", "job_id", id, "builder", builder, "status", done.Status)
	s.follow.After(ctx, done)
	return done, nil
}

// checkArtifactRefs validates the artifacts a completion names.
func checkArtifactRefs(refs []ArtifactRef) error {
	if len(refs) > MaxArtifacts {
		return farm.FieldError("artifacts", "at most %d artifacts", MaxArtifacts)
	}
	seen := map[string]bool{}
	for i, ref := range refs {
		field := fmt.Sprintf("artifacts[%d]", i)
		if err := farm.CheckArtifactName(field, ref.Name); err != nil {
			return err
		}
		if ref.SHA256 != "" && !sha256Hex.MatchString(ref.SHA256) {
			return farm.FieldError(field+".sha256", "must be 64 lowercase hex digits")
		}
		if seen[ref.Name] {
			return farm.FieldError(field, "%q is listed twice", ref.Name)
		}
		seen[ref.Name] = true
	}
	return nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// uploadedArtifacts describes the named artifacts of the job's current run
// from the bucket (size, and the version to pin on a versioned bucket); a
// name with no object is an EInvalid error naming it. A SHA-256 the builder
// did not give is computed here for objects up to MaxServerHashBytes.
func (s *Service) uploadedArtifacts(ctx context.Context, job *farm.Job, refs []ArtifactRef) ([]farm.Artifact, error) {
	out := make([]farm.Artifact, len(refs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, ref := range refs {
		g.Go(func() error {
			key := blobs.ArtifactKey(job.ID, job.Run, ref.Name)
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

// objectSHA256 reads an object and returns its hex SHA-256, or "" when it
// is too large or cannot be read (the artifact is then listed without one).
func (s *Service) objectSHA256(ctx context.Context, key string, size int64) string {
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

// logClockSlack tolerates clock skew between the farm and S3 when telling
// a log uploaded in this attempt from one left by an earlier attempt
// (which ended at least a lease before this one started).
const logClockSlack = 15 * time.Second

// storeLog returns the key of the job's stored log: the builder's upload
// when it made one in this attempt, else the tail (and final text) the farm
// has, written now. It returns "" when storage fails: the job still
// completes and its log is then the tail kept on the job.
func (s *Service) storeLog(ctx context.Context, job *farm.Job, final string) string {
	key := blobs.LogKey(job.ID)
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
