package httpapi

import (
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/s3blobs"
)

// ArtifactDownloadTTL is how long a presigned artifact download lives.
const ArtifactDownloadTTL = 5 * time.Minute

// listArtifacts lists the artifacts the job keeps, of every run: by run,
// then name.
func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	job, err := s.job(r)
	if err != nil {
		return err
	}
	out := apiv1.ArtifactList{Artifacts: make([]apiv1.ArtifactInfo, 0, len(job.Artifacts))}
	for _, a := range job.Artifacts {
		out.Artifacts = append(out.Artifacts, artifactInfo(a))
	}
	slices.SortStableFunc(out.Artifacts, func(a, b apiv1.ArtifactInfo) int {
		if a.Attempt != b.Attempt {
			return a.Attempt - b.Attempt
		}
		return strings.Compare(a.Name, b.Name)
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

func artifactInfo(a farm.Artifact) apiv1.ArtifactInfo {
	return apiv1.ArtifactInfo{Name: a.Name, Size: a.Size, SHA256: a.SHA256, Attempt: a.Attempt}
}

// downloadArtifact answers a temporary redirect to a short-lived presigned
// download of the artifact (of the latest run that has one, or of
// ?attempt=N), pinned to the object version recorded at completion. With
// ?redirect=false it answers the download's URL as JSON instead, for pages
// that cannot send their token on a navigation.
func (s *Server) downloadArtifact(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "attempt", "redirect")
	if err != nil {
		return err
	}
	attempt, err := intParam(q, "attempt")
	if err != nil {
		return err
	}
	if attempt < 0 {
		return farm.FieldError("attempt", "must be a run number (1, 2, ...)")
	}
	redirect := true
	switch q["redirect"] {
	case "", "true":
	case "false":
		redirect = false
	default:
		return farm.FieldError("redirect", "must be true or false")
	}
	name := r.PathValue("name")
	if err := checkArtifactName("name", name); err != nil {
		return farm.Errorf(farm.ENotFound, "artifact %q not found", clip(name))
	}
	job, err := s.job(r)
	if err != nil {
		return err
	}
	a, ok := job.LatestArtifact(name, attempt)
	if !ok {
		if attempt > 0 {
			return farm.Errorf(farm.ENotFound, "job %s has no artifact %q from attempt %d", job.ID, name, attempt)
		}
		return farm.Errorf(farm.ENotFound, "job %s has no artifact %q", job.ID, name)
	}
	pre, err := s.blobs.PresignDownload(r.Context(), s3blobs.Download{Key: a.Key, VersionID: a.VersionID, Filename: path.Base(a.Name)}, ArtifactDownloadTTL)
	if err != nil {
		return err
	}
	if !redirect {
		writeJSON(w, http.StatusOK, apiv1.ArtifactDownload{ArtifactInfo: artifactInfo(a), URL: pre.URL, ExpiresAt: pre.ExpiresAt})
		return nil
	}
	http.Redirect(w, r, pre.URL, http.StatusTemporaryRedirect)
	return nil
}
