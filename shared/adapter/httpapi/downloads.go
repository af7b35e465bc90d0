package httpapi

import (
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// listArtifacts lists the artifacts the job keeps, of every run: by run,
// then name.
func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	artifacts, err := s.jobs.Artifacts(r.Context(), id)
	if err != nil {
		return err
	}
	out := apiv1.ArtifactList{Artifacts: make([]apiv1.ArtifactInfo, 0, len(artifacts))}
	for _, a := range artifacts {
		out.Artifacts = append(out.Artifacts, artifactInfo(a))
	}
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
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	a, pre, err := s.jobs.ArtifactDownload(r.Context(), id, r.PathValue("name"), attempt)
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
