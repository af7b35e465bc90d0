package claims

import (
	"context"
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Report is a builder's result for a job it ran, as it reports it.
type Report struct {
	ClaimToken string
	// Version and Run are the job's as the builder last learnt them (its
	// claim answer, or a later heartbeat's answer; 0: not given): the
	// completion is then one write, conditional on them, and no read.
	Version int64
	Run     int
	// Result is succeeded or failed (cancelled for a job being cancelled).
	Result   string
	Error    string
	ExitCode *int
	// Artifacts name what the run uploaded (artifacts/<id>/<run>/<name>).
	Artifacts []ArtifactRef
	// Log is log text the completion carries: the whole log when
	// LogComplete (at most farm.MaxInlineLog bytes), else the end of the
	// log that no heartbeat carried.
	Log         string
	LogComplete bool
	// LogUploaded says the builder PUT the run's whole log (LogSize bytes)
	// to the presigned URL its claim answer carried (blobs.LogKey).
	LogUploaded bool
	LogSize     int64
}

// ArtifactRef names an uploaded artifact as the builder reports it: its
// size, its SHA-256 and the object version the upload created, when known.
type ArtifactRef struct {
	Name      string
	SHA256    string
	Size      int64
	VersionID string
}

// Completion limits.
const (
	// MaxErrorText bounds the error a builder reports; longer ones are cut.
	MaxErrorText = 4096
	// MaxArtifacts bounds the artifacts one run records.
	MaxArtifacts = 100
)

// Complete records the result of the run by holds the claim of, and no
// object storage call: the log is stored inline by the write (small) or
// was uploaded by the builder through its claim's presigned URL (large),
// and the artifacts are the ones the builder declares (see
// declaredArtifacts for what holds against a hostile builder). A report
// that carries the job's version and run as the builder knows them is one
// conditional write and no read (completeAsPresumed); one that does not,
// or whose presumption no longer holds, is decided from the job as read
// (or as the failed write found it): one read and one conditional write.
// The job comes back as by may see it.
func (s *Service) Complete(ctx context.Context, by farm.Principal, id string, r Report) (*farm.Job, error) {
	if err := checkReport(r); err != nil {
		return nil, err
	}
	if written := s.writtenPresumed(by, id, r); written != nil {
		done, err := s.record(ctx, by.Builder, written, s.completion(id, written.Run, r))
		if err != nil {
			return nil, err
		}
		return s.registry.AsSeenBy(by, done), nil
	}
	job, done, err := s.completeAsPresumed(ctx, by, id, r)
	if err != nil {
		return nil, err
	}
	if done != nil {
		return s.registry.AsSeenBy(by, done), nil
	}
	if job == nil {
		if job, err = s.store.GetJob(ctx, id); err != nil {
			return nil, err
		}
	}
	if done, ok := s.recorded(by, job, r); ok {
		return s.registry.AsSeenBy(by, done), nil
	}
	builder, err := claimHolder(by, job, r.ClaimToken)
	if err != nil {
		return nil, err
	}
	done, err = s.record(ctx, builder, job, s.completion(job.ID, job.Run, r))
	if err != nil {
		return nil, err
	}
	return s.registry.AsSeenBy(by, done), nil
}

// completeAsPresumed records r with one conditional write and no read
// when r says what its builder knows of the job (the version and run its
// claim or heartbeat answer gave): the completion as a patch of that job
// (farm.CompleteAsPresumed). done is the job as written (or as its own
// earlier write left it: a retry whose answer was lost); job, when done
// is nil, is the job as the write found it not as presumed (a heartbeat or
// a cancel came between), for the caller to decide from; both nil: r
// presumes nothing, or nothing this path writes (an admin acting for a
// builder, a cancelled result: only a job being cancelled takes one).
func (s *Service) completeAsPresumed(ctx context.Context, by farm.Principal, id string, r Report) (job, done *farm.Job, err error) {
	p, ok := presumption(by, r)
	if !ok {
		return nil, nil, nil
	}
	patch, err := farm.CompleteAsPresumed(id, by.Builder, p, s.completion(id, p.Run, r), s.jobs.Now())
	if err != nil {
		return nil, nil, err
	}
	done, err = s.jobs.Complete(ctx, s.store, patch)
	if err == nil {
		s.after(ctx, by.Builder, done)
		return nil, done, nil
	}
	if cur := store.CurrentJob(err); cur != nil {
		return cur, nil, nil
	}
	return nil, nil, err
}

// presumption is what report r presumes of its job, when it presumes
// something a completion without a read may take: a builder's own report
// with its claim's version and run, of a result other than cancelled
// (only a job being cancelled takes one).
func presumption(by farm.Principal, r Report) (farm.Presumed, bool) {
	p := farm.Presumed{ClaimToken: r.ClaimToken, Version: r.Version, Run: r.Run}
	ok := by.Role == farm.RoleBuilder && by.Builder != "" && p.Known() && farm.JobStatus(r.Result) != farm.StatusCancelled
	return p, ok
}

// writtenPresumed is the job report r presumes, as this process wrote it
// (writtenJobs); nil when r presumes nothing or another version.
func (s *Service) writtenPresumed(by farm.Principal, id string, r Report) *farm.Job {
	p, ok := presumption(by, r)
	if !ok {
		return nil
	}
	return s.written.take(id, by.Builder, p)
}

// completion is what report r records of run of job id.
func (s *Service) completion(id string, run int, r Report) farm.Completion {
	c := farm.Completion{
		ClaimToken:  r.ClaimToken,
		Result:      farm.JobStatus(r.Result),
		Error:       truncate(r.Error, MaxErrorText),
		ExitCode:    r.ExitCode,
		Artifacts:   declaredArtifacts(s.bucket(), id, run, r.Artifacts),
		LogInline:   farm.LogEnd(r.Log, farm.MaxInlineLog),
		LogComplete: r.LogComplete,
	}
	if r.LogUploaded {
		// Whatever text comes with it stays too: the log read falls back
		// to it should the upload be missing after all.
		c.LogKey = blobs.LogKey(id, run)
	}
	return c
}

// checkReport validates what a completion reports before anything is read.
func checkReport(r Report) error {
	switch farm.JobStatus(r.Result) {
	case farm.StatusSucceeded, farm.StatusFailed, farm.StatusCancelled:
	case "":
		return farm.FieldError("result", "is required (succeeded or failed)")
	default:
		return farm.FieldError("result", "must be succeeded or failed, not %q", farm.Clip(r.Result))
	}
	if r.LogComplete && r.LogUploaded {
		return farm.FieldError("log_complete", "a log is either carried whole or uploaded, not both")
	}
	if r.LogComplete && len(r.Log) > farm.MaxInlineLog {
		return farm.FieldError("log", "a whole log over %d bytes is uploaded through the claim's log_upload URL, not carried", farm.MaxInlineLog)
	}
	if r.LogSize < 0 {
		return farm.FieldError("log_size", "must not be negative")
	}
	if r.Version < 0 {
		return farm.FieldError("version", "must not be negative")
	}
	if r.Run < 0 {
		return farm.FieldError("run", "must not be negative")
	}
	return checkArtifactRefs(r.Artifacts)
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
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.record(ctx, builder, job, c)
}

// record writes builder's result over job as read: one conditional write
// of the domain's next image. Only when that write loses a race (the job
// changed since it was read: a heartbeat, a cancel) is the result decided
// anew, from the job as the failed write's own answer shows it (read again
// only when the store gives none) — a job being cancelled ends as the
// domain says (a second write), a result already recorded by this claim is
// success, anything else a conflict.
func (s *Service) record(ctx context.Context, builder string, job *farm.Job, c farm.Completion) (*farm.Job, error) {
	var done *farm.Job
	var lost error // the last write's lost race
	err := store.RetryOnConflict(ctx, func() error {
		if lost != nil {
			// Decide again from the job the failed write found stored,
			// given in that write's answer; read it only when not.
			if cur := store.CurrentJob(lost); cur != nil {
				job = cur
			} else if cur, err := s.store.GetJob(ctx, job.ID); err != nil {
				return err
			} else {
				job = cur
			}
		}
		if job.Builder != builder && job.Status.Active() {
			return farm.Errorf(farm.EConflict, "job %s is held by another builder", job.ID)
		}
		if job.Recorded(builder, c) {
			done = job // recorded already: this is a retry
			return nil
		}
		next, ev, err := job.Complete(builder, c, s.jobs.Now())
		if err != nil {
			return err
		}
		if lost = s.jobs.Write(ctx, job, next, ev); lost != nil {
			return lost
		}
		done = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.after(ctx, builder, done)
	return done, nil
}

// after is what follows a job's completion by builder, however written.
func (s *Service) after(ctx context.Context, builder string, done *farm.Job) {
	id := done.ID
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
		if ref.Size < 0 {
			return farm.FieldError(field+".size", "must not be negative")
		}
		if len(ref.VersionID) > 1024 {
			return farm.FieldError(field+".version_id", "is longer than 1024 characters")
		}
		if seen[ref.Name] {
			return farm.FieldError(field, "%q is listed twice", ref.Name)
		}
		seen[ref.Name] = true
	}
	return nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// declaredArtifacts records the artifacts a builder declares for the
// job's current run, as it declares them (size, SHA-256, object version):
// the farm does not look them up. What holds against a hostile builder:
// the object keys are the farm's (artifacts/<job id>/<run>/<name>, from a
// checked name), so a declaration can only ever point into the job's own
// run, whose uploads only the claim's holder could presign; the worst a
// lying builder does is list an object it never uploaded (its download is
// then a 404 from storage) or misstate a size or hash of content it made
// itself anyway. It can neither reach another job's objects nor make the
// farm read anything.
func declaredArtifacts(bucket, id string, run int, refs []ArtifactRef) []farm.Artifact {
	if refs == nil {
		return nil
	}
	out := make([]farm.Artifact, len(refs))
	for i, ref := range refs {
		out[i] = farm.Artifact{Name: ref.Name, Bucket: bucket, Key: blobs.ArtifactKey(id, run, ref.Name),
			Size: ref.Size, SHA256: ref.SHA256, Attempt: run, VersionID: ref.VersionID}
	}
	return out
}

func (s *Service) bucket() string {
	if s.blobs == nil {
		return ""
	}
	return s.blobs.Bucket()
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
