package httpapi

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/s3blobs"
)

// UploadURLTTL is how long a presigned artifact or log upload lives.
const UploadURLTTL = 15 * time.Minute

// Artifact kinds of ArtifactURLRequest.
const (
	KindArtifact = "artifact"
	KindLog      = "log"
)

// artifactURL presigns an upload for the builder holding the job's claim:
// an artifact under artifacts/<id>/<run>/<name>, or the job's full log.
func (s *Server) artifactURL(w http.ResponseWriter, r *http.Request) error {
	job, err := s.job(r)
	if err != nil {
		return err
	}
	var req apiv1.ArtifactURLRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	var name, key string
	switch req.Kind {
	case "", KindArtifact:
		if err := checkArtifactName("name", req.Name); err != nil {
			return err
		}
		name, key = req.Name, s3blobs.ArtifactKey(job.ID, job.Run, req.Name)
	case KindLog:
		name, key = job.ID+".log", s3blobs.LogKey(job.ID)
	default:
		return farm.FieldError("kind", "must be %s or %s, not %q", KindArtifact, KindLog, clip(req.Kind))
	}
	if _, err := claimHolder(r, job, req.ClaimToken); err != nil {
		return err
	}
	pre, err := s.blobs.PresignPut(r.Context(), key, UploadURLTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.ArtifactURL{Name: name, Key: key, URL: pre.URL, Method: pre.Method, Headers: pre.Headers, ExpiresAt: pre.ExpiresAt})
	return nil
}

// MaxArtifactName bounds an artifact's name.
const MaxArtifactName = 512

var nameSegment = regexp.MustCompile(`^[A-Za-z0-9._+@=,~-]+$`)

// checkArtifactName accepts relative paths of plain segments: no empty, "."
// or ".." segment, no leading slash, nothing outside a conservative set of
// characters (they become S3 keys and file names on other machines).
func checkArtifactName(field, name string) error {
	if name == "" {
		return farm.FieldError(field, "is required")
	}
	if len(name) > MaxArtifactName {
		return farm.FieldError(field, "is longer than %d characters", MaxArtifactName)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." || !nameSegment.MatchString(seg) {
			return farm.FieldError(field, "%q is not a relative path of names made of letters, digits and ._+@=,~-", clip(name))
		}
	}
	return nil
}

// checkArtifactRefs validates the artifacts a completion lists.
func checkArtifactRefs(refs []apiv1.ArtifactRef) error {
	if len(refs) > MaxArtifacts {
		return farm.FieldError("artifacts", "at most %d artifacts", MaxArtifacts)
	}
	seen := map[string]bool{}
	for i, ref := range refs {
		field := fmt.Sprintf("artifacts[%d]", i)
		if err := checkArtifactName(field, ref.Name); err != nil {
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

// MaxArtifacts bounds the artifacts one job records.
const MaxArtifacts = 100
