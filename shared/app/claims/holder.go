package claims

import (
	"github.com/buildfarm/buildfarm/shared/farm"
)

// claimHolder checks that by holds the claim on job under token, and
// returns the name of the builder it acts as. A builder token acts as its
// own builder; an admin acts as the job's builder and still needs the
// claim token. A stale claim (a token the job no longer has) is a
// conflict; the job's current claim token presented by another builder's
// token is that builder acting for another: forbidden.
func claimHolder(by farm.Principal, job *farm.Job, token string) (string, error) {
	if token == "" {
		return "", farm.FieldError("claim_token", "is required")
	}
	builder := by.Builder
	if by.Role == farm.RoleAdmin {
		builder = job.Builder
	}
	if err := job.CheckClaim(token); err != nil {
		return "", err
	}
	if builder == "" || builder != job.Builder {
		return "", farm.Errorf(farm.EForbidden, "job %s is held by builder %s; this token acts only as builder %s", job.ID, job.Builder, by.Builder)
	}
	return builder, nil
}
