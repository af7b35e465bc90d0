package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// authorize authenticates the bearer token and checks the route's access
// rule: the role, and for builder tokens on /v1/builders/{name}/... that
// {name} is the token's own builder.
func (s *Server) authorize(r *http.Request, a access) (farm.Principal, error) {
	secret, err := ParseBearer(r.Header.Get("Authorization"))
	if err != nil {
		return farm.Principal{}, err
	}
	p, err := s.tokens.Authenticate(r.Context(), secret)
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

// ParseBearer extracts the token of an Authorization header
// ("Bearer <token>", the scheme case-insensitive).
func ParseBearer(header string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if header == "" {
		return "", farm.Errorf(farm.EUnauthorized, "an Authorization: Bearer <token> header is required")
	}
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", farm.Errorf(farm.EUnauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	return token, nil
}
