package httpapi

import (
	"net/http"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// claimHolder checks that the caller holds the claim on job under token,
// and returns the name of the builder it acts as. A builder token acts as
// its own builder; an admin acts as the job's builder and still needs the
// claim token. A stale claim (a token the job no longer has) is a
// conflict; the job's current claim token presented by another builder's
// token is that builder acting for another: forbidden.
func claimHolder(r *http.Request, job *farm.Job, token string) (string, error) {
	if token == "" {
		return "", farm.FieldError("claim_token", "is required")
	}
	p := principal(r.Context())
	builder := p.Builder
	if p.Role == farm.RoleAdmin {
		builder = job.Builder
	}
	if err := job.CheckClaim(token); err != nil {
		return "", err
	}
	if builder == "" || builder != job.Builder {
		return "", forbidden("job %s is held by builder %s; this token acts only as builder %s", job.ID, job.Builder, p.Builder)
	}
	return builder, nil
}
