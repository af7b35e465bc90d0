package claims

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// UploadURLTTL is how long a presigned artifact or log upload lives.
const UploadURLTTL = 15 * time.Minute

// Upload kinds.
const (
	KindArtifact = "artifact"
	KindLog      = "log"
)

// UploadRequest asks for a presigned upload: an artifact of the current
// run (Kind artifact or "", with its Name), or the job's full log (Kind log).
type UploadRequest struct {
	ClaimToken string
	Kind       string
	Name       string
}

// Upload is a presigned upload of the object Key, named Name for the builder.
type Upload struct {
	Name string
	Key  string
	*blobs.Presigned
}

// UploadURL presigns an upload for the caller holding job id's claim: an
// artifact under artifacts/<id>/<run>/<name>, or the job's full log.
func (s *Service) UploadURL(ctx context.Context, by farm.Principal, id string, req UploadRequest) (*Upload, error) {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	var name, key string
	switch req.Kind {
	case "", KindArtifact:
		if err := farm.CheckArtifactName("name", req.Name); err != nil {
			return nil, err
		}
		name, key = req.Name, blobs.ArtifactKey(job.ID, job.Run, req.Name)
	case KindLog:
		name, key = job.ID+".log", blobs.LogKey(job.ID, job.Run)
	default:
		return nil, farm.FieldError("kind", "must be %s or %s, not %q", KindArtifact, KindLog, farm.Clip(req.Kind))
	}
	if _, err := claimHolder(by, job, req.ClaimToken); err != nil {
		return nil, err
	}
	pre, err := s.blobs.PresignPut(ctx, key, UploadURLTTL)
	if err != nil {
		return nil, err
	}
	return &Upload{Name: name, Key: key, Presigned: pre}, nil
}

// logUploadSlack is how long a claim's presigned log upload outlives the
// job's own timeout (uploads happen after the run).
const logUploadSlack = time.Hour

// maxPresignTTL is the longest a SigV4 presigned URL may live.
const maxPresignTTL = 7 * 24 * time.Hour

// logUpload presigns the upload of the claimed run's whole log, handed out
// with the claim so that a builder with a large log needs no further API
// call: signing is local (no storage call). Its key is fixed by the job
// and run. The URL lives through the job's timeout; a builder whose URL
// expired anyway (say, signed with short-lived credentials) asks for a new
// one (UploadURL, kind log). nil when it cannot be signed: the builder then
// asks the same way.
func (s *Service) logUpload(ctx context.Context, job *farm.Job) *Upload {
	if s.blobs == nil {
		return nil
	}
	ttl := min(time.Duration(job.TimeoutSeconds)*time.Second+logUploadSlack, maxPresignTTL)
	key := blobs.LogKey(job.ID, job.Run)
	pre, err := s.blobs.PresignPut(ctx, key, ttl)
	if err != nil {
		s.log.WarnContext(ctx, "no log upload URL for the claim", "job_id", job.ID, "err", err.Error())
		return nil
	}
	return &Upload{Name: job.ID + ".log", Key: key, Presigned: pre}
}
