package jobs

import (
	"context"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// MaxActorLength bounds the requested_by filter (actors are short:
// "submitter:<token id>", "builder:<name>").
const MaxActorLength = 200

// Get returns job id as by may see it (farm.Registry.AsSeenBy), with its
// start estimate when it is queued, and what it waits for when it waits.
func (s *Service) Get(ctx context.Context, by farm.Principal, id string) (*farm.Job, error) {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	s.fillWaitingFor(ctx, job)
	if job.Status == farm.StatusQueued && s.estimates != nil {
		// An estimate is a courtesy: without one the job is still worth showing.
		if err := s.estimates.EstimateStarts(ctx, []*farm.Job{job}); err != nil {
			s.log.WarnContext(ctx, "no start estimate", "job_id", job.ID, "err", err.Error())
		}
	}
	return s.Registry().AsSeenBy(by, job), nil
}

// List lists jobs newest first, as by may see them, the queued ones with
// their start estimates. The filter is validated and its limit defaulted
// (store.NormalizeFilter); a type or pool that cannot exist is EInvalid.
func (s *Service) List(ctx context.Context, by farm.Principal, f store.JobFilter) (*store.JobPage, error) {
	if len(f.RequestedBy) > MaxActorLength {
		return nil, farm.FieldError("requested_by", "is longer than %d characters", MaxActorLength)
	}
	if f.Type != "" {
		if _, err := s.Registry().Lookup(f.Type); err != nil {
			return nil, err
		}
	}
	if f.Pool != "" {
		if err := farm.CheckName("pool", f.Pool); err != nil {
			return nil, err
		}
	}
	f, err := store.NormalizeFilter(f)
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &store.JobPage{Jobs: page.Jobs, NextCursor: page.NextCursor}
	if out.Jobs == nil {
		out.Jobs = []*farm.Job{}
	}
	if s.estimates != nil {
		// Estimates are a courtesy: without them the jobs are still worth showing.
		if err := s.estimates.EstimateStarts(ctx, out.Jobs); err != nil {
			s.log.WarnContext(ctx, "no start estimates", "err", err.Error())
		}
	}
	for i, j := range out.Jobs {
		out.Jobs[i] = s.Registry().AsSeenBy(by, j)
	}
	return out, nil
}

// Events lists job id's history, oldest first.
func (s *Service) Events(ctx context.Context, id string) ([]farm.JobEvent, error) {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	events, err := s.store.JobEvents(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	if events == nil {
		events = []farm.JobEvent{}
	}
	return events, nil
}

// MaxLogBody is the largest stored log handed out as a body; a larger one
// is a short-lived presigned download (Lambda answers are limited to 6 MB).
const MaxLogBody = 4 << 20

// LogRedirectTTL is how long the presigned download of a large log lives.
const LogRedirectTTL = 5 * time.Minute

// Log is a job's log as a reader gets it: exactly one of Body (the stored
// log, Size bytes; the reader closes it), DownloadURL (a stored log too
// large to send, to download from there) or Tail (the log kept in the
// job's item or its heartbeats' chunks).
type Log struct {
	Body        io.ReadCloser
	Size        int64
	DownloadURL string
	Tail        string
}

// LiveLogChunks bounds the chunks a live log read gathers (the answer is
// then bounded to farm.MaxLogTail bytes, its end).
const LiveLogChunks = 64

// Log returns job id's log. A finished job's is its stored log: the one
// its builder uploaded, or the one its completion carried whole (inline in
// the job's item). Otherwise — while the job runs, or when its builder
// stored no whole log — it is the end of what the heartbeats carried (the
// run's log chunks) followed by what the completion carried.
func (s *Service) Log(ctx context.Context, id string) (*Log, error) {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if job.Status.Terminal() && job.LogKey != "" {
		stored, err := s.storedLog(ctx, job)
		if stored != nil || err != nil {
			return stored, err
		}
	}
	if job.Status.Terminal() && job.LogComplete {
		return &Log{Tail: job.LogInline}, nil
	}
	text := job.LogTail
	if job.Run > 0 {
		chunks, err := s.store.LogChunks(ctx, job.ID, job.Run, LiveLogChunks)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		b.WriteString(text)
		for _, c := range chunks {
			b.WriteString(c.Text)
		}
		text = b.String()
	}
	return &Log{Tail: farm.LogEnd(text+job.LogInline, farm.MaxLogTail)}, nil
}

// storedLog opens the stored log of a finished job; nil when there is none
// after all (the tail is answered instead).
func (s *Service) storedLog(ctx context.Context, job *farm.Job) (*Log, error) {
	body, obj, err := s.blobs.Get(ctx, job.LogKey)
	if farm.IsCode(err, farm.ENotFound) {
		s.log.WarnContext(ctx, "stored log missing; answering the tail", "job_id", job.ID, "key", job.LogKey)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if obj.Size > MaxLogBody {
		body.Close()
		pre, err := s.blobs.PresignGet(ctx, job.LogKey, LogRedirectTTL)
		if err != nil {
			return nil, err
		}
		return &Log{DownloadURL: pre.URL}, nil
	}
	return &Log{Body: body, Size: obj.Size}, nil
}

// Artifacts lists the artifacts job id keeps, of every run: by run, then name.
func (s *Service) Artifacts(ctx context.Context, id string) ([]farm.Artifact, error) {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(job.Artifacts)
	if out == nil {
		out = []farm.Artifact{}
	}
	slices.SortStableFunc(out, func(a, b farm.Artifact) int {
		if a.Attempt != b.Attempt {
			return a.Attempt - b.Attempt
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// ArtifactDownloadTTL is how long a presigned artifact download lives.
const ArtifactDownloadTTL = 5 * time.Minute

// ArtifactDownload presigns a short-lived download of artifact name of job
// id — of the latest run that has one, or of run attempt (> 0) — pinned to
// the object version recorded at completion. A name that cannot name an
// artifact is ENotFound, like an unknown one.
func (s *Service) ArtifactDownload(ctx context.Context, id, name string, attempt int) (farm.Artifact, *blobs.Presigned, error) {
	if err := farm.CheckArtifactName("name", name); err != nil {
		return farm.Artifact{}, nil, farm.Errorf(farm.ENotFound, "artifact %q not found", farm.Clip(name))
	}
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return farm.Artifact{}, nil, err
	}
	a, ok := job.LatestArtifact(name, attempt)
	if !ok {
		if attempt > 0 {
			return farm.Artifact{}, nil, farm.Errorf(farm.ENotFound, "job %s has no artifact %q from attempt %d", job.ID, name, attempt)
		}
		return farm.Artifact{}, nil, farm.Errorf(farm.ENotFound, "job %s has no artifact %q", job.ID, name)
	}
	pre, err := s.blobs.PresignDownload(ctx, blobs.Download{Key: a.Key, VersionID: a.VersionID, Filename: path.Base(a.Name)}, ArtifactDownloadTTL)
	if err != nil {
		return farm.Artifact{}, nil, err
	}
	return a, pre, nil
}
