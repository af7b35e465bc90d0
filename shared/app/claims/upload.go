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
		name, key = job.ID+".log", blobs.LogKey(job.ID)
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
