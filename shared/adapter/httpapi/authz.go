package httpapi

import (
	"net/http"
	"slices"

	"github.com/buildfarm/buildfarm/shared/auth"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// authorize authenticates the bearer token and checks the route's access
// rule: the role, and for builder tokens on /v1/builders/{name}/... that
// {name} is the token's own builder.
func (s *Server) authorize(r *http.Request, a access) (farm.Principal, error) {
	secret, err := auth.ParseBearer(r.Header.Get("Authorization"))
	if err != nil {
		return farm.Principal{}, err
	}
	p, err := s.auth.Authenticate(r.Context(), secret)
	if err != nil {
		return farm.Principal{}, err
	}
	if len(a.Roles) > 0 && !slices.Contains(a.Roles, p.Role) {
		return p, forbidden("a %s token may not call %s %s", p.Role, r.Method, r.Pattern)
	}
	if a.SelfBuilder && p.Role == farm.RoleBuilder && r.PathValue("name") != p.Builder {
		return p, forbidden("this token acts only as builder %s", p.Builder)
	}
	return p, nil
}

// mayManageJob reports whether p may cancel or retry job: an admin, or the
// submitter who asked for it.
func mayManageJob(p farm.Principal, job *farm.Job) error {
	if p.Role == farm.RoleAdmin || (p.Role == farm.RoleSubmitter && job.RequestedBy == p.Actor()) {
		return nil
	}
	return forbidden("job %s was submitted by %s; only they or an admin may change it", job.ID, job.RequestedBy)
}
